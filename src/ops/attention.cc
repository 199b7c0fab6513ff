#include "ops/attention.h"

// GCC 12's AVX-512 headers pass _mm512_undefined_*() placeholders that
// -Wuninitialized reports spuriously when the intrinsics are inlined here.
#pragma GCC diagnostic ignored "-Wuninitialized"
#if !defined(__clang__)  // a GCC-only warning (Clang builds the fuzzers)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <limits>
#include <vector>

#include "ops/cpu.h"
#include "ops/elementwise.h"
#include "ops/simd.h"
#include "ops/vector_exp.h"
#include "ops/linear.h"
#include "ops/vector_math.h"
#include "util/thread_pool.h"

namespace snapformer::ops {
namespace {

// One head, one query row at a time: scores, softmax and weighted sum in one
// pass. Best for few queries (decoding, short inputs).
void attend_rows(const float* q, const float* k, const float* v, int64_t queries, int64_t keys,
                 const AttentionShape& shape, bool causal, float scale, float* out, float* scratch, int64_t column,
                 int64_t out_column) {
  const int64_t d = shape.head_dim;
  for (int64_t i = 0; i < queries; ++i) {
    const int64_t visible = causal ? keys - queries + i + 1 : keys;
    const float* qi = q + i * shape.q_stride + column;
    for (int64_t j = 0; j < visible; ++j) scratch[j] = dot(qi, k + j * shape.kv_stride + column, d) * scale;
    softmax(scratch, visible);
    float* o = out + i * shape.out_stride + out_column;
    std::memset(o, 0, static_cast<std::size_t>(d) * sizeof(float));
    for (int64_t j = 0; j < visible; ++j) axpy(scratch[j], v + j * shape.kv_stride + column, o, d);
  }
}

// attend_rows for AVX2 CPUs and head_dim = 8 * DV: the scaled query row and
// the output row stay in registers, each score is 8-wide FMAs reduced once.
// (dot/axpy's AVX2 clones of 16-lane vector code spent 16% of an int8
// bert-base at 32 tokens here: ~2 G multiply-adds/s.)
template <int DV>
__attribute__((target("avx2,fma"))) void attend_rows_avx2(const float* q, const float* k, const float* v,
                                                          int64_t queries, int64_t keys, const AttentionShape& shape,
                                                          bool causal, float scale, float* out, float* scratch,
                                                          int64_t column, int64_t out_column) {
  for (int64_t i = 0; i < queries; ++i) {
    const int64_t visible = causal ? keys - queries + i + 1 : keys;
    const float* qi = q + i * shape.q_stride + column;
    __m256 query[DV];
    for (int c = 0; c < DV; ++c) query[c] = _mm256_mul_ps(_mm256_loadu_ps(qi + 8 * c), _mm256_set1_ps(scale));
    for (int64_t j = 0; j < visible; ++j) {
      const float* kj = k + j * shape.kv_stride + column;
      __m256 sum[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};  // two chains: half the FMA latency
      for (int c = 0; c < DV; ++c) sum[c % 2] = _mm256_fmadd_ps(query[c], _mm256_loadu_ps(kj + 8 * c), sum[c % 2]);
      scratch[j] = sum_lanes(_mm256_add_ps(sum[0], sum[1]));
    }
    softmax(scratch, visible);
    __m256 o[DV];
    for (int c = 0; c < DV; ++c) o[c] = _mm256_setzero_ps();
    for (int64_t j = 0; j < visible; ++j) {
      const __m256 p = _mm256_set1_ps(scratch[j]);
      const float* vj = v + j * shape.kv_stride + column;
      for (int c = 0; c < DV; ++c) o[c] = _mm256_fmadd_ps(p, _mm256_loadu_ps(vj + 8 * c), o[c]);
    }
    float* oi = out + i * shape.out_stride + out_column;
    for (int c = 0; c < DV; ++c) _mm256_storeu_ps(oi + 8 * c, o[c]);
  }
}

using RowKernel = void (*)(const float*, const float*, const float*, int64_t, int64_t, const AttentionShape&, bool, float,
                           float*, float*, int64_t, int64_t);

// The row form for this head size on the ISA of the GEMM kernels (cpu.h:
// AVX2 also on Zen 4, where the register kernels beat the 16-lane dot/axpy
// clones: bert-base int8 at 32 tokens 23.4-28.0 -> 21.4-25.7 ms, 1 thread,
// three alternating rounds; AVX-512 CPUs otherwise keep dot/axpy).
RowKernel row_kernel(int64_t head_dim) {
  if (gemm_isa() != Isa::kAvx2) return attend_rows;
  switch (head_dim) {
    case 8: return attend_rows_avx2<1>;
    case 16: return attend_rows_avx2<2>;
    case 32: return attend_rows_avx2<4>;
    case 64: return attend_rows_avx2<8>;
    default: return attend_rows;  // 128 would need 17 vector registers
  }
}

// One head as two GEMMs (QKᵀ, then PV) around a row-wise masked softmax: for
// long sequences the GEMM kernels do the O(L²·d) work at full speed.
void attend_gemm(const float* q, const float* k, const float* v, int64_t queries, int64_t keys,
                 const AttentionShape& shape, bool causal, float scale, float* out, int64_t column, int64_t out_column) {
  thread_local std::vector<float> scores;
  scores.resize(static_cast<std::size_t>(queries * keys));
  gemm(false, true, queries, keys, shape.head_dim, scale, q + column, shape.q_stride, k + column, shape.kv_stride, 0.0f,
       scores.data(), keys);
  for (int64_t i = 0; i < queries; ++i) {
    float* row = scores.data() + i * keys;
    const int64_t visible = causal ? keys - queries + i + 1 : keys;
    softmax(row, visible);
    std::fill(row + visible, row + keys, 0.0f);
  }
  gemm(false, false, queries, shape.head_dim, keys, 1.0f, scores.data(), keys, v + column, shape.kv_stride, 0.0f,
       out + out_column, shape.out_stride);
}

// One head in one tiled pass (flash-attention style), AVX-512, head_dim =
// 16 * DV. Keys are taken in tiles of kKeyTile; for each tile and each group
// of kRows query rows: the scores (Q·Kᵀ against the tile, transposed once so
// that every score row is a broadcast-FMA sum with no horizontal reduction),
// the causal mask, an online-softmax update (running maximum m and sum l per
// row; earlier partial outputs rescaled by exp(m_old - m_new)) and the
// weighted sum of the tile's V rows, all in registers and L1. The score matrix
// is never written out, and each K/V tile is read once per query group from
// L1/L2. At the end each output row is divided by its l.
constexpr int64_t kKeyTile = 64;  // 4 vectors of scores per query row

__attribute__((target("avx512f"))) inline float max_lane(__m512 v) {
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, v);
  return *std::max_element(lanes, lanes + 16);
}
constexpr int64_t kRows = 6;      // query rows per register block (24 score accumulators)

template <int DV>
__attribute__((target("avx512f"))) void attend_tiled(const float* q, const float* k, const float* v, int64_t queries,
                                                     int64_t keys, const AttentionShape& shape, bool causal, float scale,
                                                     float* out, int64_t column, int64_t out_column) {
  constexpr int64_t d = 16 * DV;
  constexpr int64_t kScoreVectors = kKeyTile / 16;
  thread_local std::vector<float> state;  // per query: d partial outputs, then m and l
  state.assign(static_cast<std::size_t>(queries * (d + 2)), 0.0f);
  float* const partial = state.data();
  float* const running_max = partial + queries * d;
  float* const running_sum = running_max + queries;
  std::fill(running_max, running_max + queries, -std::numeric_limits<float>::infinity());
  alignas(64) float key_columns[d * kKeyTile];  // the tile's K transposed: [d][kKeyTile]
  alignas(64) float weights[kRows][kKeyTile];   // softmax numerators of one register block

  for (int64_t k0 = 0; k0 < keys; k0 += kKeyTile) {
    const int64_t tile = std::min(kKeyTile, keys - k0);
    for (int64_t j = 0; j < kKeyTile; ++j)
      for (int64_t c = 0; c < d; ++c)
        key_columns[c * kKeyTile + j] = j < tile ? k[(k0 + j) * shape.kv_stride + column + c] : 0.0f;
    // Causal: query i sees keys 0 .. keys - queries + i; rows wholly before
    // this tile are skipped.
    const int64_t first_row = causal ? std::max<int64_t>(0, k0 - (keys - queries)) : 0;
    for (int64_t i0 = first_row; i0 < queries; i0 += kRows) {
      const int64_t rows = std::min(kRows, queries - i0);
      __m512 score[kRows][kScoreVectors];
      for (int64_t r = 0; r < kRows; ++r)
        for (int64_t s = 0; s < kScoreVectors; ++s) score[r][s] = _mm512_setzero_ps();
      // Loops run over all kRows (constant bounds keep the accumulators in
      // registers); rows past `rows` repeat the last row and are not stored.
      const float* query[kRows];
      for (int64_t r = 0; r < kRows; ++r) query[r] = q + (i0 + std::min(r, rows - 1)) * shape.q_stride + column;
      for (int64_t c = 0; c < d; ++c) {
        __m512 kc[kScoreVectors];
        for (int64_t s = 0; s < kScoreVectors; ++s) kc[s] = _mm512_load_ps(key_columns + c * kKeyTile + 16 * s);
        for (int64_t r = 0; r < kRows; ++r) {
          const __m512 qc = _mm512_set1_ps(query[r][c]);
          for (int64_t s = 0; s < kScoreVectors; ++s) score[r][s] = _mm512_fmadd_ps(qc, kc[s], score[r][s]);
        }
      }
      // Online softmax per row, in registers: masked lanes (past the tile or,
      // causal, in the future) get weight 0.
      float correction[kRows];
      for (int64_t r = 0; r < kRows; ++r) {
        const int64_t visible = r >= rows ? 0 : std::min(tile, causal ? keys - queries + (i0 + r) + 1 - k0 : tile);
        if (visible <= 0) {
          for (int64_t s = 0; s < kScoreVectors; ++s) _mm512_store_ps(weights[r] + 16 * s, _mm512_setzero_ps());
          correction[r] = 1.0f;
          continue;
        }
        const int64_t i = i0 + r;
        __mmask16 lanes[kScoreVectors];
        __m512 tile_max = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
        for (int64_t s = 0; s < kScoreVectors; ++s) {
          const int64_t valid = std::clamp<int64_t>(visible - 16 * s, 0, 16);
          lanes[s] = static_cast<__mmask16>((1u << valid) - 1);
          score[r][s] = _mm512_mul_ps(score[r][s], _mm512_set1_ps(scale));
          tile_max = _mm512_mask_max_ps(tile_max, lanes[s], tile_max, score[r][s]);
        }
        const float new_max = std::max(running_max[i], max_lane(tile_max));
        correction[r] = std::exp(running_max[i] - new_max);  // 0 for the first tile (-inf)
        __m512 sum = _mm512_setzero_ps();
        for (int64_t s = 0; s < kScoreVectors; ++s) {
          v16sf shifted = reinterpret_cast<v16sf>(_mm512_sub_ps(score[r][s], _mm512_set1_ps(new_max)));
          exp_negative<v16sf, v16si>(shifted);
          const __m512 weight = _mm512_maskz_mov_ps(lanes[s], reinterpret_cast<__m512>(shifted));
          sum = _mm512_add_ps(sum, weight);
          _mm512_store_ps(weights[r] + 16 * s, weight);
        }
        running_sum[i] = running_sum[i] * correction[r] + sum_lanes(sum);
        running_max[i] = new_max;
      }
      __m512 acc[kRows][DV];
      for (int64_t r = 0; r < kRows; ++r)
        for (int64_t c = 0; c < DV; ++c)
          acc[r][c] = _mm512_mul_ps(_mm512_loadu_ps(partial + (i0 + std::min(r, rows - 1)) * d + 16 * c),
                                    _mm512_set1_ps(correction[r]));
      for (int64_t j = 0; j < tile; ++j) {
        __m512 vj[DV];
        for (int64_t c = 0; c < DV; ++c) vj[c] = _mm512_loadu_ps(v + (k0 + j) * shape.kv_stride + column + 16 * c);
        for (int64_t r = 0; r < kRows; ++r) {
          const __m512 p = _mm512_set1_ps(weights[r][j]);
          for (int64_t c = 0; c < DV; ++c) acc[r][c] = _mm512_fmadd_ps(p, vj[c], acc[r][c]);
        }
      }
      for (int64_t r = 0; r < kRows; ++r)
        if (r < rows)
          for (int64_t c = 0; c < DV; ++c) _mm512_storeu_ps(partial + (i0 + r) * d + 16 * c, acc[r][c]);
    }
  }
  for (int64_t i = 0; i < queries; ++i) {
    const float inverse = 1.0f / running_sum[i];
    float* o = out + i * shape.out_stride + out_column;
    for (int64_t c = 0; c < d; ++c) o[c] = partial[i * d + c] * inverse;
  }
}

// The tiled kernel for this head size, or nullptr (then two GEMMs).
using TiledKernel = void (*)(const float*, const float*, const float*, int64_t, int64_t, const AttentionShape&, bool,
                             float, float*, int64_t, int64_t);
// SNAPFORMER_ATTENTION=gemm keeps the two-GEMM form, to measure one against the other.
TiledKernel tiled_kernel(int64_t head_dim) {
  static const bool gemm_only = [] {
    const char* choice = std::getenv("SNAPFORMER_ATTENTION");
    return choice != nullptr && std::string(choice) == "gemm";
  }();
  if (gemm_only || active_isa() != Isa::kAvx512) return nullptr;
  switch (head_dim) {
    case 16: return attend_tiled<1>;
    case 32: return attend_tiled<2>;
    case 64: return attend_tiled<4>;
    case 128: return attend_tiled<8>;
    default: return nullptr;
  }
}

// From this many queries on, the GEMM form wins (measured on bert-base).
constexpr int64_t kGemmQueries = 64;

}  // namespace

void attend(const float* q, const float* k, const float* v, int64_t queries, int64_t keys, const AttentionShape& shape,
            bool causal, float scale, float* out) {
  attend_batch({AttentionSpan{q, k, v, queries, keys, out}}, shape, causal, scale);
}

void attend_batch(const std::vector<AttentionSpan>& spans, const AttentionShape& shape, bool causal, float scale) {
  const int64_t d = shape.head_dim, heads = shape.heads;
  const int64_t head_stride = shape.input_head_stride > 0 ? shape.input_head_stride : d;
  const RowKernel rows = row_kernel(d);
  const TiledKernel tiled = tiled_kernel(d);
  // Task t is head t % heads of span t / heads.
  auto run = [&](int64_t first, int64_t last) {
    thread_local std::vector<float> scratch;  // the row form's scores
    for (int64_t t = first; t < last; ++t) {
      const AttentionSpan& s = spans[static_cast<std::size_t>(t / heads)];
      const int64_t column = (t % heads) * head_stride, out_column = (t % heads) * d;
      if (s.queries < kGemmQueries) {
        if (scratch.size() < static_cast<std::size_t>(s.keys)) scratch.resize(static_cast<std::size_t>(s.keys));
        rows(s.q, s.k, s.v, s.queries, s.keys, shape, causal, scale, s.out, scratch.data(), column, out_column);
      } else if (tiled != nullptr) {
        tiled(s.q, s.k, s.v, s.queries, s.keys, shape, causal, scale, s.out, column, out_column);
      } else {
        attend_gemm(s.q, s.k, s.v, s.queries, s.keys, shape, causal, scale, s.out, column, out_column);
      }
    }
  };
  const int64_t tasks = static_cast<int64_t>(spans.size()) * heads;
  // Below this many multiply-adds (~10 us of the row form) waking the pool
  // costs more than it saves: a decoding step, or one 8-token input.
  constexpr int64_t kParallelWork = int64_t{1} << 17;
  int64_t work = 0;
  for (const AttentionSpan& s : spans) work += 2 * s.queries * s.keys * d * heads;
  if (work < kParallelWork) run(0, tasks);
  else ThreadPool::global().parallel_for(tasks, run);
}

}  // namespace snapformer::ops
