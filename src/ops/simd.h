// Small SIMD helpers shared by the kernels (internal to ops/). Each is
// compiled for its instruction set whatever the including file's default
// target; call them only from code that runs where active_isa() allows it.
#pragma once

#include <immintrin.h>

namespace snapformer::ops {

// Floats in a GCC vector type V, and how many such vectors hold 16 floats:
// the row kernels keep 16-lane sums as one AVX-512 vector, two AVX2 ones or
// four 16-byte ones, so that every ISA adds in the same order.
template <typename V>
constexpr int kFloatsIn = static_cast<int>(sizeof(V) / sizeof(float));
template <typename V>
constexpr int kVectorsPer16Floats = 16 / kFloatsIn<V>;

// The sum of a vector's 16 lanes (GCC 12's _mm512_reduce_add_ps warns
// spuriously, so fold halves by hand).
__attribute__((target("avx512f"))) inline float sum_lanes(__m512 v) {
  const __m256 half = _mm256_add_ps(_mm512_castps512_ps256(v),
                                    _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
  const __m128 quarter = _mm_add_ps(_mm256_castps256_ps128(half), _mm256_extractf128_ps(half, 1));
  const __m128 pair = _mm_add_ps(quarter, _mm_movehl_ps(quarter, quarter));
  return _mm_cvtss_f32(_mm_add_ss(pair, _mm_shuffle_ps(pair, pair, 1)));
}

// The sum of an AVX vector's 8 lanes (for code that runs where active_isa()
// is at least kAvx2).
__attribute__((target("avx2,fma"))) inline float sum_lanes(__m256 v) {
  const __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 t = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(t, _mm_shuffle_ps(t, t, 1)));
}

// The sum of an AVX vector's 8 int32 lanes (wrapping like int32 adds).
__attribute__((target("avx2"))) inline int sum_lanes_epi32(__m256i v) {
  const __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  const __m128i t = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
  return _mm_cvtsi128_si32(_mm_add_epi32(t, _mm_shuffle_epi32(t, 1)));
}

}  // namespace snapformer::ops
