#include "ops/panel_gemm.h"

#include <immintrin.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "ops/cpu.h"
#include "ops/simd.h"
#include "ops/small_gemm.h"
#include "util/thread_pool.h"

namespace snapformer::ops {
namespace {

#define SNAPFORMER_AVX2 __attribute__((target("avx2,fma")))

// A panel: `width` (16 or 24) consecutive tokens from `first`, stored at
// xt + first * k as k groups of `width` floats (token order within a group).
// Tokens past m are zeros, computed and never written out.
struct Panel {
  int64_t first;
  int width;
};

// 16-token panels, each 2 vectors wide, take 6 weight rows per tile (12
// accumulators: 2 vector loads and 6 broadcasts per 12 FMAs). A remainder of
// 1-8 tokens joins the last 16 in a 24-token panel (3 vectors, 4 weight rows,
// 12 accumulators again) rather than an 8-token one: with 1 vector per
// broadcast the tile is bound by its loads (24 rows ran 20% slower per token
// than 32 that way).
std::vector<Panel> plan_panels(int64_t m) {
  std::vector<Panel> panels;
  const int64_t whole = m / 16, rest = m % 16;
  const bool wide_tail = rest != 0 && rest <= 8 && whole >= 1;
  const int64_t sixteens = wide_tail ? whole - 1 : whole;
  for (int64_t p = 0; p < sixteens; ++p) panels.push_back({p * 16, 16});
  if (wide_tail) panels.push_back({sixteens * 16, 24});
  else if (rest != 0) panels.push_back({whole * 16, 16});
  return panels;
}

// One panel of x, transposed: 8 tokens at a time, 8 k at a time.
SNAPFORMER_AVX2 void pack_panel(const float* x, int64_t m, int64_t k, Panel panel, float* xt) {
  for (int64_t g = 0; g < panel.width; g += 8) {
    const float* rows[8];
    for (int j = 0; j < 8; ++j) {
      const int64_t r = panel.first + g + j;
      rows[j] = r < m ? x + r * k : nullptr;
    }
    float* out = xt + g;
    int64_t i = 0;
    for (; i + 8 <= k; i += 8) transpose_8x8(rows, i, out + i * panel.width, panel.width);
    for (; i < k; ++i)
      for (int j = 0; j < 8; ++j) out[i * panel.width + j] = rows[j] ? rows[j][i] : 0.0f;
  }
}

constexpr int64_t kSlabRows = 12;  // weight rows that stay in L2 while the panels pass over them

// MR weight rows (w, w + k, ...) against one panel of V vectors (8V tokens),
// over all of k; writes y[token, column] = sum + bias for the tokens below m.
// kFetchNext: also fetches the rows kSlabRows further on into L2, one line
// per row per 16 floats (panel_columns).
template <int MR, int V, bool kFetchNext = false>
SNAPFORMER_AVX2 void tile(const float* w, int64_t k, const float* xt, const float* bias, int64_t tokens, float* y,
                          int64_t ldy) {
  __m256 acc[MR][V];
  // "unroll" so that GCC scalarizes the accumulator array before its loop
  // passes: without it GCC 12 kept the array in memory and stored all 12
  // accumulators in every iteration (2.8x slower).
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) acc[i][v] = _mm256_setzero_ps();
  for (int64_t p = 0; p < k; ++p) {
    __m256 xv[V];
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) xv[v] = _mm256_loadu_ps(xt + p * 8 * V + 8 * v);
    if constexpr (kFetchNext) {
      if (p % 16 == 0)
#pragma GCC unroll 16
        for (int i = 0; i < MR; ++i)
          _mm_prefetch(reinterpret_cast<const char*>(w + (i + kSlabRows) * k + p), _MM_HINT_T1);
    }
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const __m256 b = _mm256_broadcast_ss(w + i * k + p);
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v) acc[i][v] = _mm256_fmadd_ps(b, xv[v], acc[i][v]);
    }
  }
  alignas(32) float sums[MR][8 * V];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) _mm256_store_ps(&sums[i][8 * v], acc[i][v]);
  for (int64_t t = 0; t < tokens; ++t)
    for (int i = 0; i < MR; ++i) y[t * ldy + i] = sums[i][t] + (bias ? bias[i] : 0.0f);
}

// `rows` (1..MR) weight rows against a panel of V vectors, through the tile
// of exactly that many rows.
template <int MR, int V>
SNAPFORMER_AVX2 void tile_up_to(int64_t rows, const float* w, int64_t k, const float* xt, const float* bias,
                                int64_t tokens, float* y, int64_t ldy, bool fetch_next) {
  if constexpr (MR > 1) {
    if (rows < MR) return tile_up_to<MR - 1, V>(rows, w, k, xt, bias, tokens, y, ldy, fetch_next);
  }
  if (fetch_next)
    tile<MR, V, true>(w, k, xt, bias, tokens, y, ldy);
  else
    tile<MR, V>(w, k, xt, bias, tokens, y, ldy);
}

// Columns [c0, c1) for every panel: 12 weight rows (36 KB at k = 768) stay in
// L2 while the panels pass over them, as 2 tiles of 6 rows (16-token panels)
// or 3 of 4 (24-token panels); one pass fetches the next 12 rows.
SNAPFORMER_AVX2 void panel_columns(const std::vector<Panel>& panels, const float* xt, int64_t m, int64_t k,
                                   const float* w, const float* bias, int64_t c0, int64_t c1, float* y, int64_t n) {
  // The first panel's pass reads the slab's weights from memory and waits
  // on it; the later passes find them in L2 and leave memory idle, so the
  // second (the first, when there is one) fetches the next slab into L2.
  // bert-base fp32, 1 thread, 3 alternating rounds, medians: 32 tokens
  // 56.5-57.3 -> 50.3-51.2 ms, 128 tokens 209-212 -> 200-201, 512 tokens
  // 904-906 -> 880-901 (the same trick as int8_panels.cc).
  const std::size_t fetching = panels.size() > 1 ? 1 : 0;
  for (int64_t s = c0; s < c1; s += kSlabRows) {
    const int64_t slab_end = std::min(c1, s + kSlabRows);
    for (std::size_t pi = 0; pi < panels.size(); ++pi) {
      const Panel& panel = panels[pi];
      const bool fetch_next = pi == fetching && slab_end < c1;
      const float* panel_xt = xt + panel.first * k;
      const int64_t tokens = std::min<int64_t>(panel.width, m - panel.first);
      float* panel_y = y + panel.first * n;
      const int64_t rows_per_tile = panel.width == 16 ? 6 : 4;
      for (int64_t c = s; c < slab_end; c += rows_per_tile) {
        const int64_t rows = std::min(rows_per_tile, slab_end - c);
        const float* tile_bias = bias ? bias + c : nullptr;
        if (panel.width == 16)
          tile_up_to<6, 2>(rows, w + c * k, k, panel_xt, tile_bias, tokens, panel_y + c, n, fetch_next);
        else
          tile_up_to<4, 3>(rows, w + c * k, k, panel_xt, tile_bias, tokens, panel_y + c, n, fetch_next);
      }
    }
  }
}

// Columns per parallel task: a multiple of the 12-row slab, and small enough
// that 768 columns make 16 tasks for 2-16 threads.
constexpr int64_t kColumnsPerTask = 48;

// The calling thread's transposed activations (grow-only).
float* transposed_buffer(int64_t floats) {
  thread_local std::vector<float> buffer;
  if (static_cast<int64_t>(buffer.size()) < floats) buffer.resize(static_cast<std::size_t>(floats));
  return buffer.data();
}

}  // namespace

bool panel_gemm_nt_suits(int64_t rows) {
  static const bool enabled = [] {
    const char* choice = std::getenv("SNAPFORMER_PANEL_GEMM");
    return choice == nullptr || std::strcmp(choice, "0") != 0;
  }();
  return enabled && gemm_isa() == Isa::kAvx2 && rows >= kPanelGemmMinRows && rows <= kPanelGemmMaxRows;
}

void panel_gemm_nt(const float* x, int64_t m, int64_t k, const float* w, int64_t n, const float* bias, float* y,
                   std::optional<Activation> then) {
  if (m == 0 || n == 0) return;
  if (gemm_isa() < Isa::kAvx2) return small_gemm_nt(x, m, k, w, n, bias, y, then);
  const std::vector<Panel> panels = plan_panels(m);
  const Panel& last = panels.back();
  float* xt = transposed_buffer((last.first + last.width) * k);
  ThreadPool& pool = ThreadPool::global();
  pool.parallel_for(static_cast<int64_t>(panels.size()), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) pack_panel(x, m, k, panels[p], xt + panels[p].first * k);
  });
  const int64_t tasks = (n + kColumnsPerTask - 1) / kColumnsPerTask;
  pool.parallel_for(tasks, [&](int64_t t0, int64_t t1) {
    const int64_t c0 = t0 * kColumnsPerTask, c1 = std::min(n, t1 * kColumnsPerTask);
    panel_columns(panels, xt, m, k, w, bias, c0, c1, y, n);
    if (then)
      for (int64_t r = 0; r < m; ++r) activate(*then, y + r * n + c0, c1 - c0);
  });
}

}  // namespace snapformer::ops
