// ModelRegistry: the model folders a server serves, by name.
//
// Thread-safety: filled before the server starts, then read-only.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "tasks/pipeline.h"

namespace snapformer {

struct ServedModel {
  std::string name;
  std::shared_ptr<const Pipeline> pipeline;
};

class ModelRegistry {
 public:
  // Loads DIR under NAME ("NAME=DIR", or the folder's last path component).
  void load(const std::string& spec, const LoadOptions& options = {});
  const std::vector<ServedModel>& models() const { return models_; }
  // nullptr if no model has that name.
  const ServedModel* find(const std::string& name) const;
  // The first model that supports `task`, or nullptr.
  const ServedModel* first_supporting(Task task) const;
  // Identifies what the served models compute, for cache keys shared between
  // replicas: snapformer's version and, per model, its name, precision and
  // the sizes and sampled bytes (first 1 MB, last 64 KB) of every file in its
  // folder. Equal on replicas serving the same folders; different when a
  // model file changes in size, header or sampled bytes.
  std::string fingerprint() const;

 private:
  std::vector<ServedModel> models_;
};

}  // namespace snapformer
