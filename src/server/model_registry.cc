#include "server/model_registry.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "util/error.h"

namespace snapformer {

void ModelRegistry::load(const std::string& spec, const LoadOptions& options) {
  std::string name, directory = spec;
  const auto equals = spec.find('=');
  if (equals != std::string::npos) {
    name = spec.substr(0, equals);
    directory = spec.substr(equals + 1);
  }
  if (name.empty()) name = std::filesystem::path(directory).lexically_normal().filename().string();
  if (name.empty()) name = std::filesystem::path(directory).lexically_normal().parent_path().filename().string();
  if (find(name) != nullptr) throw Error("two models are named '" + name + "' (use --model NAME=DIR)");
  models_.push_back({name, Pipeline::load(directory, /*tokenizer_only=*/false, options)});
}

namespace {

std::uint64_t fnv1a(std::uint64_t hash, const char* data, std::size_t size) {
  for (std::size_t i = 0; i < size; ++i) hash = (hash ^ static_cast<unsigned char>(data[i])) * 1099511628211ull;
  return hash;
}

std::uint64_t hash_file_samples(std::uint64_t hash, const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  const auto size = static_cast<std::size_t>(std::filesystem::file_size(path));
  const std::string size_text = std::to_string(size);
  hash = fnv1a(hash, size_text.data(), size_text.size());
  std::string buffer(std::min<std::size_t>(size, 1 << 20), '\0');
  in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
  hash = fnv1a(hash, buffer.data(), buffer.size());
  if (size > buffer.size()) {
    buffer.resize(std::min<std::size_t>(size - buffer.size(), 64 << 10));
    in.seekg(static_cast<std::streamoff>(size - buffer.size()));
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    hash = fnv1a(hash, buffer.data(), buffer.size());
  }
  return hash;
}

}  // namespace

std::string ModelRegistry::fingerprint() const {
  std::uint64_t hash = 1469598103934665603ull;
  const std::string version = "snapformer 0.1.0";
  hash = fnv1a(hash, version.data(), version.size());
  for (const ServedModel& model : models_) {
    const std::string header = model.name + "|" + ops::precision_name(model.pipeline->precision()) + "|";
    hash = fnv1a(hash, header.data(), header.size());
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(model.pipeline->directory()))
      if (entry.is_regular_file()) files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    for (const auto& file : files) {
      const std::string name = file.filename().string();
      hash = fnv1a(hash, name.data(), name.size());
      hash = hash_file_samples(hash, file);
    }
  }
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(hash));
  return text;
}

const ServedModel* ModelRegistry::find(const std::string& name) const {
  for (const ServedModel& m : models_)
    if (m.name == name) return &m;
  return nullptr;
}

const ServedModel* ModelRegistry::first_supporting(Task task) const {
  for (const ServedModel& m : models_)
    if (m.pipeline->supports(task)) return &m;
  return nullptr;
}

}  // namespace snapformer
