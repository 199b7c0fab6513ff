#include "server/model_registry.h"

#include <filesystem>

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
