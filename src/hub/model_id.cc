#include "hub/model_id.h"

#include <algorithm>
#include <cctype>

namespace snapformer::hub {
namespace {

// The hub's repo names: letters, digits, '-', '_', '.', at most 96 characters,
// neither starting nor ending with '-' or '.', and no "--" or "..".
bool valid_name_part(const std::string& part) {
  if (part.empty() || part.size() > 96) return false;
  if (part.front() == '-' || part.front() == '.' || part.back() == '-' || part.back() == '.') return false;
  if (part.find("--") != std::string::npos || part.find("..") != std::string::npos) return false;
  return std::all_of(part.begin(), part.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '-' || c == '_' || c == '.';
  });
}

// Branch and tag names as git allows them, limited to what URLs and file
// names take without escaping (plus '/', which refs keep as folders).
bool valid_revision(const std::string& revision) {
  if (revision.empty() || revision.size() > 255 || revision.front() == '/' || revision.back() == '/') return false;
  if (revision.find("..") != std::string::npos || revision.find("//") != std::string::npos) return false;
  return std::all_of(revision.begin(), revision.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '/';
  });
}

}  // namespace

std::string ModelId::cache_folder_name() const {
  std::string name = "models--" + repo;
  for (std::size_t at = name.find('/'); at != std::string::npos; at = name.find('/', at + 2)) name.replace(at, 1, "--");
  return name;
}

std::string ModelId::short_name() const { return repo.substr(repo.find('/') + 1); }

bool ModelId::revision_is_commit() const {
  return revision.size() == 40 &&
         std::all_of(revision.begin(), revision.end(), [](unsigned char c) { return std::isxdigit(c) && !std::isupper(c); });
}

std::optional<ModelId> parse_model_id(const std::string& text) {
  ModelId id;
  id.repo = text;
  if (const auto at = text.find('@'); at != std::string::npos) {
    id.repo = text.substr(0, at);
    id.revision = text.substr(at + 1);
    if (!valid_revision(id.revision)) return std::nullopt;
  }
  const auto slash = id.repo.find('/');
  if (slash == std::string::npos) {
    if (!valid_name_part(id.repo)) return std::nullopt;
  } else if (!valid_name_part(id.repo.substr(0, slash)) || !valid_name_part(id.repo.substr(slash + 1))) {
    return std::nullopt;  // also rejects a second '/'
  }
  return id;
}

}  // namespace snapformer::hub
