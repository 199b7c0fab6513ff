#include "ops/quantize.h"

#include <algorithm>
#include <cmath>
#include <cstring>

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
  // The same rounding as float_to_bfloat16, written branch-free so it vectorizes
  // (activations are finite; a NaN would still map to a NaN or infinity pattern).
  for (int64_t i = 0; i < n; ++i) {
    std::uint32_t bits;
    std::memcpy(&bits, x + i, 4);
    bits += 0x7fffu + ((bits >> 16) & 1u);
    out[i] = static_cast<std::uint16_t>(bits >> 16);
  }
}

void weight_to_bfloat16(const float* weight, int64_t out, int64_t in, bool input_major, std::uint16_t* dst) {
  for (int64_t n = 0; n < out; ++n)
    for (int64_t k = 0; k < in; ++k)
      dst[n * in + k] = float_to_bfloat16(input_major ? weight[k * out + n] : weight[n * in + k]);
}

void quantize_weight_int8(const float* weight, int64_t out, int64_t in, bool input_major, std::int8_t* q, float* scale,
                          std::int32_t* row_sum) {
  auto at = [&](int64_t n, int64_t k) { return input_major ? weight[k * out + n] : weight[n * in + k]; };
  for (int64_t n = 0; n < out; ++n) {
    float max_abs = 0;
    for (int64_t k = 0; k < in; ++k) max_abs = std::max(max_abs, std::fabs(at(n, k)));
    const float s = max_abs / 127.0f;
    const float inverse = s > 0 ? 1.0f / s : 0.0f;
    std::int32_t sum = 0;
    for (int64_t k = 0; k < in; ++k) {
      const auto v = static_cast<std::int32_t>(std::nearbyint(at(n, k) * inverse));
      const auto clamped = static_cast<std::int8_t>(std::clamp(v, -127, 127));
      q[n * in + k] = clamped;
      sum += clamped;
    }
    scale[n] = s;
    if (row_sum != nullptr) row_sum[n] = sum;
  }
}

namespace {
typedef float v16f __attribute__((vector_size(64)));
typedef std::int32_t v16i __attribute__((vector_size(64)));
typedef std::uint8_t v16b __attribute__((vector_size(16)));
}  // namespace

// Explicit 16-lane vectors: GCC does not vectorize float min/max reductions
// or the clamp-and-narrow without -ffast-math. (Vectors are moved with
// memcpy, never passed to helpers: see vector_math.cc.)
SNAPFORMER_MULTIVERSION void quantize_rows_uint8(const float* x, int64_t rows, int64_t cols, int levels,
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
    const float s = hi > lo ? (hi - lo) / static_cast<float>(levels) : 1.0f;
    const float inverse = 1.0f / s;
    // -lo/s is in [0, levels]; rounding it keeps 0 exactly representable.
    const float z = std::min(static_cast<float>(levels), std::floor(-lo * inverse + 0.5f));
    const float top = static_cast<float>(levels);
    std::uint8_t* out = q + r * cols;
    c = 0;
    for (; c + 16 <= cols; c += 16) {
      std::memcpy(&v, row + c, 64);
      v = v * inverse + (z + 0.5f);  // + 0.5 then truncation: round half up (v >= 0)
      v = v < 0.5f ? v16f{} + 0.5f : v;
      v = v > top + 0.5f ? v16f{} + top : v;
      const v16b bytes = __builtin_convertvector(__builtin_convertvector(v, v16i), v16b);
      std::memcpy(out + c, &bytes, 16);
    }
    for (; c < cols; ++c) {
      const float value = std::min(top, std::max(0.0f, row[c] * inverse + z));
      out[c] = static_cast<std::uint8_t>(static_cast<std::int32_t>(value + 0.5f));
    }
    scale[r] = s;
    zero[r] = static_cast<std::int32_t>(z);
  }
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
