#include "ops/vector_math.h"

#include <cstring>

#include "ops/cpu.h"
#include "ops/simd.h"

namespace snapformer::ops {

namespace {

// The kernels keep 16 float lanes per accumulator whatever the vector width
// (kVectorsPer16Floats, ops/simd.h), so every ISA adds the same products in
// the same order. `always_inline` compiles them for the calling function's
// target.

// Four independent 16-lane accumulators: an FMA's latency is 4 cycles, so one
// chain would leave the FMA units idle three cycles in four. The explicit
// vector type keeps the reduction vectorized without -ffast-math. (Vectors
// are copied with memcpy in place, never returned from helpers: GCC warns
// about the vector ABI of such helpers outside AVX-512 code.)
template <typename V>
__attribute__((always_inline)) inline float dot_span(const float* a, const float* b, int64_t n) {
  constexpr int width = kFloatsIn<V>, parts = kVectorsPer16Floats<V>;
  V acc[4][parts] = {}, x, y;
  int64_t i = 0;
  for (; i + 64 <= n; i += 64) {
#pragma GCC unroll 4
    for (int k = 0; k < 4; ++k) {
#pragma GCC unroll 4
      for (int p = 0; p < parts; ++p) {
        std::memcpy(&x, a + i + 16 * k + width * p, sizeof x);
        std::memcpy(&y, b + i + 16 * k + width * p, sizeof y);
        acc[k][p] += x * y;
      }
    }
  }
  for (; i + 16 <= n; i += 16) {
#pragma GCC unroll 4
    for (int p = 0; p < parts; ++p) {
      std::memcpy(&x, a + i + width * p, sizeof x);
      std::memcpy(&y, b + i + width * p, sizeof y);
      acc[0][p] += x * y;
    }
  }
  float sum = 0;
  for (int p = 0; p < parts; ++p) {
    acc[0][p] += acc[1][p] + acc[2][p] + acc[3][p];
    for (int k = 0; k < width; ++k) sum += acc[0][p][k];
  }
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

template <typename V>
__attribute__((always_inline)) inline void axpy_span(float s, const float* a, float* y, int64_t n) {
  int64_t i = 0;
  V x, r;
  for (; i + kFloatsIn<V> <= n; i += kFloatsIn<V>) {
    std::memcpy(&x, a + i, sizeof x);
    std::memcpy(&r, y + i, sizeof r);
    r += s * x;
    std::memcpy(y + i, &r, sizeof r);
  }
  for (; i < n; ++i) y[i] += s * a[i];
}

__attribute__((target("avx512f"))) float dot_avx512(const float* a, const float* b, int64_t n) {
  return dot_span<v16sf>(a, b, n);
}
__attribute__((target("avx2,fma"))) float dot_avx2(const float* a, const float* b, int64_t n) {
  return dot_span<v8sf>(a, b, n);
}
__attribute__((target("avx512f"))) void axpy_avx512(float s, const float* a, float* y, int64_t n) {
  axpy_span<v16sf>(s, a, y, n);
}
__attribute__((target("avx2,fma"))) void axpy_avx2(float s, const float* a, float* y, int64_t n) {
  axpy_span<v8sf>(s, a, y, n);
}
}  // namespace

float dot(const float* a, const float* b, int64_t n) {
  switch (active_isa()) {
    case Isa::kAvx512: return dot_avx512(a, b, n);
    case Isa::kAvx2: return dot_avx2(a, b, n);
    case Isa::kPortable: break;
  }
  return dot_span<v4sf>(a, b, n);
}

void axpy(float s, const float* a, float* y, int64_t n) {
  switch (active_isa()) {
    case Isa::kAvx512: return axpy_avx512(s, a, y, n);
    case Isa::kAvx2: return axpy_avx2(s, a, y, n);
    case Isa::kPortable: break;
  }
  axpy_span<v4sf>(s, a, y, n);
}

}  // namespace snapformer::ops
