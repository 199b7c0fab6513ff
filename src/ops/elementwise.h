// Row-wise and element-wise kernels: LayerNorm, activations, softmax.
// All operate in place or on caller-owned buffers; all are reentrant.
#pragma once

#include <cstdint>
#include <string>

namespace snapformer::ops {

enum class Activation { kGeluErf, kGeluTanh, kRelu, kSilu, kTanh };

// Maps a Hugging Face activation name (hidden_act / activation_function) to
// an Activation; throws Error naming the unsupported value.
Activation parse_activation(const std::string& name, const std::string& where);

// How exact an activation must be. kFloat32: within ~1e-6 of double
// precision. kBeforeRounding: its output is rounded next, to 8 bits (the
// activations of an int8 layer) or to bf16, so an error of ~5e-5 vanishes in
// that rounding; the GELUs then take a shorter polynomial. Other activations
// are the same in both.
enum class ActivationAccuracy { kFloat32, kBeforeRounding };

void activate(Activation activation, float* x, int64_t count,
              ActivationAccuracy accuracy = ActivationAccuracy::kFloat32);

// out = LayerNorm(x (+ residual)) with gamma/beta over rows of `dim`.
// `residual` may be nullptr. `out` may alias `x`. Many rows are split over
// the thread pool (so do not call it from inside a pool task).
void layer_norm(const float* x, const float* residual, int64_t rows, int64_t dim, const float* gamma,
                const float* beta, float eps, float* out);

// In-place softmax over `count` values; returns nothing, handles -inf entries.
void softmax(float* x, int64_t count);

// x[i] = exp(x[i] - maximum) in place, for x[i] <= maximum; returns the sum.
// (softmax without the division; the online softmax of attention uses it.)
float exp_shifted(float* x, int64_t count, float maximum);

// x += y, element-wise.
void add_in_place(float* x, const float* y, int64_t count);

}  // namespace snapformer::ops
