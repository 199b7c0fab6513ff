#include "ops/quantize.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "ops/cpu.h"
#include "ops/simd.h"
#include "util/thread_pool.h"

namespace snapformer::ops {

#define SNAPFORMER_MULTIVERSION __attribute__((target_clones("avx512f", "avx2", "default")))

std::uint16_t float_to_bfloat16(float value) {
  std::uint32_t bits;
  std::memcpy(&bits, &value, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((bits >> 16) | 0x40);  // quiet NaN
  bits += 0x7fffu + ((bits >> 16) & 1u);  // round to nearest, ties to even
  return static_cast<std::uint16_t>(bits >> 16);
}

SNAPFORMER_MULTIVERSION void floats_to_bfloat16(const float* x, int64_t n, std::uint16_t* out) {
  // float_to_bfloat16 written branch-free so that it vectorizes (NaNs too).
  for (int64_t i = 0; i < n; ++i) {
    std::uint32_t bits;
    std::memcpy(&bits, x + i, 4);
    const std::uint32_t rounded = (bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16, quiet_nan = (bits >> 16) | 0x40u;
    out[i] = static_cast<std::uint16_t>((bits & 0x7fffffffu) > 0x7f800000u ? quiet_nan : rounded);
  }
}

namespace {

// A channel's scale from its largest magnitude, and the factor that maps its
// weights onto ±127 (0 for an all-zero channel).
float channel_inverse_scale(float max_abs, float& scale) {
  scale = max_abs / 127.0f;
  return scale > 0 ? 1.0f / scale : 0.0f;
}

// q[k] = round(w[k] * inverse) clamped to ±127 for k in [from, to) (round to
// nearest even, as nearbyint in the default rounding mode); returns their sum.
std::int32_t quantize_values_int8(const float* w, int64_t from, int64_t to, float inverse, std::int8_t* q) {
  std::int32_t sum = 0;
  for (int64_t k = from; k < to; ++k) {
    const auto v = static_cast<std::int32_t>(std::nearbyint(w[k] * inverse));
    q[k] = static_cast<std::int8_t>(std::clamp(v, -127, 127));
    sum += q[k];
  }
  return sum;
}

// One output channel of `in` contiguous floats: its int8 values, scale and
// the sum of its values.
void quantize_channel_int8(const float* w, int64_t in, std::int8_t* q, float& scale, std::int32_t& sum) {
  float max_abs = 0;
  for (int64_t k = 0; k < in; ++k) max_abs = std::max(max_abs, std::fabs(w[k]));
  sum = quantize_values_int8(w, 0, in, channel_inverse_scale(max_abs, scale), q);
}

// The same numbers with AVX2 (cvtps rounds as nearbyint does; the maximum
// skips NaNs as std::max does): 16 values per step, then the scalar tail.
__attribute__((target("avx2"))) void quantize_channel_int8_avx2(const float* w, int64_t in, std::int8_t* q,
                                                                float& scale, std::int32_t& sum) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  __m256 max8 = _mm256_setzero_ps();
  int64_t k = 0;
  for (; k + 8 <= in; k += 8) max8 = _mm256_max_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(w + k)), max8);
  float lanes[8];
  _mm256_storeu_ps(lanes, max8);
  float max_abs = 0;
  for (float lane : lanes) max_abs = std::max(max_abs, lane);
  for (; k < in; ++k) max_abs = std::max(max_abs, std::fabs(w[k]));
  const float inverse = channel_inverse_scale(max_abs, scale);
  const __m256 inverse8 = _mm256_set1_ps(inverse);
  const __m256i lowest = _mm256_set1_epi32(-127), highest = _mm256_set1_epi32(127);
  __m256i sum8 = _mm256_setzero_si256();
  k = 0;
  for (; k + 16 <= in; k += 16) {
    __m256i a = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(w + k), inverse8));
    __m256i b = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(w + k + 8), inverse8));
    a = _mm256_min_epi32(_mm256_max_epi32(a, lowest), highest);
    b = _mm256_min_epi32(_mm256_max_epi32(b, lowest), highest);
    sum8 = _mm256_add_epi32(sum8, _mm256_add_epi32(a, b));
    // 16 int32 -> 16 int16 (lanes [a0-3 b0-3 a4-7 b4-7], reordered) -> 16 bytes.
    const __m256i words = _mm256_permute4x64_epi64(_mm256_packs_epi32(a, b), 0xD8);
    const __m128i bytes = _mm_packs_epi16(_mm256_castsi256_si128(words), _mm256_extracti128_si256(words, 1));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q + k), bytes);
  }
  sum = sum_lanes_epi32(sum8) + quantize_values_int8(w, k, in, inverse, q);
}

// Channels [n0, n1) of [in, out] weights (GPT-2's Conv1D) as rows of `in`
// floats: gathered[(n - n0) * in + k] = weight[k * out + n]. 8x8 transposes
// for whole blocks, one value at a time for the edges.
__attribute__((target("avx2"))) void gather_channels_avx2(const float* weight, int64_t out, int64_t in, int64_t n0,
                                                          int64_t n1, float* gathered) {
  const int64_t n_end = n0 + (n1 - n0) / 8 * 8, k_end = in / 8 * 8;
  for (int64_t k = 0; k < k_end; k += 8) {
    const float* rows[8];
    for (int t = 0; t < 8; ++t) rows[t] = weight + (k + t) * out;
    for (int64_t n = n0; n < n_end; n += 8) transpose_8x8(rows, n, gathered + (n - n0) * in + k, in);
  }
  for (int64_t k = 0; k < in; ++k)
    for (int64_t n = k < k_end ? n_end : n0; n < n1; ++n) gathered[(n - n0) * in + k] = weight[k * out + n];
}

void gather_channels(const float* weight, int64_t out, int64_t in, int64_t n0, int64_t n1, float* gathered) {
  for (int64_t k = 0; k < in; ++k)
    for (int64_t n = n0; n < n1; ++n) gathered[(n - n0) * in + k] = weight[k * out + n];
}

// Calls convert(n0, n1, rows) for blocks of output channels over the global
// thread pool, `rows` holding channels [n0, n1) as rows of `in` contiguous
// floats: the weights themselves when [out, in]; gathered from [in, out]
// weights, reading each weight row's run of the block's channels at once.
// Weight conversion at load: one scalar pass took bert-base's 85 M weights
// ~0.5 s to int8 (nearbyint a library call per value).
template <typename Convert>
void for_each_channel_block(const float* weight, int64_t out, int64_t in, bool input_major, const Convert& convert) {
  const bool avx2 = active_isa() >= Isa::kAvx2;
  constexpr int64_t kChannelsPerTask = 16;
  ThreadPool::global().parallel_for((out + kChannelsPerTask - 1) / kChannelsPerTask, [&](int64_t t0, int64_t t1) {
    std::vector<float> gathered(static_cast<std::size_t>(input_major ? kChannelsPerTask * in : 0));
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t n0 = t * kChannelsPerTask, n1 = std::min(out, n0 + kChannelsPerTask);
      if (!input_major) {
        convert(n0, n1, weight + n0 * in);
        continue;
      }
      if (avx2) gather_channels_avx2(weight, out, in, n0, n1, gathered.data());
      else gather_channels(weight, out, in, n0, n1, gathered.data());
      convert(n0, n1, gathered.data());
    }
  });
}

}  // namespace

void weight_to_bfloat16(const float* weight, int64_t out, int64_t in, bool input_major, std::uint16_t* dst) {
  for_each_channel_block(weight, out, in, input_major, [&](int64_t n0, int64_t n1, const float* rows) {
    floats_to_bfloat16(rows, (n1 - n0) * in, dst + n0 * in);
  });
}

void quantize_weight_int8(const float* weight, int64_t out, int64_t in, bool input_major, std::int8_t* q, float* scale,
                          std::int32_t* row_sum) {
  const bool avx2 = active_isa() >= Isa::kAvx2;
  for_each_channel_block(weight, out, in, input_major, [&](int64_t n0, int64_t n1, const float* rows) {
    for (int64_t n = n0; n < n1; ++n) {
      std::int32_t sum = 0;
      if (avx2) quantize_channel_int8_avx2(rows + (n - n0) * in, in, q + n * in, scale[n], sum);
      else quantize_channel_int8(rows + (n - n0) * in, in, q + n * in, scale[n], sum);
      if (row_sum != nullptr) row_sum[n] = sum;
    }
  });
}

namespace {
typedef float v16f __attribute__((vector_size(64)));
typedef std::int32_t v16i __attribute__((vector_size(64)));
typedef std::uint8_t v16b __attribute__((vector_size(16)));
}  // namespace

namespace {

// The row's scale and zero point from its range (which always includes 0).
struct RowQuantization {
  float inverse, offset, top;  // q = trunc(clamp(x * inverse + offset, 0.5, top + 0.5))
  float scale;
  std::int32_t zero;
};
RowQuantization row_quantization(float lo, float hi, int levels) {
  const float s = hi > lo ? (hi - lo) / static_cast<float>(levels) : 1.0f;
  const float inverse = 1.0f / s;
  // -lo/s is in [0, levels]; rounding it keeps 0 exactly representable.
  const float z = std::min(static_cast<float>(levels), std::floor(-lo * inverse + 0.5f));
  return {inverse, z + 0.5f, static_cast<float>(levels), s, static_cast<std::int32_t>(z)};
}

// Values after the last whole 16-lane block: the scalar form.
void quantize_tail(const float* row, int64_t from, int64_t cols, const RowQuantization& p, std::uint8_t* out) {
  const float z = static_cast<float>(p.zero);
  for (int64_t c = from; c < cols; ++c) {
    const float value = std::min(p.top, std::max(0.0f, row[c] * p.inverse + z));
    out[c] = static_cast<std::uint8_t>(static_cast<std::int32_t>(value + 0.5f));
  }
}

// AVX2 intrinsics, the same arithmetic as the generic 16-lane form below
// (blocks of 16, then the scalar tail), so both give the same bytes. GCC
// compiles the generic form's 64-byte vectors for AVX2 with stack spills
// and per-lane inserts: 18% of an int8 DistilBERT server's time on an
// AVX2-only CPU, against a few percent for this version.
struct QuantizeConstants {
  __m256 inverse, offset, floor, ceiling, top;
};

// 8 values: trunc(clamp(x * inverse + offset)), as the generic form computes them.
__attribute__((target("avx2"))) inline __m256i quantize8(const float* from, const QuantizeConstants& k) {
  __m256 v = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(from), k.inverse), k.offset);
  v = _mm256_blendv_ps(v, k.floor, _mm256_cmp_ps(v, k.floor, _CMP_LT_OQ));
  v = _mm256_blendv_ps(v, k.top, _mm256_cmp_ps(v, k.ceiling, _CMP_GT_OQ));
  return _mm256_cvttps_epi32(v);
}

__attribute__((target("avx2"))) void quantize_rows_uint8_avx2(const float* x, int64_t rows, int64_t cols, int levels,
                                                              std::uint8_t* q, float* scale, std::int32_t* zero) {
  const int64_t blocks_end = cols / 16 * 16;
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = x + r * cols;
    __m256 lo8 = _mm256_setzero_ps(), hi8 = _mm256_setzero_ps();
    for (int64_t c = 0; c < blocks_end; c += 8) {
      const __m256 v = _mm256_loadu_ps(row + c);
      lo8 = _mm256_min_ps(lo8, v);
      hi8 = _mm256_max_ps(hi8, v);
    }
    float lo_lanes[8], hi_lanes[8];
    _mm256_storeu_ps(lo_lanes, lo8);
    _mm256_storeu_ps(hi_lanes, hi8);
    float lo = 0, hi = 0;
    for (int k = 0; k < 8; ++k) {
      lo = std::min(lo, lo_lanes[k]);
      hi = std::max(hi, hi_lanes[k]);
    }
    for (int64_t c = blocks_end; c < cols; ++c) {
      lo = std::min(lo, row[c]);
      hi = std::max(hi, row[c]);
    }
    const RowQuantization p = row_quantization(lo, hi, levels);
    const QuantizeConstants k{_mm256_set1_ps(p.inverse), _mm256_set1_ps(p.offset), _mm256_set1_ps(0.5f),
                              _mm256_set1_ps(p.top + 0.5f), _mm256_set1_ps(p.top)};
    std::uint8_t* out = q + r * cols;
    for (int64_t c = 0; c < blocks_end; c += 16) {
      // 16 int32 -> 16 int16 (lanes [a0-3 b0-3 a4-7 b4-7], reordered) -> 16 bytes.
      const __m256i words = _mm256_permute4x64_epi64(_mm256_packs_epi32(quantize8(row + c, k), quantize8(row + c + 8, k)), 0xD8);
      const __m128i bytes = _mm_packus_epi16(_mm256_castsi256_si128(words), _mm256_extracti128_si256(words, 1));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out + c), bytes);
    }
    quantize_tail(row, blocks_end, cols, p, out);
    scale[r] = p.scale;
    zero[r] = p.zero;
  }
}

// Explicit 16-lane vectors: GCC does not vectorize float min/max reductions
// or the clamp-and-narrow without -ffast-math. (Vectors are moved with
// memcpy, never passed to helpers: see vector_math.cc.)
SNAPFORMER_MULTIVERSION void quantize_rows_uint8_generic(const float* x, int64_t rows, int64_t cols, int levels,
                                                         std::uint8_t* q, float* scale, std::int32_t* zero) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = x + r * cols;
    v16f lo_v{}, hi_v{}, v;
    int64_t c = 0;
    for (; c + 16 <= cols; c += 16) {
      std::memcpy(&v, row + c, 64);
      lo_v = v < lo_v ? v : lo_v;
      hi_v = v > hi_v ? v : hi_v;
    }
    float lo = 0, hi = 0;
    for (int k = 0; k < 16; ++k) {
      lo = std::min(lo, lo_v[k]);
      hi = std::max(hi, hi_v[k]);
    }
    for (; c < cols; ++c) {
      lo = std::min(lo, row[c]);
      hi = std::max(hi, row[c]);
    }
    const RowQuantization p = row_quantization(lo, hi, levels);
    const float inverse = p.inverse, offset = p.offset, top = p.top;
    std::uint8_t* out = q + r * cols;
    c = 0;
    for (; c + 16 <= cols; c += 16) {
      std::memcpy(&v, row + c, 64);
      v = v * inverse + offset;  // + 0.5 then truncation: round half up (v >= 0)
      v = v < 0.5f ? v16f{} + 0.5f : v;
      v = v > top + 0.5f ? v16f{} + top : v;
      const v16b bytes = __builtin_convertvector(__builtin_convertvector(v, v16i), v16b);
      std::memcpy(out + c, &bytes, 16);
    }
    quantize_tail(row, c, cols, p, out);
    scale[r] = p.scale;
    zero[r] = p.zero;
  }
}

}  // namespace

void quantize_rows_uint8(const float* x, int64_t rows, int64_t cols, int levels, std::uint8_t* q, float* scale,
                         std::int32_t* zero) {
  // AVX-512 CPUs run the generic form's AVX-512 clone, which compiles well.
  if (active_isa() == Isa::kAvx2) quantize_rows_uint8_avx2(x, rows, cols, levels, q, scale, zero);
  else quantize_rows_uint8_generic(x, rows, cols, levels, q, scale, zero);
}

SNAPFORMER_MULTIVERSION void dequantize_columns(const std::int32_t* acc, int64_t rows, int64_t c0, int64_t c1,
                                                int64_t stride, const float* scale, const std::int32_t* zero,
                                                const float* weight_scale, const std::int32_t* row_sum,
                                                const float* bias, float* y) {
  for (int64_t r = 0; r < rows; ++r) {
    const std::int32_t* a = acc + r * stride;
    float* out = y + r * stride;
    const float s = scale[r];
    const std::int32_t z = zero[r];
    if (bias != nullptr) {
      for (int64_t c = c0; c < c1; ++c)
        out[c] = s * weight_scale[c] * static_cast<float>(a[c] - z * row_sum[c]) + bias[c];
    } else {
      for (int64_t c = c0; c < c1; ++c) out[c] = s * weight_scale[c] * static_cast<float>(a[c] - z * row_sum[c]);
    }
  }
}

}  // namespace snapformer::ops
