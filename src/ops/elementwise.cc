#include "ops/elementwise.h"

#include <cmath>
#include <limits>

#include "util/error.h"

namespace snapformer::ops {

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
    case Activation::kGeluErf:
      for (int64_t i = 0; i < count; ++i) x[i] = 0.5f * x[i] * (1.0f + std::erf(x[i] * 0.70710678118654752f));
      break;
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
