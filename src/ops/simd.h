// Small SIMD helpers shared by the kernels (internal to ops/). Each is
// compiled for its instruction set whatever the including file's default
// target; call them only from code that runs where active_isa() allows it.
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace snapformer::ops {

// The GCC vector types the row kernels are written in; each function that
// uses them is compiled for its target (AVX-512, AVX2, or the baseline).
typedef float v16sf __attribute__((vector_size(64)));
typedef int v16si __attribute__((vector_size(64)));
typedef float v8sf __attribute__((vector_size(32)));
typedef int v8si __attribute__((vector_size(32)));
typedef float v4sf __attribute__((vector_size(16)));

// Floats in a GCC vector type V, and how many such vectors hold 16 floats:
// the row kernels keep 16-lane sums as one AVX-512 vector, two AVX2 ones or
// four 16-byte ones, so that every ISA adds in the same order. (They were one
// 64-byte vector type in multiversioned clones, which GCC 12's AVX2 clone
// split through the stack, storing and reloading all 16 lanes on every step:
// ~2 G multiply-adds/s for dot, 3.5% of bert-base at 512 tokens for the
// softmax's maximum.) Each kernel is compiled per ISA and picked by
// active_isa().
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

// Transposes 8 rows of 8 floats (in[r] + i0; a null row reads as zeros) into
// 8 vectors, one per column, stored at out + j * stride.
__attribute__((target("avx2"))) inline void transpose_8x8(const float* const* in, int64_t i0, float* out, int64_t stride) {
  __m256 r[8], t[8];
  for (int j = 0; j < 8; ++j) r[j] = in[j] ? _mm256_loadu_ps(in[j] + i0) : _mm256_setzero_ps();
  for (int j = 0; j < 8; j += 2) {
    t[j] = _mm256_unpacklo_ps(r[j], r[j + 1]);
    t[j + 1] = _mm256_unpackhi_ps(r[j], r[j + 1]);
  }
  for (int j = 0; j < 8; j += 4) {
    r[j] = _mm256_shuffle_ps(t[j], t[j + 2], 0x44);
    r[j + 1] = _mm256_shuffle_ps(t[j], t[j + 2], 0xEE);
    r[j + 2] = _mm256_shuffle_ps(t[j + 1], t[j + 3], 0x44);
    r[j + 3] = _mm256_shuffle_ps(t[j + 1], t[j + 3], 0xEE);
  }
  // r[0..3] hold columns 0,1,2,3 of rows 0-3 (low half) and 4-7 of them (high
  // half); r[4..7] the same for rows 4-7.
  for (int j = 0; j < 4; ++j) {
    _mm256_storeu_ps(out + j * stride, _mm256_permute2f128_ps(r[j], r[j + 4], 0x20));
    _mm256_storeu_ps(out + (j + 4) * stride, _mm256_permute2f128_ps(r[j], r[j + 4], 0x31));
  }
}

}  // namespace snapformer::ops
