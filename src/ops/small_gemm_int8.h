// Small-row int8 GEMM with AVX512-VNNI, reading the weights in place.
//
// For a few rows (decode steps, short inputs) oneDNN's integer GEMM spends
// more time packing the weights on every call than multiplying; this kernel
// streams each weight row once (four output rows at a time stay in L1 while
// every input row passes over them, and the next four are prefetched) and
// accumulates u8·s8 products with VPDPBUSD.
//
// acc[r, c] = Σ_k x[r, k] · w[c, k] for c in [c0, c1), rows of `acc` `stride`
// apart. Pure; thread-safe.
#pragma once

#include <cstdint>

namespace snapformer::ops {

// Up to this many rows the kernel beats oneDNN's packing GEMM (bert-base, 1
// thread: 8 tokens 10.2 -> 5.0 ms, 32 tokens 17.7 -> 14.4 ms; equal at 48).
inline constexpr int64_t kSmallInt8GemmRows = 32;

// True when the CPU has AVX512-VNNI and AVX512BW and the active ISA is AVX-512
// (SNAPFORMER_ISA / set_isa turn the kernel off for tests of the other path).
bool small_int8_gemm_available();

void small_gemm_u8s8(const std::uint8_t* x, int64_t rows, int64_t k, const std::int8_t* w, int64_t c0, int64_t c1,
                     std::int32_t* acc, int64_t stride);

}  // namespace snapformer::ops
