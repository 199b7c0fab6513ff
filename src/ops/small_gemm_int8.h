// Small-row int8 GEMM (AVX2), reading row-major weights in place.
//
// For a few rows (decode steps, short inputs) oneDNN's integer GEMM spends
// more time packing the weights on every call than multiplying; this kernel
// reads the weights in place: blocks of two adjacent weight rows use
// VPMADDUBSW + VPMADDWD on 7-bit activations, and one row (a decoding step)
// 16-bit widened operands over four weight rows far apart (four sequential
// streams: one reads at ~15 GB/s per core on this project's VMs, four at
// 20-25) (small_gemm_int8.cc). Where the int8 kernels take VNNI
// (int8_uses_vnni()), loading packs int8 weights into VNNI panels instead
// (int8_panels.h), whose kernel takes every row count.
//
// acc[r, c] = Σ_k x[r, k] · w[c, k] for c in [c0, c1), rows of `acc` `stride`
// apart. Pure; thread-safe.
#pragma once

#include <cstdint>

namespace snapformer::ops {

// Up to this many rows the kernel beats oneDNN's AVX2 integer GEMM on
// weights read from memory, as a model's are (Zen 3, one 768x3072 layer
// after another, 1 thread: 1 row 374 -> 190-200 us, 8 rows 555 -> 265 us):
// oneDNN packs the weights on every call, this kernel streams them. Since
// the block's stores were tightened (seventh session), layers with weights
// from memory, 1 thread pinned, own / oneDNN in the same run: 64 rows
// 768x3072 1814 / 2214 us, 3072x768 1660 / 1788 us, 768x2304 1313 / 1433
// us; equal at 80 rows.
inline constexpr int64_t kSmallInt8GemmRows = 64;

// How many rows small_gemm_u8s8 takes: kSmallInt8GemmRows, 0 on the
// portable path (SNAPFORMER_ISA / set_isa choose the path in tests).
// Thread-safe.
int64_t small_int8_gemm_rows();

// The activation levels small_gemm_u8s8 takes for `rows` rows: x <= 255
// for one row, else x <= 127 (VPMADDUBSW would saturate).
int small_int8_gemm_levels(int64_t rows);

// Needs rows <= small_int8_gemm_rows() (any ISA above portable) and x within
// small_int8_gemm_levels(rows).
void small_gemm_u8s8(const std::uint8_t* x, int64_t rows, int64_t k, const std::int8_t* w, int64_t c0, int64_t c1,
                     std::int32_t* acc, int64_t stride);

}  // namespace snapformer::ops
