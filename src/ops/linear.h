// Linear layers: y = x·Wᵀ + b over a block of rows.
//
// Weights are borrowed (pointers into the model's mapped file or converted
// buffers); a Linear never owns memory. Thread-safety: apply() is const and
// reentrant; GEMMs run on the BLAS library's threads.
#pragma once

#include <cstdint>

namespace snapformer::ops {

// Up to this many rows the in-place small-GEMM kernels beat BLAS (measured
// in bench/; see docs/BENCHMARKS.md); above it BLAS's packing pays off.
inline constexpr int64_t kSmallGemmRows = 48;

struct Linear {
  const float* weight = nullptr;  // [out, in] (torch.nn.Linear) or [in, out] when input_major
  const float* bias = nullptr;    // [out] or nullptr
  int64_t in = 0;
  int64_t out = 0;
  bool input_major = false;  // GPT-2's Conv1D stores [in, out]

  // y[rows, out] = x[rows, in] · W + b. `y` must not alias `x`.
  void apply(const float* x, int64_t rows, float* y) const;
};

// C[m,n] = A[m,k] · B[k,n] (row-major, leading dimensions given), optionally accumulating.
void gemm(bool transpose_a, bool transpose_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
          const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

}  // namespace snapformer::ops
