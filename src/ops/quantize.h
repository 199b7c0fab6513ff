// Number-format conversions for the bf16 and int8 modes (see precision.h).
//
// Weights are converted once, at load (or by `snapformer quantize`), always
// to the output-major [out, in] layout that the low-precision GEMMs read in
// place. Activations are converted per call, row by row.
//
// All functions are pure and thread-safe, with AVX2/AVX-512 forms chosen at
// run time (one binary for every CPU). weight_to_bfloat16 and
// quantize_weight_int8 split their channels over the global thread pool (so
// they must not be called from inside one of the pool's loops).
#pragma once

#include <cstdint>

namespace snapformer::ops {

// float32 -> bfloat16, rounding to nearest even (NaN stays NaN).
std::uint16_t float_to_bfloat16(float value);
void floats_to_bfloat16(const float* x, int64_t n, std::uint16_t* out);

// bf16 weights [out, in] from float32 weights stored [out, in], or [in, out]
// when `input_major` (GPT-2's Conv1D).
void weight_to_bfloat16(const float* weight, int64_t out, int64_t in, bool input_major, std::uint16_t* dst);

// Symmetric per-output-channel int8: q[n,k] = round(w[n,k] / scale[n]) with
// scale[n] = max_k |w[n,k]| / 127, and row_sum[n] = Σ_k q[n,k] (which the
// GEMM needs to undo the activations' zero points; nullptr: not wanted).
// Layouts as above.
void quantize_weight_int8(const float* weight, int64_t out, int64_t in, bool input_major, std::int8_t* q, float* scale,
                          std::int32_t* row_sum);

// Asymmetric per-row uint8: x[r,c] ≈ scale[r] * (q[r,c] - zero[r]), with q in
// [0, levels]. The range always includes 0, so zeros stay exact. `levels` is
// 255, or 127 where the integer GEMM sums u8·s8 pairs in saturating int16
// (CPUs without VNNI): 2·127·127 fits, 2·255·127 does not.
void quantize_rows_uint8(const float* x, int64_t rows, int64_t cols, int levels, std::uint8_t* q, float* scale,
                         std::int32_t* zero);

// y[r, c0..c1) = scale[r] * weight_scale[c] * (acc[r,c] - zero[r] * row_sum[c]) + bias[c]
// (bias may be null); acc and y have row stride `stride`.
void dequantize_columns(const std::int32_t* acc, int64_t rows, int64_t c0, int64_t c1, int64_t stride,
                        const float* scale, const std::int32_t* zero, const float* weight_scale,
                        const std::int32_t* row_sum, const float* bias, float* y);

}  // namespace snapformer::ops
