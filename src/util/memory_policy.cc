#include "util/memory_policy.h"

#include <malloc.h>

namespace snapformer {

void keep_freed_memory_for_reuse() {
  // 32 MB is glibc's largest mmap threshold on 64-bit.
  (void)mallopt(M_MMAP_THRESHOLD, 32 << 20);
  (void)mallopt(M_TRIM_THRESHOLD, 256 << 20);
}

}  // namespace snapformer
