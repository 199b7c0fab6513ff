#include "ops/vector_math.h"

#include <cstring>

namespace snapformer::ops {

namespace {
typedef float v16 __attribute__((vector_size(64)));
}  // namespace

// Four independent 16-lane accumulators: an FMA's latency is 4 cycles, so one
// chain would leave the FMA units idle three cycles in four. The explicit
// vector type keeps the reduction vectorized without -ffast-math; the
// multiversioned clones compile it for AVX-512, AVX2 and baseline x86-64.
// (Vectors are copied with memcpy in place, never returned from helpers:
// GCC warns about the vector ABI of such helpers outside AVX-512 code.)
__attribute__((target_clones("avx512f", "avx2", "default"))) float dot(const float* a, const float* b, int64_t n) {
  v16 acc[4] = {}, x, y;
  int64_t i = 0;
  for (; i + 64 <= n; i += 64) {
    for (int k = 0; k < 4; ++k) {
      std::memcpy(&x, a + i + 16 * k, 64);
      std::memcpy(&y, b + i + 16 * k, 64);
      acc[k] += x * y;
    }
  }
  for (; i + 16 <= n; i += 16) {
    std::memcpy(&x, a + i, 64);
    std::memcpy(&y, b + i, 64);
    acc[0] += x * y;
  }
  acc[0] += acc[1] + acc[2] + acc[3];
  float sum = 0;
  for (int k = 0; k < 16; ++k) sum += acc[0][k];
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

__attribute__((target_clones("avx512f", "avx2", "default"))) void axpy(float s, const float* a, float* y, int64_t n) {
  int64_t i = 0;
  v16 x, r;
  for (; i + 16 <= n; i += 16) {
    std::memcpy(&x, a + i, 64);
    std::memcpy(&r, y + i, 64);
    r += s * x;
    std::memcpy(y + i, &r, 64);
  }
  for (; i < n; ++i) y[i] += s * a[i];
}

}  // namespace snapformer::ops
