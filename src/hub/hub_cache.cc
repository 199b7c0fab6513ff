#include "hub/hub_cache.h"

#include <fstream>

#include "util/error.h"
#include "util/json_file.h"

namespace snapformer::hub {

namespace fs = std::filesystem;

std::set<std::string> safetensors_shard_names(const fs::path& index) {
  std::set<std::string> names;
  const Json json = read_json_file(index.string());
  if (!json.is_object() || !json.contains("weight_map") || !json["weight_map"].is_object())
    throw Error(index.string() + ": no 'weight_map' object");
  for (const auto& [tensor, file] : json["weight_map"].items())
    if (file.is_string()) names.insert(file.get<std::string>());
  return names;
}

HubCache::HubCache(fs::path root, ModelId id) : root_(std::move(root)), id_(std::move(id)) {}

fs::path HubCache::lock_path(const std::string& etag) const {
  return root_ / ".locks" / id_.cache_folder_name() / (etag + ".lock");
}

std::optional<std::string> HubCache::resolve_commit() const {
  if (id_.revision_is_commit()) return id_.revision;
  std::ifstream in(repo_folder() / "refs" / id_.revision);
  std::string commit;
  if (!in || !std::getline(in, commit)) return std::nullopt;
  while (!commit.empty() && (commit.back() == '\n' || commit.back() == '\r' || commit.back() == ' ')) commit.pop_back();
  if (commit.empty()) return std::nullopt;
  return commit;
}

void HubCache::write_ref(const std::string& commit) const {
  if (id_.revision == commit) return;
  const fs::path ref = repo_folder() / "refs" / id_.revision;
  fs::create_directories(ref.parent_path());
  const fs::path temporary = ref.string() + ".tmp";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out << commit;  // huggingface_hub writes the hash without a newline
    if (!out) throw Error(ref.string() + ": cannot write the revision's commit");
  }
  fs::rename(temporary, ref);
}

void HubCache::link_snapshot_file(const std::string& commit, const std::string& filename, const std::string& etag) const {
  const fs::path pointer = snapshot_folder(commit) / filename;
  fs::create_directories(pointer.parent_path());
  const fs::path target = fs::relative(blob_path(etag), pointer.parent_path());
  std::error_code error;
  if (fs::is_symlink(fs::symlink_status(pointer, error))) {
    if (fs::read_symlink(pointer, error) == target) return;
    fs::remove(pointer);
  }
  fs::create_symlink(target, pointer, error);
  if (error && error != std::errc::file_exists)
    throw Error(pointer.string() + ": cannot link to its blob: " + error.message());
}

bool holds_loadable_model(const fs::path& folder) {
  if (!fs::exists(folder / "config.json")) return false;
  if (fs::exists(folder / "model.safetensors")) return true;
  const fs::path index = folder / "model.safetensors.index.json";
  if (!fs::exists(index)) return false;
  try {
    for (const std::string& shard : safetensors_shard_names(index))
      if (!fs::exists(folder / shard)) return false;
  } catch (const Error&) {
    return false;
  }
  return true;
}

std::optional<fs::path> HubCache::complete_snapshot() const {
  const auto commit = resolve_commit();
  if (!commit) return std::nullopt;
  const fs::path folder = snapshot_folder(*commit);
  if (!holds_loadable_model(folder)) return std::nullopt;
  return folder;
}

}  // namespace snapformer::hub
