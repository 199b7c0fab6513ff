#include "ops/small_gemm.h"

#include "ops/intrinsics.h"

#include <algorithm>
#include <vector>

#include "ops/cpu.h"
#include "ops/simd.h"
#include "util/thread_pool.h"

namespace snapformer::ops {
namespace {

// ---- portable ---------------------------------------------------------------

void nt_portable(const float* x, int64_t m, int64_t k, const float* w, int64_t n0, int64_t n1, int64_t ldy,
                 const float* bias, float* y) {
  for (int64_t r = 0; r < m; ++r)
    for (int64_t c = n0; c < n1; ++c) {
      float sum = 0;
      for (int64_t i = 0; i < k; ++i) sum += x[r * k + i] * w[c * k + i];
      y[r * ldy + c] = sum + (bias ? bias[c] : 0.0f);
    }
}

// ---- AVX-512 ----------------------------------------------------------------


// MB rows of x against NB rows of w, reduced over all of k.
template <int MB, int NB>
__attribute__((target("avx512f"))) void nt_block512(const float* x, int64_t k, const float* w, const float* bias,
                                                    float* y, int64_t ldy, bool prefetch_next) {
  __m512 acc[MB][NB];
  for (int i = 0; i < MB; ++i)
    for (int j = 0; j < NB; ++j) acc[i][j] = _mm512_setzero_ps();
  int64_t p = 0;
  for (; p + 16 <= k; p += 16) {
    __m512 wv[NB];
    for (int j = 0; j < NB; ++j) wv[j] = _mm512_loadu_ps(w + j * k + p);
    // Fetch the next block of weight rows while this one is multiplied: rows of
    // 3-12 KB are too short for the hardware prefetcher to ramp up on its own.
    // Measured (bert-base, 1 thread): 1 row -21%, 8 rows -34%; with 32 rows the
    // block is compute-bound and the prefetches cost 7%, so callers turn it off.
    // Past the last row this touches nothing: prefetches do not fault. Into
    // L2 (as nt_block256): into L1, bert-base fp32 at 8 tokens on Zen 4 with
    // SNAPFORMER_ISA=avx512 took 29.7-30.1 ms against 18.6-20.1 (1 thread,
    // 3 alternating rounds, medians).
    if (prefetch_next)
      for (int j = 0; j < NB; ++j) _mm_prefetch(reinterpret_cast<const char*>(w + (NB + j) * k + p), _MM_HINT_T1);
    for (int i = 0; i < MB; ++i) {
      const __m512 xv = _mm512_loadu_ps(x + i * k + p);
      for (int j = 0; j < NB; ++j) acc[i][j] = _mm512_fmadd_ps(xv, wv[j], acc[i][j]);
    }
  }
  if (p < k) {
    const __mmask16 mask = static_cast<__mmask16>((1u << (k - p)) - 1);
    __m512 wv[NB];
    for (int j = 0; j < NB; ++j) wv[j] = _mm512_maskz_loadu_ps(mask, w + j * k + p);
    for (int i = 0; i < MB; ++i) {
      const __m512 xv = _mm512_maskz_loadu_ps(mask, x + i * k + p);
      for (int j = 0; j < NB; ++j) acc[i][j] = _mm512_fmadd_ps(xv, wv[j], acc[i][j]);
    }
  }
  for (int i = 0; i < MB; ++i)
    for (int j = 0; j < NB; ++j) y[i * ldy + j] = sum_lanes(acc[i][j]) + (bias ? bias[j] : 0.0f);
}

template <int NB>
__attribute__((target("avx512f"))) void nt_rows512(const float* x, int64_t m, int64_t k, const float* w,
                                                   const float* bias, float* y, int64_t ldy) {
  int64_t r = 0;
  const bool prefetch = m <= 16;  // memory-bound: keep the next weight rows coming
  for (; r + 4 <= m; r += 4) nt_block512<4, NB>(x + r * k, k, w, bias, y + r * ldy, ldy, prefetch);
  switch (m - r) {
    case 3: nt_block512<3, NB>(x + r * k, k, w, bias, y + r * ldy, ldy, prefetch); break;
    case 2: nt_block512<2, NB>(x + r * k, k, w, bias, y + r * ldy, ldy, prefetch); break;
    case 1: nt_block512<1, NB>(x + r * k, k, w, bias, y + r * ldy, ldy, prefetch); break;
    default: break;
  }
}

__attribute__((target("avx512f"))) void nt_avx512(const float* x, int64_t m, int64_t k, const float* w, int64_t n0,
                                                  int64_t n1, int64_t ldy, const float* bias, float* y) {
  int64_t c = n0;
  for (; c + 4 <= n1; c += 4) nt_rows512<4>(x, m, k, w + c * k, bias ? bias + c : nullptr, y + c, ldy);
  for (; c < n1; ++c) nt_rows512<1>(x, m, k, w + c * k, bias ? bias + c : nullptr, y + c, ldy);
}

// ---- AVX2 + FMA ---------------------------------------------------------------

// MB rows of x against NB rows of w `spread` rows apart (outputs `spread`
// columns apart), reduced over all of k. At 4x3, 12 accumulators, 3 weight
// vectors and 1 input vector fill the 16 registers.
template <int MB, int NB>
__attribute__((target("avx2,fma"))) void nt_block256(const float* x, int64_t k, const float* w, int64_t spread,
                                                     const float* bias, float* y, int64_t ldy) {
  __m256 acc[MB][NB];
  for (int i = 0; i < MB; ++i)
    for (int j = 0; j < NB; ++j) acc[i][j] = _mm256_setzero_ps();
  int64_t p = 0;
  for (; p + 8 <= k; p += 8) {
    __m256 wv[NB];
    for (int j = 0; j < NB; ++j) wv[j] = _mm256_loadu_ps(w + j * spread * k + p);
    // The next block's weight rows (the row after each), once per cache line
    // (as nt_block512; 768x3072 from memory, 16 rows 1416 -> 1126-1179 us),
    // into L2, not L1: fetched into L1 they made the blocks a third slower
    // on Zen 4 (bert-base fp32 at 8 tokens, 1 thread, 2 alternating rounds,
    // medians: 26.5-26.9 -> 17.7 ms into L2; the same with 2 rows ahead or
    // _MM_HINT_T2; Zen 3 not measured). The one-row kernel and GPT-2's
    // [in, out] kernel keep _MM_HINT_T0: L2 there measured equal for
    // decoding and 7% slower for the 6-token prompt.
    if (p % 16 == 0)
      for (int j = 0; j < NB; ++j)
        _mm_prefetch(reinterpret_cast<const char*>(w + (j * spread + 1) * k + p), _MM_HINT_T1);
    for (int i = 0; i < MB; ++i) {
      __m256 xv = _mm256_loadu_ps(x + i * k + p);
      // In a register: GCC otherwise folds this load into each of the NB
      // FMAs, and 4x3 blocks became load-bound (3x4 blocks were the best
      // shape then; 4x3 with one load per row: 8 rows 923 -> 694 us).
      asm("" : "+x"(xv));
      for (int j = 0; j < NB; ++j) acc[i][j] = _mm256_fmadd_ps(xv, wv[j], acc[i][j]);
    }
  }
  for (int i = 0; i < MB; ++i)
    for (int j = 0; j < NB; ++j) {
      float sum = sum_lanes(acc[i][j]);
      for (int64_t q = p; q < k; ++q) sum += x[i * k + q] * w[j * spread * k + q];
      y[i * ldy + j * spread] = sum + (bias ? bias[j * spread] : 0.0f);
    }
}

template <int NB>
__attribute__((target("avx2,fma"))) void nt_rows256(const float* x, int64_t m, int64_t k, const float* w,
                                                    int64_t spread, const float* bias, float* y, int64_t ldy) {
  int64_t r = 0;
  for (; r + 4 <= m; r += 4) nt_block256<4, NB>(x + r * k, k, w, spread, bias, y + r * ldy, ldy);
  switch (m - r) {
    case 3: nt_block256<3, NB>(x + r * k, k, w, spread, bias, y + r * ldy, ldy); break;
    case 2: nt_block256<2, NB>(x + r * k, k, w, spread, bias, y + r * ldy, ldy); break;
    case 1: nt_block256<1, NB>(x + r * k, k, w, spread, bias, y + r * ldy, ldy); break;
    default: break;
  }
}

// How far ahead the one-row kernel prefetches each stream of weight rows
// (1 KB and 2 KB were 10-15% slower than 512 bytes on a 768x3072 layer).
constexpr int64_t kOneRowPrefetchBytes = 512;

// How many weight rows far apart the one-row kernel reads at once.
constexpr int kOneRowStreams = 4;

// y[c] = bias[c] + Σ_p x[p] · w[c, p] for c in [n0, n1): one input row (a
// decoding step's LM head, a classifier's [CLS] row in the last layer),
// bound by reading the weights. [n0, n1) is split into S contiguous parts
// and row j of every part is read at once, 16 floats of each per step: S
// sequential streams far apart, each followed by the hardware prefetcher.
// One stream (S = 1) reads at ~15 GB/s on this project's Zen 3 VM where
// four reach 19-21; adjacent rows interleaved, as the blocks above do, were
// 12-15% slower than one stream. One row from memory, 1 thread, medians of 3
// alternating runs (snapformer_bench_layers), 1 -> 4 streams: 768x3072
// 598-608 -> 492-532 us, 3072x768 620-659 -> 464-545 us, GPT-2's LM head
// 9.9-13.2 -> 7.5-8.8 ms.
template <int S>
__attribute__((target("avx2,fma"))) void nt_one_row256(const float* x, int64_t k, const float* w, int64_t n0,
                                                       int64_t n1, const float* bias, float* y) {
  const int64_t part = (n1 - n0) / S, k16 = k / 16 * 16;
  for (int64_t j = 0; j < part; ++j) {
    const float* rows[S];
    __m256 acc[S][2];
#pragma GCC unroll 8  // fully unrolled, GCC keeps acc in registers
    for (int s = 0; s < S; ++s) {
      rows[s] = w + (n0 + s * part + j) * k;
      acc[s][0] = acc[s][1] = _mm256_setzero_ps();
    }
    int64_t p = 0;
    for (; p < k16; p += 16) {
      const __m256 x0 = _mm256_loadu_ps(x + p), x1 = _mm256_loadu_ps(x + p + 8);
#pragma GCC unroll 8
      for (int s = 0; s < S; ++s) {
        _mm_prefetch(reinterpret_cast<const char*>(rows[s] + p) + kOneRowPrefetchBytes, _MM_HINT_T0);
        acc[s][0] = _mm256_fmadd_ps(x0, _mm256_loadu_ps(rows[s] + p), acc[s][0]);
        acc[s][1] = _mm256_fmadd_ps(x1, _mm256_loadu_ps(rows[s] + p + 8), acc[s][1]);
      }
    }
#pragma GCC unroll 8
    for (int s = 0; s < S; ++s) {
      float sum = sum_lanes(_mm256_add_ps(acc[s][0], acc[s][1]));
      for (int64_t q = p; q < k; ++q) sum += x[q] * rows[s][q];
      const int64_t c = n0 + s * part + j;
      y[c] = sum + (bias ? bias[c] : 0.0f);
    }
  }
  if constexpr (S > 1) nt_one_row256<1>(x, k, w, n0 + S * part, n1, bias, y);  // the rows left over
}

__attribute__((target("avx2,fma"))) void nt_avx2(const float* x, int64_t m, int64_t k, const float* w, int64_t n0,
                                                 int64_t n1, int64_t ldy, const float* bias, float* y) {
  if (m == 1) return nt_one_row256<kOneRowStreams>(x, k, w, n0, n1, bias, y);
  // Each block's 3 weight rows come from the 3 thirds of [n0, n1): 3
  // sequential streams far apart, where 3 adjacent rows were one stream read
  // in pieces (as the one-row kernel above; 8 rows from memory, 1 thread,
  // medians of 3 alternating runs: 768x3072 961-1013 -> 753-808 us, 768x768
  // 180-234 -> 173-216, 3072x768 872-926 -> 807-824; bert-base fp32 at 8
  // tokens 27.0 -> 25.4 ms min).
  const int64_t third = (n1 - n0) / 3;
  for (int64_t c = n0; c < n0 + third; ++c)
    nt_rows256<3>(x, m, k, w + c * k, third, bias ? bias + c : nullptr, y + c, ldy);
  for (int64_t c = n0 + 3 * third; c < n1; ++c)  // the 0-2 rows left over
    nt_rows256<1>(x, m, k, w + c * k, 1, bias ? bias + c : nullptr, y + c, ldy);
}

// Columns per parallel task: enough work to amortize the hand-off.
constexpr int64_t kColumnsPerTask = 64;

// ---- [k, n] weights (GPT-2's Conv1D) ------------------------------------------
//
// y[r, c] = Σ_i x[r, i] · w[i, c] in the axpy form: for each weight row i,
// y[r, c0:c1] += x[r, i] · w[i, c0:c1]. The weights are read row by row,
// whole (reading narrow strips of columns instead touched a new page for
// every i and was 3x slower than oneDNN's sgemm on a 6-token prompt), 4 rows
// at a time, one from each quarter of the rows: 4 sequential streams far
// apart, each followed by the hardware prefetcher, where 4 adjacent rows
// were one stream read in pieces (one row from memory, 1 thread, medians of
// 3 alternating runs: 3072x768 609-662 -> 415-439 us, 768x768 141-156 ->
// 104-113 us, 768x2304 353-457 -> 272-404 us, 768x3072 equal; GPT-2 fp32
// decoding 22.99 -> 20.64 ms). Blocks of kKBlock such rows stay in L2 while
// every block of up to kNnRows (3) input rows passes over them, and each
// 8-column vector of y is loaded and stored once per 4 weight rows.
constexpr int64_t kNnColumnsPerTask = 128;  // columns per task when the threads' parts are added
constexpr int64_t kKBlock = 32;
constexpr int kNnRows = 3;

// The weight rows [k0, k1) of a GEMM with k of them: nn_portable and nn_avx2
// give y the sum over those rows only (plus bias, when given), so that the
// threads can split k (small_gemm_nn). w is [k, n] and y [m, n].
struct RowRange {
  int64_t k0, k1;
};

// Columns [c0, n) only: nn_avx2 leaves it those past its last whole vector.
void nn_portable(const float* x, int64_t m, int64_t k, const float* w, int64_t n, int64_t c0, const float* bias,
                 float* y, RowRange rows) {
  for (int64_t r = 0; r < m; ++r)
    for (int64_t c = c0; c < n; ++c) {
      float sum = 0;
      for (int64_t i = rows.k0; i < rows.k1; ++i) sum += x[r * k + i] * w[i * n + c];
      y[r * n + c] = sum + (bias ? bias[c] : 0.0f);
    }
}

// Weight rows in quads: quad q is rows first + q + u·spread, u = 0..3.
struct Quads {
  int64_t first, spread;
};

// y[0..MB)[0..c_end) += Σ_{q in [q0, q1)} Σ_u x[.., row(q, u)] · w[row(q, u), 0..c_end),
// for c_end a multiple of 8; w is [k, n] and y [MB, n].
template <int MB>
__attribute__((target("avx2,fma"))) void nn_quads256(const float* x, int64_t k, const float* w, int64_t n,
                                                     Quads quads, int64_t q0, int64_t q1, int64_t c_end, float* y) {
  for (int64_t q = q0; q < q1; ++q) {
    const int64_t i = quads.first + q;
    // Broadcast once per 4 weight rows, in registers for the whole segment
    // (the compiler cannot hoist them itself: y's stores might alias x).
    __m256 xs[MB][4];
    for (int r = 0; r < MB; ++r)
      for (int u = 0; u < 4; ++u) xs[r][u] = _mm256_broadcast_ss(x + r * k + i + u * quads.spread);
    for (int64_t c = 0; c < c_end; c += 8) {
      __m256 acc[MB];
      for (int r = 0; r < MB; ++r) acc[r] = _mm256_loadu_ps(y + r * n + c);
      for (int u = 0; u < 4; ++u) {
        const __m256 wv = _mm256_loadu_ps(w + (i + u * quads.spread) * n + c);
        for (int r = 0; r < MB; ++r) acc[r] = _mm256_fmadd_ps(xs[r][u], wv, acc[r]);
      }
      for (int r = 0; r < MB; ++r) _mm256_storeu_ps(y + r * n + c, acc[r]);
    }
  }
}

// The same for single weight rows [i0, i1).
template <int MB>
__attribute__((target("avx2,fma"))) void nn_single_rows256(const float* x, int64_t k, const float* w, int64_t n,
                                                           int64_t i0, int64_t i1, int64_t c_end, float* y) {
  for (int64_t i = i0; i < i1; ++i)
    for (int64_t c = 0; c < c_end; c += 8) {
      const __m256 wv = _mm256_loadu_ps(w + i * n + c);
      for (int r = 0; r < MB; ++r)
        _mm256_storeu_ps(y + r * n + c,
                         _mm256_fmadd_ps(_mm256_broadcast_ss(x + r * k + i), wv, _mm256_loadu_ps(y + r * n + c)));
    }
}

// 4-6 input rows in one pass over the weights. nn_quads256 takes 3 rows per
// pass, so 4-6 rows read every 32-row weight block twice: from memory, then
// from L2, and the second pass is pure arithmetic that the memory stream
// cannot overlap. Here the MB rows' sums for 16 columns stay in 2·MB
// registers over kRegisterKBlock weight rows (one 64-byte line of each; the
// line 128 bytes further on prefetched), so each weight line is read once
// and used by every row while the next ones arrive (6 rows from memory, 1
// thread, medians of alternating runs: 768x3072 708-740 -> 600 us, 3072x768
// 885-922 -> 792-821, 768x2304 631-719 -> 557-655; GPT-2 fp32 time to first
// token 38.6 -> 33.3 ms). 8 consecutive weight rows at a time: GPT-2's rows
// are 3-12 KB apart, 12 KB maps every row to the same L1 set (8 ways), and
// 12-16 rows were slower, as were 8 rows taken from the 4 quarters (20-80%).
// Below 4 rows one pass of nn_quads256 reads each weight once already, and
// its streams are faster (1-3 rows were 0-25% slower here); above 6 the
// registers run out, and two groups of rows per weight line (9-24 rows) were
// 5-20% slower than nn_quads256's passes.
constexpr int64_t kRegisterKBlock = 8;
constexpr int kRegisterRowsMin = 4, kRegisterRowsMax = 6;

// y[0..MB)[c, c+16) += Σ_{i in [i0, i1)} x[.., i] · w[i, c..c+16).
template <int MB>
__attribute__((target("avx2,fma"))) void nn_register_block256(const float* x, int64_t k, const float* w, int64_t n,
                                                              int64_t i0, int64_t i1, int64_t c, float* y) {
  __m256 acc[MB][2];
#pragma GCC unroll 8  // fully unrolled, GCC keeps acc in registers (else it stores them every step)
  for (int r = 0; r < MB; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
  const float* wi = w + i0 * n + c;
  for (int64_t i = i0; i < i1; ++i, wi += n) {
    _mm_prefetch(reinterpret_cast<const char*>(wi + 32), _MM_HINT_T0);
    const __m256 w0 = _mm256_loadu_ps(wi), w1 = _mm256_loadu_ps(wi + 8);
#pragma GCC unroll 8
    for (int r = 0; r < MB; ++r) {
      const __m256 xr = _mm256_broadcast_ss(x + r * k + i);
      acc[r][0] = _mm256_fmadd_ps(xr, w0, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(xr, w1, acc[r][1]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < MB; ++r) {
    float* out = y + r * n + c;
    _mm256_storeu_ps(out, _mm256_add_ps(acc[r][0], _mm256_loadu_ps(out)));
    _mm256_storeu_ps(out + 8, _mm256_add_ps(acc[r][1], _mm256_loadu_ps(out + 8)));
  }
}

template <int MB>
__attribute__((target("avx2,fma"))) void nn_register_rows(const float* x, int64_t k, const float* w, int64_t n,
                                                          int64_t c_end, float* y, RowRange rows) {
  for (int64_t i0 = rows.k0; i0 < rows.k1; i0 += kRegisterKBlock) {
    const int64_t i1 = std::min(rows.k1, i0 + kRegisterKBlock);
    for (int64_t c = 0; c < c_end; c += 16) nn_register_block256<MB>(x, k, w, n, i0, i1, c, y);
  }
}

__attribute__((target("avx2,fma"))) void nn_avx2(const float* x, int64_t m, int64_t k, const float* w, int64_t n,
                                                 const float* bias, float* y, RowRange rows) {
  // The register kernel steps 16 columns, the quads 8; nn_portable takes the rest.
  const bool in_registers = m >= kRegisterRowsMin && m <= kRegisterRowsMax;
  const int64_t vector_end = in_registers ? n / 16 * 16 : n / 8 * 8;
  for (int64_t r = 0; r < m; ++r)
    for (int64_t c = 0; c < vector_end; ++c) y[r * n + c] = bias ? bias[c] : 0.0f;
  if (in_registers) {
    switch (m) {
      case 4: nn_register_rows<4>(x, k, w, n, vector_end, y, rows); break;
      case 5: nn_register_rows<5>(x, k, w, n, vector_end, y, rows); break;
      default: nn_register_rows<6>(x, k, w, n, vector_end, y, rows); break;
    }
  } else {
    // Blocks of kNnRows (3) input rows, then the 1-2 left: block.operator()<MB>(r).
    const auto for_each_row_block = [m](const auto& block) {
      int64_t r = 0;
      for (; r + kNnRows <= m; r += kNnRows) block.template operator()<kNnRows>(r);
      if (m - r == 2) block.template operator()<2>(r);
      if (m - r == 1) block.template operator()<1>(r);
    };
    const int64_t part = (rows.k1 - rows.k0) / 4, left_over = rows.k0 + 4 * part;
    const Quads quads{rows.k0, part};
    for (int64_t q0 = 0; q0 < part; q0 += kKBlock / 4) {
      const int64_t q1 = std::min(part, q0 + kKBlock / 4);
      for_each_row_block([&]<int MB>(int64_t r) {
        nn_quads256<MB>(x + r * k, k, w, n, quads, q0, q1, vector_end, y + r * n);
      });
    }
    for_each_row_block([&]<int MB>(int64_t r) {  // the 0-3 weight rows past the quads
      nn_single_rows256<MB>(x + r * k, k, w, n, left_over, rows.k1, vector_end, y + r * n);
    });
  }
  nn_portable(x, m, k, w, n, vector_end, bias, y, rows);  // columns past the last whole vector
}

// One thread's share of small_gemm_nn (below): y = bias + x · w over weight
// rows `rows`, every column.
void nn_rows(const float* x, int64_t m, int64_t k, const float* w, int64_t n, const float* bias, float* y,
             RowRange rows) {
  if (active_isa() >= Isa::kAvx2) nn_avx2(x, m, k, w, n, bias, y, rows);
  else nn_portable(x, m, k, w, n, 0, bias, y, rows);
}

}  // namespace

void small_gemm_nn(const float* x, int64_t m, int64_t k, const float* w, int64_t n, const float* bias, float* y,
                   std::optional<Activation> then) {
  ThreadPool& pool = ThreadPool::global();
  const int64_t parts = pool.size();
  // Each thread reads one contiguous slab of weight rows into its own partial
  // sums (part 0 into y, the others into scratch), then the parts are added
  // column block by column block. Split by columns instead, every thread read
  // a piece of each weight row (1.5-6 KB, rows 3-12 KB apart): a 6-row
  // 3072x768 layer from memory at 2 threads took 588-644 us, now 407-417
  // (GPT-2 fp32 time to first token at 2 threads 26.0 -> 22.5 ms min).
  thread_local std::vector<float> scratch;
  scratch.resize(static_cast<std::size_t>((parts - 1) * m * n));
  float* const partials = scratch.data();
  const int64_t slab = (k + parts - 1) / parts;
  pool.parallel_for(parts, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const RowRange rows{std::min(k, p * slab), std::min(k, (p + 1) * slab)};
      if (p == 0) nn_rows(x, m, k, w, n, bias, y, rows);
      else nn_rows(x, m, k, w, n, nullptr, partials + (p - 1) * m * n, rows);
    }
  }, ThreadPool::kOneRunPerThread);
  const int64_t tasks = (n + kNnColumnsPerTask - 1) / kNnColumnsPerTask;
  pool.parallel_for(tasks, [&](int64_t t0, int64_t t1) {
    const int64_t c0 = t0 * kNnColumnsPerTask, c1 = std::min(n, t1 * kNnColumnsPerTask);
    for (int64_t r = 0; r < m; ++r) {
      float* out = y + r * n;
      for (int64_t p = 1; p < parts; ++p) {
        const float* part = partials + (p - 1) * m * n + r * n;
        for (int64_t c = c0; c < c1; ++c) out[c] += part[c];
      }
      if (then) activate(*then, out + c0, c1 - c0);
    }
  });
}

void small_gemm_nt(const float* x, int64_t m, int64_t k, const float* w, int64_t n, const float* bias, float* y,
                   std::optional<Activation> then) {
  const Isa isa = gemm_isa();
  const int64_t tasks = (n + kColumnsPerTask - 1) / kColumnsPerTask;
  ThreadPool::global().parallel_for(tasks, [&](int64_t t0, int64_t t1) {
    const int64_t n0 = t0 * kColumnsPerTask, n1 = std::min(n, t1 * kColumnsPerTask);
    switch (isa) {
      case Isa::kAvx512: nt_avx512(x, m, k, w, n0, n1, n, bias, y); break;
      case Isa::kAvx2: nt_avx2(x, m, k, w, n0, n1, n, bias, y); break;
      case Isa::kPortable: nt_portable(x, m, k, w, n0, n1, n, bias, y); break;
    }
    if (then)
      for (int64_t r = 0; r < m; ++r) activate(*then, y + r * n + n0, n1 - n0);
  });
}

}  // namespace snapformer::ops
