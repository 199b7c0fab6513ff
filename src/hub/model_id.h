// ModelId: a Hugging Face hub model reference, "name", "org/name" or
// "org/name@revision" (a branch, a tag or a 40-hex commit; "main" when absent).
#pragma once

#include <optional>
#include <string>

namespace snapformer::hub {

struct ModelId {
  std::string repo;              // "org/name" or "name"
  std::string revision = "main"; // branch, tag or commit hash

  // The cache folder's name, as huggingface_hub spells it: "models--org--name".
  std::string cache_folder_name() const;
  // The name a server serves it under: the repo's last component ("name").
  std::string short_name() const;
  bool revision_is_commit() const;
};

// Parses a model id, or returns nullopt when `text` cannot be one (empty parts,
// more than one '/', characters the hub does not allow, "..", a leading '/' or '.').
// Callers decide between a folder and an id: an existing directory always wins.
std::optional<ModelId> parse_model_id(const std::string& text);

}  // namespace snapformer::hub
