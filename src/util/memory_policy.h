// Process-wide allocator policy for inference workloads.
#pragma once

namespace snapformer {

// Keeps freed blocks of up to 32 MB in the heap instead of returning them to
// the kernel, so the per-call scratch of a forward pass (activations,
// attention scores) is reused rather than mapped and page-faulted afresh on
// every call (measured: ~8% of an int8 bert-base forward went to faults and
// zeroing of fresh pages). Costs at most the peak transient working set.
// Call once at start, before threads are started.
void keep_freed_memory_for_reuse();

// Backs the first 64 MB of the main heap with transparent huge pages, where
// the kernel allows them (THP "madvise" or "always"). Why: loading a model
// fills tens of MB of fresh heap (a GPT-2 tokenizer: ~20 MB), and under
// virtualization each 4 KB page fault costs 10-15 us; 2 MB pages cut those
// faults 512-fold. glibc's own switch for this (GLIBC_TUNABLES=
// glibc.malloc.hugetlb=1) is read only at process start and would need a
// second exec (~20 ms of dynamic linking). Call once at start, before threads
// are started and before large allocations, after keep_freed_memory_for_reuse()
// (whose mmap threshold keeps blocks of up to 32 MB in this heap).
void back_heap_with_huge_pages();

}  // namespace snapformer
