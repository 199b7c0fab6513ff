#include "io/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "util/error.h"

namespace snapformer {

namespace {

constexpr std::size_t kHugePage = 2u << 20;

// Maps the file at an address aligned to 2 MB and advises huge pages. The
// kernel maps a file with 2 MB page-table entries only where the virtual
// address, the file offset and the page-cache folio are all 2 MB-aligned, so
// the alignment is what lets one fault map 2 MB instead of 4-64 KB. The advice
// also makes readahead fill a cold page cache with 2 MB folios. Both are hints:
// where the kernel cannot honour them the mapping works with small pages.
void* map_huge_page_aligned(int fd, std::size_t size) {
  if (size < kHugePage) return ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  // Reserve size + 2 MB of address space, map the file over its first aligned
  // address, and give back the slack on both sides.
  void* reserved = ::mmap(nullptr, size + kHugePage, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (reserved == MAP_FAILED) return ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  const auto start = reinterpret_cast<std::uintptr_t>(reserved);
  const auto aligned = (start + kHugePage - 1) & ~(kHugePage - 1);
  void* mapping = ::mmap(reinterpret_cast<void*>(aligned), size, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 0);
  if (mapping == MAP_FAILED) {
    ::munmap(reserved, size + kHugePage);
    return MAP_FAILED;
  }
  const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto mapped_end = (aligned + size + page - 1) & ~(page - 1);
  if (aligned > start) ::munmap(reserved, aligned - start);
  if (start + size + kHugePage > mapped_end) ::munmap(reinterpret_cast<void*>(mapped_end), start + size + kHugePage - mapped_end);
  (void)::madvise(mapping, size, MADV_HUGEPAGE);
  return mapping;
}

}  // namespace

MappedFile::MappedFile(const std::string& path) : path_(path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(path + ": cannot open: " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int saved = errno;
    ::close(fd);
    throw Error(path + ": cannot stat: " + std::strerror(saved));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(path + ": not a regular file");
  }
  size_ = static_cast<std::size_t>(st.st_size);
  if (size_ > 0) {
    void* mapping = map_huge_page_aligned(fd, size_);
    if (mapping == MAP_FAILED) {
      const int saved = errno;
      ::close(fd);
      throw Error(path + ": cannot map: " + std::strerror(saved));
    }
    data_ = static_cast<const std::uint8_t*>(mapping);
  }
  ::close(fd);  // the mapping keeps the file alive
}

MappedFile::~MappedFile() {
  if (data_ != nullptr) ::munmap(const_cast<std::uint8_t*>(data_), size_);
}

}  // namespace snapformer
