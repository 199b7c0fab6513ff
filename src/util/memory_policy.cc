#include "util/memory_policy.h"

#include <malloc.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>

namespace snapformer {

void keep_freed_memory_for_reuse() {
  // 32 MB is glibc's largest mmap threshold on 64-bit.
  (void)mallopt(M_MMAP_THRESHOLD, 32 << 20);
  (void)mallopt(M_TRIM_THRESHOLD, 256 << 20);
}

void back_heap_with_huge_pages() {
  constexpr std::uintptr_t kHugePage = 2u << 20;
  constexpr std::size_t kReserve = 64u << 20;
  // Grow the main heap once by kReserve (malloc asks sbrk for the request plus
  // M_TOP_PAD), keep it (trimming starts above M_TRIM_THRESHOLD), and advise
  // huge pages for its 2 MB-aligned part. Only touched memory becomes
  // resident: the heap fills from the bottom, so the cost is at most one
  // partly used 2 MB page.
  (void)mallopt(M_TOP_PAD, static_cast<int>(kReserve));
  void* block = std::malloc(1u << 20);  // below the mmap threshold: from the heap top
  const auto top = reinterpret_cast<std::uintptr_t>(::sbrk(0));
  const auto start = reinterpret_cast<std::uintptr_t>(block);
  std::free(block);
  (void)mallopt(M_TOP_PAD, 128 << 10);  // glibc's default again for later growth
  // Under a sanitizer (or another malloc) the block is not in the sbrk heap.
  if (block == nullptr || start >= top || top - start > 2 * kReserve) return;
  const auto begin = (start + kHugePage - 1) & ~(kHugePage - 1);
  const auto end = top & ~(kHugePage - 1);
  if (end > begin) (void)::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
}

}  // namespace snapformer
