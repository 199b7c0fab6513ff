// Page cache: putting model files into the page cache in 2 MB folios.
//
// Why: a cold start is mostly page faults. The first forward pass touches
// every weight of the mapped model; with 4 KB page-table entries that is one
// fault per 4-64 KB (fault-around), ~7,000 faults for bert-base at 10-15 us
// each under this project's virtualization: ~100 ms of a ~200 ms cold start.
// Linux maps a file with 2 MB entries (one fault per 2 MB) where the page
// cache holds it in 2 MB folios and the mapping is aligned (MappedFile
// aligns). The folio size is fixed when the file enters the page cache:
// reads build large folios on kernels and file systems that support them
// (ext4 from Linux 6.16, XFS), but a file cached by being written (just
// downloaded, copied or generated) stays in 4 KB pages until evicted.
//
// recache_in_huge_pages() evicts a file's cached pages that no process maps
// and reads it back through a huge-page-advised mapping, so that every later
// process maps it with 2 MB entries. It changes no data and is safe to run at
// any time; pages that another process maps at that moment stay as they are.
//
// Thread-safety: free functions without shared state.
#pragma once

#include <cstddef>
#include <string>

namespace snapformer {

// How a file sits in the page cache, as seen through one fresh mapping that
// has touched every page.
struct PageCacheReport {
  std::string path;
  std::size_t file_bytes = 0;
  std::size_t resident_bytes = 0;   // pages mapped (all of them once populated)
  std::size_t huge_page_bytes = 0;  // of those, mapped with 2 MB entries
};

// Writes back and evicts `path` from the page cache (what no process maps),
// then reads it in again through a huge-page-advised mapping and reports the
// result. Throws Error naming the file if it cannot be opened or mapped.
PageCacheReport recache_in_huge_pages(const std::string& path);

// Maps `path` and touches every page without evicting anything first: how a
// model load would find the file now.
PageCacheReport inspect_page_cache(const std::string& path);

}  // namespace snapformer
