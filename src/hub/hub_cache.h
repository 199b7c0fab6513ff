// HubCache: the Hugging Face hub cache on disk, laid out exactly as
// huggingface_hub lays it out, so Python and snapformer share one cache:
//
//   <cache>/models--org--name/
//     refs/<revision>                 the commit a branch or tag pointed to (no newline)
//     blobs/<etag>                    file contents, named by sha256 (LFS) or git sha1
//     blobs/<etag>.incomplete         a download in progress (resumed from its size)
//     snapshots/<commit>/<filename>   relative symlink to ../../blobs/<etag>
//   <cache>/.locks/models--org--name/<etag>.lock   flock()ed while a blob downloads
//
// Thread-safety: none of its own; concurrent processes are kept apart by the
// blob locks (the same files huggingface_hub's filelock takes).
#pragma once

#include <filesystem>
#include <optional>
#include <set>
#include <string>

#include "hub/model_id.h"

namespace snapformer::hub {

class HubCache {
 public:
  HubCache(std::filesystem::path root, ModelId id);

  const ModelId& id() const { return id_; }
  std::filesystem::path repo_folder() const { return root_ / id_.cache_folder_name(); }
  std::filesystem::path blob_path(const std::string& etag) const { return repo_folder() / "blobs" / etag; }
  std::filesystem::path lock_path(const std::string& etag) const;
  std::filesystem::path snapshot_folder(const std::string& commit) const { return repo_folder() / "snapshots" / commit; }

  // The commit the id's revision names: the revision itself when it is a
  // commit hash, else the content of refs/<revision>; nullopt when unknown.
  std::optional<std::string> resolve_commit() const;
  // Records that `revision` pointed to `commit` (refs/<revision>); no-op for commit hashes.
  void write_ref(const std::string& commit) const;
  // Makes snapshots/<commit>/<filename> a relative symlink to blobs/<etag>.
  void link_snapshot_file(const std::string& commit, const std::string& filename, const std::string& etag) const;

  // The snapshot folder of the id's revision if it holds a loadable model:
  // config.json and either model.safetensors or model.safetensors.index.json
  // with every shard it names. nullopt otherwise.
  std::optional<std::filesystem::path> complete_snapshot() const;

 private:
  std::filesystem::path root_;
  ModelId id_;
};

// True when `folder` holds config.json and all of its safetensors weights.
bool holds_loadable_model(const std::filesystem::path& folder);

// The shard file names a model.safetensors.index.json names (its weight_map's
// values); throws Error naming the file when it has no weight_map.
std::set<std::string> safetensors_shard_names(const std::filesystem::path& index);

}  // namespace snapformer::hub
