#include "io/page_cache.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "io/mapped_file.h"
#include "util/error.h"

namespace snapformer {

namespace {

// Maps every page of the mapping (MADV_POPULATE_READ, Linux 5.14; touching
// one byte a page where it is missing).
void populate(const MappedFile& file) {
  auto* begin = const_cast<std::uint8_t*>(file.data());
  if (::madvise(begin, file.size(), 22 /* MADV_POPULATE_READ */) == 0) return;
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  for (std::size_t offset = 0; offset < file.size(); offset += page)
    (void)*reinterpret_cast<const volatile std::uint8_t*>(file.data() + offset);
}

// Reads "Rss" and "FilePmdMapped" of the mapping that starts at `start` from
// /proc/self/smaps. Both stay 0 where the file is not readable (no /proc).
void read_mapping_sizes(const void* start, PageCacheReport& report) {
  std::ifstream smaps("/proc/self/smaps");
  char header[32];
  std::snprintf(header, sizeof header, "%lx-", static_cast<unsigned long>(reinterpret_cast<std::uintptr_t>(start)));
  std::string line;
  bool inside = false;
  while (std::getline(smaps, line)) {
    const bool is_header = !line.empty() && line.find(':') > line.find(' ');  // "7f..-7f.. r--p ..." vs "Rss: 4 kB"
    if (is_header) {
      if (inside) break;
      inside = line.rfind(header, 0) == 0;
      continue;
    }
    if (!inside) continue;
    std::istringstream fields(line);
    std::string key;
    std::size_t kilobytes = 0;
    fields >> key >> kilobytes;
    if (key == "Rss:") report.resident_bytes = kilobytes * 1024;
    if (key == "FilePmdMapped:") report.huge_page_bytes = kilobytes * 1024;
  }
}

PageCacheReport map_and_measure(const std::string& path) {
  const MappedFile file(path);
  PageCacheReport report;
  report.path = path;
  report.file_bytes = file.size();
  if (file.size() == 0) return report;
  populate(file);
  read_mapping_sizes(file.data(), report);
  return report;
}

}  // namespace

PageCacheReport inspect_page_cache(const std::string& path) { return map_and_measure(path); }

PageCacheReport recache_in_huge_pages(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(path + ": cannot open: " + std::strerror(errno));
  // Dirty pages cannot be dropped: write them back first (a file just
  // written is exactly the case this is for).
  (void)::fdatasync(fd);
  const int advice = ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  ::close(fd);
  if (advice != 0) throw Error(path + ": cannot evict from the page cache: " + std::strerror(advice));
  return map_and_measure(path);
}

}  // namespace snapformer
