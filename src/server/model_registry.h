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

 private:
  std::vector<ServedModel> models_;
};

}  // namespace snapformer
