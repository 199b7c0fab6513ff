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

}  // namespace snapformer
