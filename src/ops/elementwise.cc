#include "ops/elementwise.h"

#include <cmath>
#include <limits>

#include "ops/cpu.h"
#include "util/error.h"

namespace snapformer::ops {
namespace {

// Vectorized exact-erf GELU, written once with GCC vector extensions and
// compiled for AVX-512 and AVX2 (the caller's target attribute decides).
// erf uses Abramowitz & Stegun 7.1.26 (|error| <= 1.5e-7), exp a degree-6
// polynomial after range reduction: GELU differs from std::erf's by < 1e-6.
// Vectors are passed by reference: passing them by value in a function not
// itself compiled for AVX makes GCC print a note about the vector ABI.
template <typename V, typename VI>
__attribute__((always_inline)) inline void exp_negative(V& x) {  // in place; x <= 0
  x = x < V{} - 87.0f ? V{} - 87.0f : x;
  const V scaled = x * 1.44269504088896341f - 0.5f;
  const VI n = __builtin_convertvector(scaled, VI);  // trunc(x/ln2 - 0.5) = round for x <= 0
  const V nf = __builtin_convertvector(n, V);
  const V r = x - nf * 0.693359375f + nf * 2.12194440e-4f;
  V p = V{} + 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const VI bits = (n + 127) << 23;
  V scale;
  __builtin_memcpy(&scale, &bits, sizeof scale);
  x = p * scale;
}

template <typename V, typename VI>
__attribute__((always_inline)) inline void gelu_erf_vector(V& x) {  // in place
  const V z = x * 0.70710678118654752f;
  const V a = z < 0 ? -z : z;
  const V t = 1.0f / (1.0f + 0.3275911f * a);
  V poly = V{} + 1.061405429f;
  poly = poly * t - 1.453152027f;
  poly = poly * t + 1.421413741f;
  poly = poly * t - 0.284496736f;
  poly = poly * t + 0.254829592f;
  V e = -(a * a);
  exp_negative<V, VI>(e);
  const V erf_abs = 1.0f - poly * t * e;
  const V erf = z < 0 ? -erf_abs : erf_abs;
  x = 0.5f * x * (1.0f + erf);
}

template <typename V, typename VI>
__attribute__((always_inline)) inline int64_t gelu_erf_span(float* x, int64_t count) {
  constexpr int64_t lanes = sizeof(V) / sizeof(float);
  int64_t i = 0;
  for (; i + lanes <= count; i += lanes) {
    V v;
    __builtin_memcpy(&v, x + i, sizeof v);
    gelu_erf_vector<V, VI>(v);
    __builtin_memcpy(x + i, &v, sizeof v);
  }
  return i;  // elements done; the caller finishes the tail
}

typedef float v16sf __attribute__((vector_size(64)));
typedef int v16si __attribute__((vector_size(64)));
typedef float v8sf __attribute__((vector_size(32)));
typedef int v8si __attribute__((vector_size(32)));

__attribute__((target("avx512f"))) int64_t gelu_erf_avx512(float* x, int64_t count) {
  return gelu_erf_span<v16sf, v16si>(x, count);
}
__attribute__((target("avx2,fma"))) int64_t gelu_erf_avx2(float* x, int64_t count) {
  return gelu_erf_span<v8sf, v8si>(x, count);
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

void activate(Activation activation, float* x, int64_t count) {
  switch (activation) {
    case Activation::kGeluErf: {
      int64_t done = 0;
      switch (active_isa()) {
        case Isa::kAvx512: done = gelu_erf_avx512(x, count); break;
        case Isa::kAvx2: done = gelu_erf_avx2(x, count); break;
        case Isa::kPortable: break;
      }
      for (int64_t i = done; i < count; ++i) x[i] = 0.5f * x[i] * (1.0f + std::erf(x[i] * 0.70710678118654752f));
      break;
    }
    case Activation::kGeluTanh:
      for (int64_t i = 0; i < count; ++i) {
        const float v = x[i];
        x[i] = 0.5f * v * (1.0f + std::tanh(0.7978845608028654f * (v + 0.044715f * v * v * v)));
      }
      break;
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
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * dim;
    const float* rr = residual ? residual + r * dim : nullptr;
    float* o = out + r * dim;
    // Two passes in double keep the mean/variance exact enough for 1e-12 epsilons.
    double sum = 0.0;
    for (int64_t i = 0; i < dim; ++i) {
      const float v = rr ? xr[i] + rr[i] : xr[i];
      o[i] = v;
      sum += v;
    }
    const double mean = sum / static_cast<double>(dim);
    double squares = 0.0;
    for (int64_t i = 0; i < dim; ++i) {
      const double d = o[i] - mean;
      squares += d * d;
    }
    const float inv = static_cast<float>(1.0 / std::sqrt(squares / static_cast<double>(dim) + eps));
    const float m = static_cast<float>(mean);
    for (int64_t i = 0; i < dim; ++i) o[i] = (o[i] - m) * inv * gamma[i] + beta[i];
  }
}

void softmax(float* x, int64_t count) {
  float maximum = -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < count; ++i) maximum = x[i] > maximum ? x[i] : maximum;
  float sum = 0.0f;
  for (int64_t i = 0; i < count; ++i) {
    x[i] = std::exp(x[i] - maximum);
    sum += x[i];
  }
  const float inv = 1.0f / sum;
  for (int64_t i = 0; i < count; ++i) x[i] *= inv;
}

void add_in_place(float* x, const float* y, int64_t count) {
  for (int64_t i = 0; i < count; ++i) x[i] += y[i];
}

}  // namespace snapformer::ops
