// From what a user types after --model to a folder on disk: a folder as it
// is, or a Hugging Face hub model id resolved through the hub cache
// (downloading the files the runtime needs when they are not there yet).
#pragma once

#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <string>
#include <vector>

#include "hub/hub_settings.h"
#include "hub/model_id.h"

namespace snapformer::hub {

struct PullOptions {
  bool progress_bar = false;     // a progress line per file on standard error
  std::ostream* log = nullptr;   // one line per file fetched or found, when set
  int max_attempts = 5;          // per file; each retry resumes where the last broke off
};

struct PullResult {
  std::filesystem::path snapshot;  // snapshots/<commit>: a loadable model folder
  std::string commit;
  std::vector<std::string> files;  // what the snapshot holds for the runtime
  int64_t bytes_downloaded = 0;
};

// Downloads what the runtime needs of `id` into the cache: config.json, the
// tokenizer files, generation_config.json, sentence-transformers pooling, and
// model.safetensors or model.safetensors.index.json with its shards. Files
// already in the cache are not fetched again. Each download is checked
// against its size and ETag (sha256 for LFS files, git sha1 otherwise);
// partial files are resumed. Throws Error naming the model, file and HTTP
// status (401 gated or private, 403, 404 repo / revision / file) or the
// network failure; HF_HUB_OFFLINE is an error here.
PullResult pull_model(const ModelId& id, const HubSettings& settings, const PullOptions& options = {});

// A directory `spec`, or a `spec` that cannot be a model id (a path such as
// "/x/y" or "./x"), as it is; else `spec` as a model id: the cached snapshot
// of its revision when complete (no network, so starts stay fast), else
// pull_model (unless HF_HUB_OFFLINE). Throws Error saying both what the
// folder lookup and what the hub said.
std::filesystem::path resolve_model_folder(const std::string& spec, const HubSettings& settings,
                                           const PullOptions& options = {});

}  // namespace snapformer::hub
