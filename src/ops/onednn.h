// Shared oneDNN plumbing for the GEMM paths (internal to ops/).
//
// snapformer splits work over its own thread pool, so every oneDNN call runs
// on the calling thread alone: use_one_openmp_thread() sets libgomp's
// per-thread team size to 1 the first time a thread calls it.
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

namespace snapformer::ops {

void use_one_openmp_thread();

// The process's CPU engine, and a stream for the calling thread.
const dnnl::engine& cpu_engine();
dnnl::stream& thread_stream();

// True when oneDNN's integer GEMM on this CPU sums u8·s8 products straight
// into int32 (AVX512-VNNI or AVX-VNNI); false when it goes through
// saturating int16 pairs, which limits activations to 7 bits (quantize.h).
bool integer_gemm_has_vnni();

}  // namespace snapformer::ops
