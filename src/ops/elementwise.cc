#include "ops/elementwise.h"

#include "ops/intrinsics.h"

#include <cmath>
#include <iterator>
#include <limits>

#include "ops/cpu.h"
#include "ops/simd.h"
#include "ops/vector_exp.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace snapformer::ops {
namespace {

// Both GELUs are x·Φ(x) with Φ(x) - 1/2 odd and smooth, saturating at ±1/2.
// With x clamped to ±X, where Φ is within ~1e-7 of 0 or 1, Φ(x) - 1/2 =
// x·Q(t), Q a polynomial in t = 2x²/X² - 1 ∈ [-1, 1] fitted (Chebyshev,
// reweighted towards minimax) in double precision by scripts/fit-polynomials,
// which prints the coefficients below and their errors. ~20 vector operations
// (clamp, t, Horner, product) where the forms before them took ~30 with a
// division and an exp: 0.62 -> 0.42 ns per value on one Zen 4 core. Written
// once with GCC vector extensions and compiled for AVX-512 and AVX2 (the
// caller's target attribute decides).
template <typename V, int kDegree>
__attribute__((always_inline)) inline void gelu_polynomial(V& x, float clamp, const float (&q)[kDegree + 1]) {
  V c = x > clamp ? V{} + clamp : x;
  c = c < -clamp ? V{} - clamp : c;
  const V t = c * (c * (2.0f / (clamp * clamp))) - 1.0f;
  V poly = V{} + q[kDegree];
#pragma GCC unroll 16
  for (int k = kDegree - 1; k >= 0; --k) poly = poly * t + q[k];
  // Below -X, Φ's float32 residue (~4e-8) would grow with |x|: GELU is 0 there.
  x = x > -clamp ? x * (c * poly + 0.5f) : V{};
}

// Exact-erf GELU: Φ(x) = 1/2 + 1/2·erf(x/√2), X = 3.9·√2 (erf(3.9) is
// within 4e-8 of 1), degree 14. Against double-precision erf over [-12, 12]:
// |error| < 8e-7, relative error under 1e-7 past X (the Abramowitz-Stegun
// form before it: < 5e-7).
struct GeluErf {
  static constexpr float kClamp = 5.515432834625244f;
  static constexpr float kCoefficients[] = {
      1.281927997e-01f, -6.399722709e-02f, 4.761972605e-02f, -3.871967049e-02f, 3.207048484e-02f,
      -2.616200829e-02f, 2.038021446e-02f, -1.477339141e-02f, 1.059358111e-02f, -7.831867928e-03f,
      4.330409970e-03f, -1.230186178e-03f, 1.046867285e-03f, -1.429306771e-03f, 5.642947372e-04f};
};

// GPT-2's gelu_new: Φ(x) = 1/2 + 1/2·tanh(√(2/π)(x + 0.044715x³)), X = 4.8
// (tanh(7.78) is within 4e-7 of 1; the fit absorbs it), degree 13. Against
// double-precision tanh over [-12, 12]: |error| < 1e-6 (the form before it:
// tanh from one exp and a division, < 1e-6).
struct GeluTanh {
  static constexpr float kClamp = 4.800000190734863f;
  static constexpr float kCoefficients[] = {
      1.472334865e-01f, -7.306261162e-02f, 5.305951936e-02f, -4.067883404e-02f, 3.030724980e-02f,
      -2.123989659e-02f, 1.415607771e-02f, -8.798932518e-03f, 4.351862457e-03f, -2.137209042e-03f,
      2.284422876e-03f, -1.658668447e-03f, 1.621759857e-04f, 1.880080216e-04f};
};

// The short forms (ActivationAccuracy::kBeforeRounding): degree 8, X = 3·√2
// (erf) and 4.2 (tanh); |error| < 5e-5 (erf) and < 4e-5 (tanh) against
// double precision over [-12, 12], ~400x under the step of the 8-bit
// quantization that follows in an int8 model, and under bf16's rounding of
// values past ~0.02. Six fewer FMAs per vector: int8 bert-base at 32 tokens
// ~1% faster (1 thread, 5 alternating rounds: 4 faster, 1 equal).
struct GeluErfShort {
  static constexpr float kClamp = 4.242640687119285f;
  static constexpr float kCoefficients[] = {1.662156039e-01f, -8.086775607e-02f, 5.571941223e-02f,
                                            -3.929485057e-02f, 2.550756734e-02f, -1.404733785e-02f,
                                            8.512101865e-03f, -6.316373020e-03f, 2.422125137e-03f};
};
struct GeluTanhShort {
  static constexpr float kClamp = 4.199999809265137f;
  static constexpr float kCoefficients[] = {1.679037799e-01f, -8.158117747e-02f, 5.583944783e-02f,
                                            -3.881544884e-02f, 2.455412630e-02f, -1.297268305e-02f,
                                            8.045544664e-03f, -6.556199442e-03f, 2.630955909e-03f};
};

// A GELU form (its X and Q, above) applied to a vector in place: map_vectors' Function.
template <typename Form>
struct Gelu {
  template <typename V>
  __attribute__((always_inline)) static inline void apply(V& x) {
    gelu_polynomial<V, std::size(Form::kCoefficients) - 1>(x, Form::kClamp, Form::kCoefficients);
  }
};

// Applies `function` in place to every whole vector of x.
template <typename V, void (*function)(V&)>
__attribute__((always_inline)) inline int64_t map_span(float* x, int64_t count) {
  constexpr int64_t lanes = sizeof(V) / sizeof(float);
  int64_t i = 0;
  for (; i + lanes <= count; i += lanes) {
    V v;
    __builtin_memcpy(&v, x + i, sizeof v);
    function(v);
    __builtin_memcpy(x + i, &v, sizeof v);
  }
  return i;  // elements done; the caller finishes the tail
}

// x[i] = exp(x[i] - maximum) for whole vectors; returns the elements done and
// adds their sum to `sum`.
template <typename V, typename VI>
__attribute__((always_inline)) inline int64_t exp_shifted_span(float* x, int64_t count, float maximum, float& sum) {
  constexpr int64_t lanes = sizeof(V) / sizeof(float);
  V total{};
  int64_t i = 0;
  for (; i + lanes <= count; i += lanes) {
    V v;
    __builtin_memcpy(&v, x + i, sizeof v);
    v -= maximum;
    exp_negative<V, VI>(v);
    total += v;
    __builtin_memcpy(x + i, &v, sizeof v);
  }
  for (int64_t k = 0; k < lanes; ++k) sum += total[k];
  return i;
}

// map_span of Function::apply, compiled for AVX-512 and for AVX2; the
// caller finishes the elements after the returned count.
template <typename Function>
__attribute__((target("avx512f"))) int64_t map_avx512(float* x, int64_t count) {
  return map_span<v16sf, Function::template apply<v16sf>>(x, count);
}
template <typename Function>
__attribute__((target("avx2,fma"))) int64_t map_avx2(float* x, int64_t count) {
  return map_span<v8sf, Function::template apply<v8sf>>(x, count);
}
template <typename Function>
int64_t map_vectors(float* x, int64_t count) {
  switch (active_isa()) {
    case Isa::kAvx512: return map_avx512<Function>(x, count);
    case Isa::kAvx2: return map_avx2<Function>(x, count);
    case Isa::kPortable: break;
  }
  return 0;
}

__attribute__((target("avx512f"))) int64_t exp_shifted_avx512(float* x, int64_t count, float maximum, float& sum) {
  return exp_shifted_span<v16sf, v16si>(x, count, maximum, sum);
}
__attribute__((target("avx2,fma"))) int64_t exp_shifted_avx2(float* x, int64_t count, float maximum, float& sum) {
  return exp_shifted_span<v8sf, v8si>(x, count, maximum, sum);
}

// op of a vector's 16 lanes, in every lane: 4 steps of halves swapped.
struct Maximum {
  __attribute__((target("avx512f"), always_inline)) __m512 operator()(__m512 a, __m512 b) const {
    return _mm512_max_ps(a, b);
  }
};
struct Sum {
  __attribute__((target("avx512f"), always_inline)) __m512 operator()(__m512 a, __m512 b) const {
    return _mm512_add_ps(a, b);
  }
};
template <typename Op>
__attribute__((target("avx512f"), always_inline)) inline __m512 across_lanes(__m512 v) {
  const Op op;
  v = op(v, _mm512_shuffle_f32x4(v, v, _MM_SHUFFLE(1, 0, 3, 2)));
  v = op(v, _mm512_shuffle_f32x4(v, v, _MM_SHUFFLE(2, 3, 0, 1)));
  v = op(v, _mm512_permute_ps(v, _MM_SHUFFLE(1, 0, 3, 2)));
  return op(v, _mm512_permute_ps(v, _MM_SHUFFLE(2, 3, 0, 1)));
}

// softmax of at most 16 values in one masked vector: the attention rows of
// short inputs (10 keys), which the whole-vector forms left to scalar code
// (a libm exp per value, a sum and a maximum over a vector of 16 lanes after
// no whole vector at all): 2-3% of an int8 DistilBERT batch of 10-token inputs.
__attribute__((target("avx512f"))) void softmax_short_avx512(float* x, int64_t count) {
  const __mmask16 mask = static_cast<__mmask16>((1u << count) - 1);
  const __m512 v = _mm512_mask_loadu_ps(_mm512_set1_ps(-std::numeric_limits<float>::infinity()), mask, x);
  const __m512 maximum = across_lanes<Maximum>(v);
  v16sf e = reinterpret_cast<v16sf>(_mm512_sub_ps(v, maximum));
  exp_negative<v16sf, v16si>(e);
  const __m512 numerators = _mm512_maskz_mov_ps(mask, reinterpret_cast<__m512>(e));
  const __m512 sum = across_lanes<Sum>(numerators);
  _mm512_mask_storeu_ps(x, mask, _mm512_div_ps(numerators, sum));
}

// max_value and layer_norm_row keep their per-lane state in 16 float lanes
// whatever the vector width (kVectorsPer16Floats, ops/simd.h), so every ISA
// adds LayerNorm's values in the same order. Callers reach them through the
// ISA switches below; `always_inline` makes them compile for the caller's
// target.

// The largest value (GCC does not vectorize a float max reduction on its own
// without -ffast-math). NaNs are skipped, as the scalar tail does.
template <typename V>
__attribute__((always_inline)) inline float max_value_span(const float* x, int64_t count) {
  constexpr int width = kFloatsIn<V>, parts = kVectorsPer16Floats<V>;
  const float lowest = -std::numeric_limits<float>::infinity();
  V lanes[parts];
#pragma GCC unroll 4
  for (int p = 0; p < parts; ++p) lanes[p] = V{} + lowest;
  int64_t i = 0;
  for (; i + 16 <= count; i += 16) {
#pragma GCC unroll 4
    for (int p = 0; p < parts; ++p) {
      V v;
      __builtin_memcpy(&v, x + i + p * width, sizeof v);
      lanes[p] = v > lanes[p] ? v : lanes[p];
    }
  }
  float maximum = lowest;
  for (int p = 0; p < parts; ++p)
    for (int k = 0; k < width; ++k) maximum = lanes[p][k] > maximum ? lanes[p][k] : maximum;
  for (; i < count; ++i) maximum = x[i] > maximum ? x[i] : maximum;
  return maximum;
}

// One LayerNorm row. Sums run in 16 float lanes (each lane adds dim/16
// values; lanes are combined in double), which keeps the mean and variance
// within ~1e-7 relative for the widths of these models while vectorizing.
template <typename V>
__attribute__((always_inline)) inline void layer_norm_row_span(const float* x, const float* residual, int64_t dim,
                                                                const float* gamma, const float* beta, float eps,
                                                                float* o) {
  constexpr int width = kFloatsIn<V>, parts = kVectorsPer16Floats<V>;
  V lanes[parts] = {};
  int64_t i = 0;
  for (; i + 16 <= dim; i += 16) {
#pragma GCC unroll 4
    for (int p = 0; p < parts; ++p) {
      V v;
      __builtin_memcpy(&v, x + i + p * width, sizeof v);
      if (residual != nullptr) {
        V r;
        __builtin_memcpy(&r, residual + i + p * width, sizeof r);
        v += r;
      }
      __builtin_memcpy(o + i + p * width, &v, sizeof v);
      lanes[p] += v;
    }
  }
  double sum = 0.0;
  for (int p = 0; p < parts; ++p)
    for (int k = 0; k < width; ++k) sum += lanes[p][k];
  for (; i < dim; ++i) {
    o[i] = residual != nullptr ? x[i] + residual[i] : x[i];
    sum += o[i];
  }
  const double mean = sum / static_cast<double>(dim);
  const float m = static_cast<float>(mean);
#pragma GCC unroll 4
  for (int p = 0; p < parts; ++p) lanes[p] = V{};
  for (i = 0; i + 16 <= dim; i += 16) {
#pragma GCC unroll 4
    for (int p = 0; p < parts; ++p) {
      V v;
      __builtin_memcpy(&v, o + i + p * width, sizeof v);
      v -= m;
      lanes[p] += v * v;
    }
  }
  double squares = 0.0;
  for (int p = 0; p < parts; ++p)
    for (int k = 0; k < width; ++k) squares += lanes[p][k];
  for (; i < dim; ++i) {
    const double d = o[i] - mean;
    squares += d * d;
  }
  const float inv = static_cast<float>(1.0 / std::sqrt(squares / static_cast<double>(dim) + eps));
  for (i = 0; i < dim; ++i) o[i] = (o[i] - m) * inv * gamma[i] + beta[i];
}

__attribute__((target("avx512f"))) float max_value_avx512(const float* x, int64_t count) {
  return max_value_span<v16sf>(x, count);
}
__attribute__((target("avx2,fma"))) float max_value_avx2(const float* x, int64_t count) {
  return max_value_span<v8sf>(x, count);
}
float max_value(const float* x, int64_t count) {
  switch (active_isa()) {
    case Isa::kAvx512: return max_value_avx512(x, count);
    case Isa::kAvx2: return max_value_avx2(x, count);
    case Isa::kPortable: break;
  }
  return max_value_span<v4sf>(x, count);
}

__attribute__((target("avx512f"))) void layer_norm_row_avx512(const float* x, const float* residual, int64_t dim,
                                                              const float* gamma, const float* beta, float eps,
                                                              float* o) {
  layer_norm_row_span<v16sf>(x, residual, dim, gamma, beta, eps, o);
}
__attribute__((target("avx2,fma"))) void layer_norm_row_avx2(const float* x, const float* residual, int64_t dim,
                                                            const float* gamma, const float* beta, float eps,
                                                            float* o) {
  layer_norm_row_span<v8sf>(x, residual, dim, gamma, beta, eps, o);
}
void layer_norm_row(const float* x, const float* residual, int64_t dim, const float* gamma, const float* beta,
                    float eps, float* o) {
  switch (active_isa()) {
    case Isa::kAvx512: return layer_norm_row_avx512(x, residual, dim, gamma, beta, eps, o);
    case Isa::kAvx2: return layer_norm_row_avx2(x, residual, dim, gamma, beta, eps, o);
    case Isa::kPortable: break;
  }
  layer_norm_row_span<v4sf>(x, residual, dim, gamma, beta, eps, o);
}

}  // namespace

Activation parse_activation(const std::string& name, const std::string& where) {
  if (name == "gelu") return Activation::kGeluErf;
  if (name == "gelu_new" || name == "gelu_pytorch_tanh" || name == "gelu_fast") return Activation::kGeluTanh;
  if (name == "relu") return Activation::kRelu;
  if (name == "silu" || name == "swish") return Activation::kSilu;
  if (name == "tanh") return Activation::kTanh;
  throw Error(where + ": unsupported activation '" + name + "'");
}

void activate(Activation activation, float* x, int64_t count, ActivationAccuracy accuracy) {
  const bool short_form = accuracy == ActivationAccuracy::kBeforeRounding;
  switch (activation) {
    case Activation::kGeluErf: {
      const int64_t done = short_form ? map_vectors<Gelu<GeluErfShort>>(x, count) : map_vectors<Gelu<GeluErf>>(x, count);
      for (int64_t i = done; i < count; ++i) x[i] = 0.5f * x[i] * (1.0f + std::erf(x[i] * 0.70710678118654752f));
      break;
    }
    case Activation::kGeluTanh: {
      const int64_t done = short_form ? map_vectors<Gelu<GeluTanhShort>>(x, count) : map_vectors<Gelu<GeluTanh>>(x, count);
      for (int64_t i = done; i < count; ++i) {
        const float v = x[i];
        x[i] = 0.5f * v * (1.0f + std::tanh(0.7978845608028654f * (v + 0.044715f * v * v * v)));
      }
      break;
    }
    case Activation::kRelu:
      for (int64_t i = 0; i < count; ++i) x[i] = x[i] > 0.0f ? x[i] : 0.0f;
      break;
    case Activation::kSilu:
      for (int64_t i = 0; i < count; ++i) x[i] = x[i] / (1.0f + std::exp(-x[i]));
      break;
    case Activation::kTanh:
      for (int64_t i = 0; i < count; ++i) x[i] = std::tanh(x[i]);
      break;
  }
}

void layer_norm(const float* x, const float* residual, int64_t rows, int64_t dim, const float* gamma,
                const float* beta, float eps, float* out) {
  auto run = [&](int64_t first, int64_t last) {
    for (int64_t r = first; r < last; ++r)
      layer_norm_row(x + r * dim, residual ? residual + r * dim : nullptr, dim, gamma, beta, eps, out + r * dim);
  };
  // From ~20 rows of 768 on, the rows are split over the pool (on one core
  // they kept the others waiting at every layer); fewer take ~10 us or less,
  // not worth waking it.
  constexpr int64_t kParallelValues = int64_t{1} << 14;
  if (rows < 2 || rows * dim < kParallelValues) run(0, rows);
  else ThreadPool::global().parallel_for(rows, run);
}

float exp_shifted(float* x, int64_t count, float maximum) {
  float sum = 0.0f;
  int64_t done = 0;
  switch (active_isa()) {
    case Isa::kAvx512: done = exp_shifted_avx512(x, count, maximum, sum); break;
    case Isa::kAvx2: done = exp_shifted_avx2(x, count, maximum, sum); break;
    case Isa::kPortable: break;
  }
  for (int64_t i = done; i < count; ++i) {
    x[i] = std::exp(x[i] - maximum);
    sum += x[i];
  }
  return sum;
}

void softmax(float* x, int64_t count) {
  if (count <= 16 && active_isa() == Isa::kAvx512) return softmax_short_avx512(x, count);
  const float sum = exp_shifted(x, count, max_value(x, count));
  const float inv = 1.0f / sum;
  for (int64_t i = 0; i < count; ++i) x[i] *= inv;
}

void add_in_place(float* x, const float* y, int64_t count) {
  for (int64_t i = 0; i < count; ++i) x[i] += y[i];
}

}  // namespace snapformer::ops
