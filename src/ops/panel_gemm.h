// fp32 GEMM for tens to hundreds of rows against [n, k] weights used in place,
// on AVX2 CPUs.
//
// y[m, n] = bias[n] + Σ_k x[m, k] · w[n, k]     (w is [n, k]: torch.nn.Linear)
//
// The broadcast-FMA form with the roles of the operands swapped: the
// activations (small next to the weights: 128 tokens of 768 are 384 KB, a
// 768x3072 weight 9 MB) are transposed once per call into panels of 16 or 24
// tokens — for each k, the panel's tokens side by side — and every weight
// element is broadcast and multiplied into a whole panel. The accumulators
// thus hold one output column for 16 or 24 tokens, no horizontal sums remain
// (small_gemm_nt's dot-product form spends its loads and reductions there),
// and the weights are read where they lie, a few rows at a time, where
// oneDNN's sgemm copies the whole weight matrix into its own layout on every
// call. On this project's Zen 3 machine that copy costs sgemm 20-30% at 16-64
// rows (docs/BENCHMARKS.md, "Fast, round 2").
//
// Thread-safety: the calls may run concurrently; each splits its output
// columns over the global thread pool and transposes x into a grow-only
// buffer of the calling thread (at most 512 rows x k floats: 6 MB for a
// 3072-wide input), kept for the thread's next call.
#pragma once

#include <cstdint>
#include <optional>

#include "ops/elementwise.h"

namespace snapformer::ops {

// Row counts for which Linear prefers this kernel: at 13-512 rows it beats
// small_gemm_nt (below 13 the panels are mostly padding) and sgemm (layers
// 0-6% faster at 512 rows, 18% with 2 threads; bert-base at 512 tokens 0-7%;
// sgemm is ahead from ~1024 rows on, where the transposed activations outgrow
// L2). Only where the active instruction set is AVX2 (an AVX-512 CPU keeps its
// 16-lane kernels and sgemm); SNAPFORMER_PANEL_GEMM=0 turns it off, to
// measure one path against the other.
inline constexpr int64_t kPanelGemmMinRows = 13;
inline constexpr int64_t kPanelGemmMaxRows = 512;
bool panel_gemm_nt_suits(int64_t rows);

// Any m >= 1 gives the right result; a CPU without AVX2 computes it with
// small_gemm_nt. `then`: an activation applied to each block of columns as
// soon as it is done.
void panel_gemm_nt(const float* x, int64_t m, int64_t k, const float* w, int64_t n, const float* bias, float* y,
                   std::optional<Activation> then = std::nullopt);

}  // namespace snapformer::ops
