// GEMMs for few rows (tokens) against weights used in place.
//
// With 1-64 rows a transformer layer is bound by reading its weights, and a
// BLAS that packs (copies) the weight matrix on every call spends most of its
// time copying. These kernels stream each weight row once, keep a block of
// activations in registers, and split the output columns across the thread
// pool. Variants: AVX-512, AVX2+FMA and portable, chosen at run time.
#pragma once

#include <cstdint>
#include <optional>

#include "ops/elementwise.h"

namespace snapformer::ops {

// y[m, n] = bias[n] + sum_k x[m, k] * w[n, k]     (w is [n, k]: torch.nn.Linear)
//
// There is no variant for [k, n] weights (GPT-2's Conv1D): reading a strip of
// columns of such a matrix touches a new page for every k, and measured
// against oneDNN's sgemm (which reads the rows whole) it was 3x slower for a
// 6-token prompt and 9% slower for a decode step; Linear sends those to BLAS.
// `then`: an activation applied to each block of columns as soon as it is done.
void small_gemm_nt(const float* x, int64_t m, int64_t k, const float* w, int64_t n, const float* bias, float* y,
                   std::optional<Activation> then = std::nullopt);

}  // namespace snapformer::ops
