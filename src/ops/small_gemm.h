// GEMMs for few rows (tokens) against weights used in place.
//
// With 1-64 rows a transformer layer is bound by reading its weights, and a
// BLAS that packs (copies) the weight matrix on every call spends most of its
// time copying. These kernels stream each weight row once, keep a block of
// activations in registers, and split the work across the thread pool (the
// output columns; for small_gemm_nn the weight rows). Variants: AVX-512,
// AVX2+FMA and portable, chosen at run time (small_gemm_nn: AVX2+FMA, also on
// AVX-512 CPUs, and portable).
#pragma once

#include <cstdint>
#include <optional>

#include "ops/elementwise.h"

namespace snapformer::ops {

// y[m, n] = bias[n] + sum_k x[m, k] * w[n, k]     (w is [n, k]: torch.nn.Linear)
// `then`: an activation applied to each block of columns as soon as it is done.
// On AVX2, one row (an LM head's decoding step) reads the weight rows as four
// prefetched sequential streams far apart; more rows take blocks of 3 weight
// rows, one from each third of the columns (3 streams far apart).
void small_gemm_nt(const float* x, int64_t m, int64_t k, const float* w, int64_t n, const float* bias, float* y,
                   std::optional<Activation> then = std::nullopt);

// y[m, n] = bias[n] + sum_k x[m, k] * w[k, n]     (w is [k, n]: GPT-2's Conv1D)
//
// Reads the weight rows whole (a first version read narrow strips of
// columns, touched a new page for every k and was 3x slower than oneDNN's
// sgemm on a 6-token prompt), 4 at a time from the 4 quarters of the rows (4
// sequential streams), 3 input rows per pass; 4-6 input rows (short prompts)
// in one pass with their sums in registers, 8 weight rows at a time, so that
// each weight is read from memory once. With several threads each takes one
// contiguous slab of weight rows (k), not of columns (the quarters of its
// slab are its streams); their partial sums are added at the end (scratch:
// (threads - 1) * m * n floats of the calling thread). Linear uses it from 1
// row (a decoding step) to kSmallGemmNnRows: at one row as fast as sgemm's
// matrix-vector path on one thread, and at 2 threads GPT-2 fp32 decoding took
// 14.8-17.0 ms where sgemm, split by columns, took 16.9-18.8 (min of 10
// steps, 5 alternating rounds).
inline constexpr int64_t kSmallGemmNnRows = 24;
void small_gemm_nn(const float* x, int64_t m, int64_t k, const float* w, int64_t n, const float* bias, float* y,
                   std::optional<Activation> then = std::nullopt);

}  // namespace snapformer::ops
