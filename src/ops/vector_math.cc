#include "ops/vector_math.h"

#include <cstring>

namespace snapformer::ops {

// Two independent 8-lane accumulators; the multiversioned clones widen the
// vector code to the best ISA (an explicit vector type keeps the reduction
// vectorized without -ffast-math).
__attribute__((target_clones("avx512f", "avx2", "default"))) float dot(const float* a, const float* b, int64_t n) {
  typedef float v8 __attribute__((vector_size(32)));
  v8 acc0 = {}, acc1 = {};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    v8 x0, y0, x1, y1;
    std::memcpy(&x0, a + i, 32), std::memcpy(&y0, b + i, 32);
    std::memcpy(&x1, a + i + 8, 32), std::memcpy(&y1, b + i + 8, 32);
    acc0 += x0 * y0;
    acc1 += x1 * y1;
  }
  acc0 += acc1;
  float sum = 0;
  for (int k = 0; k < 8; ++k) sum += acc0[k];
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

__attribute__((target_clones("avx512f", "avx2", "default"))) void axpy(float s, const float* a, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += s * a[i];
}

}  // namespace snapformer::ops
