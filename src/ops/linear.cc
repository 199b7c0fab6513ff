#include "ops/linear.h"

#include <cblas.h>

#include <cstring>

namespace snapformer::ops {

void gemm(bool transpose_a, bool transpose_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
          const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (m == 0 || n == 0) return;
  cblas_sgemm(CblasRowMajor, transpose_a ? CblasTrans : CblasNoTrans, transpose_b ? CblasTrans : CblasNoTrans,
              static_cast<blasint>(m), static_cast<blasint>(n), static_cast<blasint>(k), alpha, a,
              static_cast<blasint>(lda), b, static_cast<blasint>(ldb), beta, c, static_cast<blasint>(ldc));
}

void Linear::apply(const float* x, int64_t rows, float* y) const {
  if (rows == 0) return;
  if (bias != nullptr) {
    for (int64_t r = 0; r < rows; ++r) std::memcpy(y + r * out, bias, static_cast<std::size_t>(out) * sizeof(float));
  }
  const float beta = bias != nullptr ? 1.0f : 0.0f;
  if (input_major) {
    gemm(false, false, rows, out, in, 1.0f, x, in, weight, out, beta, y, out);
  } else {
    gemm(false, true, rows, out, in, 1.0f, x, in, weight, in, beta, y, out);
  }
}

}  // namespace snapformer::ops
