// Digests the hub names its files by, to check a download against its ETag.
#pragma once

#include <filesystem>
#include <string>

namespace snapformer::hub {

// Lower-case hex SHA-256 of a file's bytes (the ETag of LFS files).
std::string sha256_of_file(const std::filesystem::path& path);
// Lower-case hex git blob id: SHA-1 of "blob <size>\0" + bytes (the ETag of
// files stored in git itself: configs, tokenizers).
std::string git_blob_sha1_of_file(const std::filesystem::path& path);

}  // namespace snapformer::hub
