// int8 weights in VNNI panels, and the GEMM that reads them (AVX512-VNNI).
//
// VPDPBUSD multiplies 4 adjacent u8 activations by 4 adjacent s8 weights and
// adds the 4 products into one 32-bit lane, 16 lanes per instruction. With
// the weights stored row-major ([out, in], as loaded), each lane sums part
// of one output and every output ends in a horizontal sum; stored as panels,
// the 16 lanes are 16 outputs, one 4-byte broadcast of an input row feeds a
// whole 64-byte weight load, and the sums land in the output's order: no
// horizontal work, and an 8-row x 48-column block keeps 24 accumulators in
// registers. Against the row-major weights (the in-place kernel up to 32
// rows, oneDNN's GEMM, which packs on every call, above), Zen 4, 1 thread,
// 3 alternating rounds, medians (docs/BENCHMARKS.md, tenth session):
// bert-base int8 at 8 tokens 7.8-9.5 -> 5.7-6.2 ms, 32 tokens 22.3-28.3 ->
// 16.2-17.1, 128 tokens 73-80 -> 62-69, 512 tokens equal (both at the VNNI
// peak); GPT-2 int8 time to first token 8.8-11.4 -> 6.8-8.4, decoding equal.
//
// Layout: panel p holds outputs [16p, 16p + 16), group g inputs [4g, 4g + 4);
// byte (p * groups + g) * 64 + 4 * c + j is w[16p + c, 4g + j], with
// groups = ceil(in / 4), and 0 where 16p + c >= out or 4g + j >= in.
//
// Weights are packed once, at load (models/linear_weights.cc); loading
// chooses panels where int8_uses_vnni() (cpu.h). All functions are pure and
// thread-safe; pack_int8_panels and unpack_int8_panels share their panels
// out over the global thread pool (so they must not be called from inside
// one of the pool's loops).
#pragma once

#include <cstdint>
#include <vector>

namespace snapformer::ops {

// Bytes of the panels of an [out, in] weight (out and in rounded up to 16 and 4).
int64_t int8_panel_bytes(int64_t out, int64_t in);

// Their shape as a tensor: [panels, groups, 64] (how `snapformer quantize`
// stores them).
std::vector<int64_t> int8_panel_shape(int64_t out, int64_t in);

// panels (int8_panel_bytes(out, in) bytes, every one written: the buffer
// needs no initialization) from w [out, in] row-major.
void pack_int8_panels(const std::int8_t* w, int64_t out, int64_t in, std::int8_t* panels);

// w [out, in] row-major from panels: the inverse of pack_int8_panels (for
// a folder stored in panels, loaded where the int8 kernels read rows).
void unpack_int8_panels(const std::int8_t* panels, int64_t out, int64_t in, std::int8_t* w);

// How the int32 sums become outputs, as dequantize_columns (quantize.h):
// y[r, c] = scale[r] · weight_scale[c] · (Σ - zero[r] · row_sum[c]) + bias[c].
// All borrowed; bias may be null.
struct Int8Dequantize {
  const float* scale;
  const std::int32_t* zero;
  const float* weight_scale;
  const std::int32_t* row_sum;
  const float* bias;
};

// y[r, c] from Σ_i x[r, i] · w[c, i] (exact int32 sums, dequantized as
// above) for r < rows and c in [c0, c1), rows of y `stride` apart. Needs the
// CPU's AVX512-VNNI (int8_uses_vnni() when the panels were made), c0 a
// multiple of 16 and c1 a multiple of 16 or `out`. Rows of x are `x_stride`
// apart and each is read for ceil(k / 4) * 4 bytes: bytes past k meet zero
// weights, so any value is fine there, but they must be readable (a buffer
// of rows * x_stride bytes needs 3 more after it when k % 4 != 0).
void gemm_u8s8_panels(const std::uint8_t* x, int64_t rows, int64_t k, int64_t x_stride, const std::int8_t* panels,
                      int64_t c0, int64_t c1, const Int8Dequantize& dequantize, float* y, int64_t stride);

}  // namespace snapformer::ops
