#include "ops/int8_panels.h"

#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "util/thread_pool.h"

namespace snapformer::ops {

namespace {

constexpr int64_t kPanelColumns = 16;  // outputs per panel: one vector of int32 sums
constexpr int64_t kGroupInputs = 4;    // inputs per group: VPDPBUSD's 4-byte dot product
constexpr int64_t kGroupBytes = kPanelColumns * kGroupInputs;

constexpr int kBlockRows = 8;    // input rows per block: 8 x 3 accumulators + 3 weights + 1 input of 32 registers
constexpr int kBlockPanels = 3;  // panels per block (48 outputs)

int64_t groups_of(int64_t in) { return (in + kGroupInputs - 1) / kGroupInputs; }
int64_t panels_of(int64_t out) { return (out + kPanelColumns - 1) / kPanelColumns; }

#define SNAPFORMER_VNNI __attribute__((target("avx512f,avx512bw,avx512vnni")))

// One call's operands, shared by its blocks.
struct Operands {
  const std::uint8_t* x;
  int64_t x_stride;
  int64_t groups;
  const Int8Dequantize* dequantize;
  float* y;
  int64_t stride;
};

// y[r0 + r, column + p * column_spread + c] for r < R, c < 16 and the
// block's P panels, panel p at w + p * spread bytes; the last panel writes
// the columns in `last` only. The int32 sums are dequantized as they leave
// the registers (no int32 pass through memory).
//
// `next`: panels (same spread) to fetch into L2 meanwhile, one line per
// panel and group. The first block over a set of panels reads them from
// memory and waits on it (8 rows use each byte 8 times: ~30 GB/s at the
// VNNI peak, more than one core reads); the next blocks find them in L2 and
// leave memory idle, so the second block fetches the panels that follow;
// with 2-8 rows (one block) the first does. bert-base int8, 1 thread,
// alternating rounds, medians: 32 tokens 16.2 -> 15.1 ms (into L1 instead:
// no gain), 8 tokens 5.7 -> 4.6 ms; GPT-2 int8 time to first token (6
// rows) 6.8-7.5 -> 5.7-6.1 ms. One row (decoding) fetches nothing. Nor is
// there a prefetch ahead within the panels being read: the hardware
// prefetcher keeps up with those streams, and prefetching 1 KB ahead, as the
// row-major kernels do (small_gemm_int8.h), made them slower (layers from
// memory, 1 thread, medians: 2-16 rows 768x768 33-43 -> 28-39 us without
// it; GPT-2's LM head for one row 2.1-2.3 -> 1.65-1.78 ms together with the
// one-row order below).
template <int R, int P>
SNAPFORMER_VNNI void panel_block(const Operands& o, int64_t r0, const std::int8_t* w, int64_t spread, int64_t column,
                                 int64_t column_spread, __mmask16 last, const std::int8_t* next) {
  const std::uint8_t* x = o.x + r0 * o.x_stride;
  __m512i sums[R][P];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int p = 0; p < P; ++p) sums[r][p] = _mm512_setzero_si512();
  for (int64_t g = 0; g < o.groups; ++g) {
    __m512i weights[P];
#pragma GCC unroll 4
    for (int p = 0; p < P; ++p) {
      weights[p] = _mm512_loadu_si512(w + p * spread + g * kGroupBytes);
      if (next != nullptr) _mm_prefetch(reinterpret_cast<const char*>(next + p * spread + g * kGroupBytes), _MM_HINT_T1);
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      std::int32_t four;  // x[r, 4g .. 4g + 4), as one lane to broadcast
      std::memcpy(&four, x + r * o.x_stride + g * kGroupInputs, sizeof four);
      const __m512i inputs = _mm512_set1_epi32(four);
#pragma GCC unroll 4
      for (int p = 0; p < P; ++p) sums[r][p] = _mm512_dpbusd_epi32(sums[r][p], inputs, weights[p]);
    }
  }
  // Through a small array: dequantizing straight from `sums` made GCC keep
  // them in memory inside the loop above (a store per VPDPBUSD: 1.7x slower).
  alignas(64) std::int32_t totals[R][P][kPanelColumns];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int p = 0; p < P; ++p) _mm512_store_si512(totals[r][p], sums[r][p]);
  const Int8Dequantize& d = *o.dequantize;
  for (int p = 0; p < P; ++p) {
    const __mmask16 mask = p == P - 1 ? last : __mmask16{0xFFFF};
    const int64_t c = column + p * column_spread;
    const __m512 weight_scale = _mm512_maskz_loadu_ps(mask, d.weight_scale + c);
    const __m512i row_sum = _mm512_maskz_loadu_epi32(mask, d.row_sum + c);
    const __m512 bias = d.bias != nullptr ? _mm512_maskz_loadu_ps(mask, d.bias + c) : _mm512_setzero_ps();
    for (int r = 0; r < R; ++r) {
      const __m512i centered = _mm512_sub_epi32(_mm512_load_si512(totals[r][p]),
                                                _mm512_mullo_epi32(_mm512_set1_epi32(d.zero[r0 + r]), row_sum));
      const __m512 scale = _mm512_mul_ps(_mm512_set1_ps(d.scale[r0 + r]), weight_scale);
      _mm512_mask_storeu_ps(o.y + (r0 + r) * o.stride + c, mask,
                            _mm512_fmadd_ps(scale, _mm512_maskz_cvtepi32_ps(mask, centered), bias));
    }
  }
}

// Rows [r0, rows) against P panels (spread bytes apart; their outputs
// column_spread columns apart): blocks of kBlockRows rows, then the rest;
// one block fetches `next` (panel_block).
template <int P, int R = kBlockRows>
SNAPFORMER_VNNI void rows_against(const Operands& o, int64_t r0, int64_t rows, const std::int8_t* w, int64_t spread,
                                  int64_t column, int64_t column_spread, __mmask16 last, const std::int8_t* next) {
  int64_t r = r0;
  // The block that fetches `next`: the second, or the first of 2-8 rows.
  const int64_t fetching = rows > kBlockRows ? kBlockRows : rows > 1 ? 0 : -1;
  for (; r + R <= rows; r += R)
    panel_block<R, P>(o, r, w, spread, column, column_spread, last, r == fetching ? next : nullptr);
  if constexpr (R > 1) {
    if (r < rows) rows_against<P, R - 1>(o, r, rows, w, spread, column, column_spread, last, next);
  }
}

// for_each_group's work for panel p.
template <typename Move, typename Pad>
void visit_panel(int64_t p, int64_t groups, int64_t whole, int64_t tail, int64_t out, int64_t in, const Move& move,
                 const Pad& pad) {
  const int64_t c0 = p * kPanelColumns, columns = std::min(kPanelColumns, out - c0);
  for (int64_t g = 0, at = p * groups * kGroupBytes; g < groups; ++g, at += kGroupBytes) {
    if (g < whole) {
      for (int64_t c = 0; c < columns; ++c) move(at + c * kGroupInputs, (c0 + c) * in + g * kGroupInputs, kGroupInputs);
    } else {
      for (int64_t c = 0; c < columns; ++c) {
        for (int64_t j = 0; j < tail; ++j) move(at + c * kGroupInputs + j, (c0 + c) * in + g * kGroupInputs + j, int64_t{1});
        pad(at + c * kGroupInputs + tail, kGroupInputs - tail);
      }
    }
    if (columns < kPanelColumns) pad(at + columns * kGroupInputs, (kPanelColumns - columns) * kGroupInputs);
  }
}

// Calls move(panel offset, row-major offset, bytes) for every (output,
// group) pair of an [out, in] weight in the panels' order (each panel
// written or read once, sequentially), whole groups as one 4-byte word,
// and pad(panel offset, bytes) for the padding: outputs past `out`, inputs
// past `in`. Panels are shared out over the global thread pool: loading's
// page faults and copies run on every core.
template <typename Move, typename Pad>
void for_each_group(int64_t out, int64_t in, const Move& move, const Pad& pad) {
  const int64_t groups = groups_of(in), whole = in / kGroupInputs, tail = in - whole * kGroupInputs;
  ThreadPool::global().parallel_for(panels_of(out), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) visit_panel(p, groups, whole, tail, out, in, move, pad);
  });
}

}  // namespace

int64_t int8_panel_bytes(int64_t out, int64_t in) {
  return panels_of(out) * groups_of(in) * kGroupBytes;
}

std::vector<int64_t> int8_panel_shape(int64_t out, int64_t in) {
  return {panels_of(out), groups_of(in), kGroupBytes};
}

void pack_int8_panels(const std::int8_t* w, int64_t out, int64_t in, std::int8_t* panels) {
  for_each_group(
      out, in, [&](int64_t panel, int64_t row, int64_t bytes) { std::memcpy(panels + panel, w + row, bytes); },
      [&](int64_t panel, int64_t bytes) { std::memset(panels + panel, 0, bytes); });
}

void unpack_int8_panels(const std::int8_t* panels, int64_t out, int64_t in, std::int8_t* w) {
  for_each_group(
      out, in, [&](int64_t panel, int64_t row, int64_t bytes) { std::memcpy(w + row, panels + panel, bytes); },
      [](int64_t, int64_t) {});
}

SNAPFORMER_VNNI void gemm_u8s8_panels(const std::uint8_t* x, int64_t rows, int64_t k, int64_t x_stride,
                                      const std::int8_t* panels, int64_t c0, int64_t c1,
                                      const Int8Dequantize& dequantize, float* y, int64_t stride) {
  const int64_t groups = groups_of(k), panel_bytes = groups * kGroupBytes;
  const Operands o{x, x_stride, groups, &dequantize, y, stride};
  const int64_t full = (c1 - c0) / kPanelColumns;  // whole panels in [c0, c1)
  const std::int8_t* first = panels + c0 / kPanelColumns * panel_bytes;
  int64_t p = 0;
  if (rows > 1) {
    // Blocks of 3 panels, one from each third of the range: 3 sequential
    // streams far apart. Against 3 adjacent panels (one stream in pieces),
    // layers from memory, 1 thread, medians: 2-8 rows 1.1-1.45x faster,
    // 16-128 rows equal to 1.1x.
    const int64_t third = full / kBlockPanels;
    for (; p < third; ++p)
      rows_against<kBlockPanels>(o, 0, rows, first + p * panel_bytes, third * panel_bytes, c0 + p * kPanelColumns,
                                 third * kPanelColumns, 0xFFFF, first + (p + 1) * panel_bytes);
    p = kBlockPanels * third;
  }
  // One row (every weight read once) reads the panels in order, one at a
  // time: one stream. Against 4 panels from the 4 quarters of the range (as
  // the in-place one-row kernel reads rows) or 4 adjacent ones, GPT-2's LM
  // head 1.65-1.78 ms against 1.9-2.1 (1 thread, medians, no prefetch
  // either way); GPT-2 int8 decoding (1 thread, 4 alternating rounds,
  // medians) 5.1-6.1 ms per token, where the row-major weights in place took
  // 5.8-6.0 and the quarters 6.2-6.7.
  for (; p < full; ++p)
    rows_against<1>(o, 0, rows, first + p * panel_bytes, panel_bytes, c0 + p * kPanelColumns, kPanelColumns, 0xFFFF,
                    first + (p + 1) * panel_bytes);
  if (const int64_t tail = (c1 - c0) % kPanelColumns; tail != 0)  // the last outputs, part of a panel
    rows_against<1>(o, 0, rows, first + full * panel_bytes, panel_bytes, c0 + full * kPanelColumns, kPanelColumns,
                    static_cast<__mmask16>((1u << tail) - 1), nullptr);
}

}  // namespace snapformer::ops
