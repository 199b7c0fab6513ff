// Linear layers: y = x·Wᵀ + b over a block of rows, in the model's precision.
//
// Weights are borrowed (pointers into the model's mapped file or into buffers
// the model owns); a Linear never owns memory. Thread-safety: apply() is const
// and reentrant; GEMMs run on the global thread pool.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>

#include "ops/elementwise.h"
#include "ops/precision.h"

namespace snapformer::ops {

// Up to this many rows the in-place small-GEMM kernels beat oneDNN's sgemm;
// above it sgemm's packing pays off. AVX-512 (bert-base, 1 thread,
// alternating runs): even at 16-24 rows, sgemm 12-14% faster at 32 and 48.
// AVX2 (Zen 3, layers read from memory): equal at 16-24 rows for 768x768
// and 3072x768, the kernel 7% faster for 768x3072; sgemm 20-40% faster at 32.
// On AVX2, 13-384 rows go to the panel kernel instead (panel_gemm.h), which
// beats both.
inline constexpr int64_t kSmallGemmRows = 24;

struct Linear {
  int64_t in = 0;
  int64_t out = 0;
  const float* bias = nullptr;  // [out] or nullptr
  Precision precision = Precision::kFp32;

  // fp32: [out, in] (torch.nn.Linear) or [in, out] when input_major.
  const float* weight = nullptr;
  bool input_major = false;  // GPT-2's Conv1D stores [in, out]

  // bf16: [out, in] bfloat16 bits.
  const std::uint16_t* weight_bf16 = nullptr;

  // int8: [out, in] quantized per output channel (quantize.h), with the
  // channel scales and the channels' sums of quantized values; on CPUs whose
  // int8 kernels take VNNI, the same weights in VNNI panels instead
  // (int8_panels.h: weight_int8 null, weight_int8_panels set).
  const std::int8_t* weight_int8 = nullptr;
  const std::int8_t* weight_int8_panels = nullptr;
  const float* weight_scale = nullptr;
  const std::int32_t* weight_sum = nullptr;

  // A float32 layer over borrowed weights.
  static Linear fp32(const float* weight, const float* bias, int64_t in, int64_t out, bool input_major = false) {
    Linear l;
    l.in = in;
    l.out = out;
    l.bias = bias;
    l.weight = weight;
    l.input_major = input_major;
    return l;
  }

  // y[rows, out] = x[rows, in] · W + b, then `then` (e.g. GELU) applied to
  // each block of columns right after it is computed, while it is still in
  // cache (bias + activation fused: no second pass over y). `y` must not
  // alias `x`. In bf16 and int8 the activation takes its
  // ActivationAccuracy::kBeforeRounding form: an activated layer's output is
  // the input of the next layer of the same precision, which rounds it.
  void apply(const float* x, int64_t rows, float* y, std::optional<Activation> then = std::nullopt) const;
};

// oneDNN generates its sgemm kernels on the first call in a process (35-55 ms
// on this project's machine), wherever that call comes from. This makes that
// call on a background thread, once per process, so that it overlaps with
// loading (a GPT-2 tokenizer takes ~15 ms) instead of delaying the first
// forward pass; a GEMM that starts earlier waits for it inside oneDNN.
// Returns the thread's owner (null when the warm-up already ran): the thread
// is joined when the last copy is destroyed. Keep it in the object that runs
// the GEMMs and destroy that before main() returns: a thread still inside
// oneDNN's first call when exit() destroys oneDNN's statics crashed the
// process (a static joiner ran too late: statics constructed by that call
// are destroyed before those constructed earlier). Thread-safe.
[[nodiscard]] std::shared_ptr<void> warm_up_gemm_in_background();

// C[m,n] = A[m,k] · B[k,n] (row-major, leading dimensions given), optionally accumulating.
void gemm(bool transpose_a, bool transpose_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
          const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

// ys[i] = linears[i]->apply(x, rows) for layers that read the same input (a
// layer's query, key and value projections). int8 layers quantize x once,
// not once per layer, and run all the layers' column slices as one loop over
// the pool (one wait for the slowest thread, not one per layer); other
// precisions apply each in turn. The layers share `in` and precision.
void apply_to_same_input(std::span<const Linear* const> linears, const float* x, int64_t rows,
                         std::span<float* const> ys);

// The low-precision paths of Linear::apply (lowp_linear.cc).
void apply_bf16(const Linear& linear, const float* x, int64_t rows, float* y, std::optional<Activation> then);
void apply_int8(const Linear& linear, const float* x, int64_t rows, float* y, std::optional<Activation> then);
void apply_int8_to_same_input(std::span<const Linear* const> linears, const float* x, int64_t rows,
                              std::span<float* const> ys);

// Applies `then` to columns [c0, c1) of every row of y (row stride `stride`).
inline void activate_columns(std::optional<Activation> then, float* y, int64_t rows, int64_t stride, int64_t c0,
                             int64_t c1, ActivationAccuracy accuracy = ActivationAccuracy::kFloat32) {
  if (!then) return;
  for (int64_t r = 0; r < rows; ++r) activate(*then, y + r * stride + c0, c1 - c0, accuracy);
}

// Throws Error when oneDNN cannot run `precision` on this CPU (bf16 needs AVX-512).
void check_precision_supported(Precision precision);

}  // namespace snapformer::ops
