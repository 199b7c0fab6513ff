// MappedFile: a read-only memory mapping of a whole file (RAII).
//
// Ownership: the mapping lives as long as the MappedFile; views into it must
// not outlive it. Thread-safety: immutable after construction, safe to share.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace snapformer {

class MappedFile {
 public:
  // Maps `path` read-only. Throws Error naming the path if it cannot be opened
  // or mapped. Symbolic links are followed (the Hugging Face cache uses them).
  // Files of 2 MB or more are mapped 2 MB-aligned with huge pages advised, so
  // that a page cache holding the file in 2 MB folios is mapped 2 MB a fault
  // (see io/page_cache.h).
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::uint8_t* data() const { return data_; }
  std::size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  const std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace snapformer
