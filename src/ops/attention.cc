#include "ops/attention.h"

#include "ops/intrinsics.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "ops/cpu.h"
#include "ops/elementwise.h"
#include "ops/simd.h"
#include "ops/linear.h"
#include "ops/vector_math.h"
#include "util/thread_pool.h"

namespace snapformer::ops {
namespace {

// Keys and values are float32 or bf16 (KvBf16: a float32's upper 16 bits,
// as a KV cache of a bf16/int8 model stores them: attention.h).
using KvBf16 = std::uint16_t;

// One K/V row as float32: itself, or widened into `buffer` (d floats).
inline const float* float_row(const float* row, int64_t /*d*/, float* /*buffer*/) { return row; }
inline const float* float_row(const KvBf16* row, int64_t d, float* buffer) {
  for (int64_t c = 0; c < d; ++c) {
    const std::uint32_t bits = static_cast<std::uint32_t>(row[c]) << 16;
    std::memcpy(buffer + c, &bits, sizeof bits);
  }
  return buffer;
}

// How many keys query i of `queries` sees: all of them, or with a causal
// mask keys 0 .. keys - queries + i (the queries are the last positions).
inline int64_t keys_seen(int64_t i, int64_t queries, int64_t keys, bool causal) {
  return causal ? keys - queries + i + 1 : keys;
}

// One head, one query row at a time: scores, softmax and weighted sum in one
// pass. Best for few queries (decoding, short inputs).
template <typename KV>
void attend_rows(const float* q, const KV* k, const KV* v, int64_t queries, int64_t keys,
                 const AttentionShape& shape, bool causal, float scale, float* out, float* scratch) {
  const int64_t d = shape.head_dim;
  thread_local std::vector<float> widened;  // one bf16 row as float32
  if constexpr (!std::is_same_v<KV, float>) widened.resize(static_cast<std::size_t>(d));
  for (int64_t i = 0; i < queries; ++i) {
    const int64_t visible = keys_seen(i, queries, keys, causal);
    const float* qi = q + i * shape.q_stride;
    for (int64_t j = 0; j < visible; ++j)
      scratch[j] = dot(qi, float_row(k + j * shape.kv_stride, d, widened.data()), d) * scale;
    softmax(scratch, visible);
    float* o = out + i * shape.out_stride;
    std::memset(o, 0, static_cast<std::size_t>(d) * sizeof(float));
    for (int64_t j = 0; j < visible; ++j) axpy(scratch[j], float_row(v + j * shape.kv_stride, d, widened.data()), o, d);
  }
}

// 8 consecutive K/V values as float32.
__attribute__((target("avx2,fma"))) inline __m256 load8(const float* x) { return _mm256_loadu_ps(x); }
__attribute__((target("avx2,fma"))) inline __m256 load8(const KvBf16* x) {
  const __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x)));
  return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
}

// attend_rows for AVX2 CPUs and head_dim = 8 * DV: the scaled query row and
// the output row stay in registers, each score is 8-wide FMAs reduced once.
// (dot/axpy's AVX2 clones of 16-lane vector code spent 16% of an int8
// bert-base at 32 tokens here: ~2 G multiply-adds/s.)
//
// Scores, softmax and outputs each run for all rows before the next: a short
// row's softmax (10 keys) is one chain of ~180 cycles of latency, and run
// between its row's products and outputs, the next row's work could not
// overlap it (nor the vector load of scores just stored one by one wait
// less). Int8 DistilBERT, 48 inputs of 10 tokens, 1 thread: ~2% of the time.
// `scratch` holds queries x keys scores.
template <int DV, typename KV>
__attribute__((target("avx2,fma"))) void attend_rows_avx2(const float* q, const KV* k, const KV* v,
                                                          int64_t queries, int64_t keys, const AttentionShape& shape,
                                                          bool causal, float scale, float* out, float* scratch) {
  for (int64_t i = 0; i < queries; ++i) {
    const float* qi = q + i * shape.q_stride;
    float* scores = scratch + i * keys;
    __m256 query[DV];
    for (int c = 0; c < DV; ++c) query[c] = _mm256_mul_ps(_mm256_loadu_ps(qi + 8 * c), _mm256_set1_ps(scale));
    for (int64_t j = 0, visible = keys_seen(i, queries, keys, causal); j < visible; ++j) {
      const KV* kj = k + j * shape.kv_stride;
      __m256 sum[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};  // two chains: half the FMA latency
      for (int c = 0; c < DV; ++c) sum[c % 2] = _mm256_fmadd_ps(query[c], load8(kj + 8 * c), sum[c % 2]);
      scores[j] = sum_lanes(_mm256_add_ps(sum[0], sum[1]));
    }
  }
  for (int64_t i = 0; i < queries; ++i) softmax(scratch + i * keys, keys_seen(i, queries, keys, causal));
  for (int64_t i = 0; i < queries; ++i) {
    const float* scores = scratch + i * keys;
    __m256 o[DV];
    for (int c = 0; c < DV; ++c) o[c] = _mm256_setzero_ps();
    for (int64_t j = 0, visible = keys_seen(i, queries, keys, causal); j < visible; ++j) {
      const __m256 p = _mm256_set1_ps(scores[j]);
      const KV* vj = v + j * shape.kv_stride;
      for (int c = 0; c < DV; ++c) o[c] = _mm256_fmadd_ps(p, load8(vj + 8 * c), o[c]);
    }
    float* oi = out + i * shape.out_stride;
    for (int c = 0; c < DV; ++c) _mm256_storeu_ps(oi + 8 * c, o[c]);
  }
}

template <typename KV>
using RowKernel = void (*)(const float*, const KV*, const KV*, int64_t, int64_t, const AttentionShape&, bool, float,
                           float*, float*);

// The row form for this head size on the ISA of the GEMM kernels (cpu.h:
// AVX2 also on Zen 4, where the register kernels beat the 16-lane dot/axpy
// clones: bert-base int8 at 32 tokens 23.4-28.0 -> 21.4-25.7 ms, 1 thread,
// three alternating rounds; AVX-512 CPUs otherwise keep dot/axpy).
template <typename KV>
RowKernel<KV> row_kernel(int64_t head_dim) {
  if (gemm_isa() != Isa::kAvx2) return attend_rows<KV>;
  switch (head_dim) {
    case 8: return attend_rows_avx2<1, KV>;
    case 16: return attend_rows_avx2<2, KV>;
    case 32: return attend_rows_avx2<4, KV>;
    case 64: return attend_rows_avx2<8, KV>;
    default: return attend_rows<KV>;  // 128 would need 17 vector registers
  }
}

// One head as two GEMMs (QKᵀ, then PV) around a row-wise masked softmax: for
// long sequences the GEMM kernels do the O(L²·d) work at full speed.
void attend_gemm(const float* q, const float* k, const float* v, int64_t queries, int64_t keys,
                 const AttentionShape& shape, bool causal, float scale, float* out) {
  thread_local std::vector<float> scores;
  scores.resize(static_cast<std::size_t>(queries * keys));
  gemm(false, true, queries, keys, shape.head_dim, scale, q, shape.q_stride, k, shape.kv_stride, 0.0f,
       scores.data(), keys);
  for (int64_t i = 0; i < queries; ++i) {
    float* row = scores.data() + i * keys;
    const int64_t visible = keys_seen(i, queries, keys, causal);
    softmax(row, visible);
    std::fill(row + visible, row + keys, 0.0f);
  }
  gemm(false, false, queries, shape.head_dim, keys, 1.0f, scores.data(), keys, v, shape.kv_stride, 0.0f,
       out, shape.out_stride);
}

// One head in one tiled pass (flash-attention style), AVX-512, head_dim =
// 16 * DV. Keys are taken in tiles of kKeyTile; for each tile and each group
// of kRows query rows: the scores (Q·Kᵀ against the tile, its keys laid out
// once so that every score row is a broadcast-multiply sum with no
// horizontal reduction), the causal mask, an online-softmax update (running
// maximum m and sum l per row; earlier partial outputs rescaled by
// exp(m_old - m_new) when m moves) and the weighted sum of the tile's V
// rows, all in registers and L1. The score matrix is never written out, and
// each K/V tile is read once per query group from L1/L2. A row's last tile
// writes its output divided by l. The two products come from a policy
// (below): float32 FMAs, or bf16 pairs.
constexpr int64_t kKeyTile = 64;                  // keys per tile
constexpr int64_t kScoreVectors = kKeyTile / 16;  // 4 vectors of scores per query row
constexpr int64_t kRows = 6;                      // query rows per register block (24 score accumulators)

// The tiled kernels' instruction sets: the bf16 policy's. One skeleton
// serves both policies, so the float32 kernels carry BW and BF16 too; GCC
// emits none of their instructions for them (float intrinsics only), and
// they run on any AVX-512 CPU.
#define SNAPFORMER_TILED __attribute__((target("avx512f,avx512bw,avx512bf16"), always_inline)) inline

SNAPFORMER_TILED float max_lane(__m512 v) {
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, v);
  return *std::max_element(lanes, lanes + 16);
}

// 2^t for 16 lanes, 0 in the lanes `keep` leaves out: t = n + f with n
// round(t) and |f| <= 1/2, 2^f the polynomial `c` (lowest degree first),
// 2^n applied by VSCALEFPS, which also takes t far below -126 to 0 without
// a clamp. With degree 6, 9 operations, where exp_negative (which builds 2^n
// in the exponent bits) takes about eighteen.
template <int kTerms>
SNAPFORMER_TILED __m512 exp2_lanes(__m512 t, __mmask16 keep, const float (&c)[kTerms]) {
  const __m512 n = _mm512_roundscale_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m512 f = _mm512_sub_ps(t, n);
  __m512 p = _mm512_set1_ps(c[kTerms - 1]);
#pragma GCC unroll 8
  for (int k = kTerms - 2; k >= 0; --k) p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(c[k]));
  return _mm512_maskz_scalef_ps(keep, p, n);
}

// 2^f for |f| <= 1/2 (scripts/fit-polynomials): degree 6, relative error
// ~1e-7 in float32, for float32 products; degree 3, 7.5e-5 (27 times under
// bf16's rounding), for numerators that are rounded to bf16 anyway.
constexpr float kExp2Degree6[] = {1.0f,           6.931472057e-01f, 2.402264689e-01f, 5.550328776e-02f,
                                  9.618488972e-03f, 1.339993158e-03f, 1.534580883e-04f};
constexpr float kExp2Degree3[] = {9.999280724e-01f, 6.932609933e-01f, 2.426111440e-01f, 5.517163804e-02f};

// The per-query state of a tiled pass: d partial outputs, the running
// maximum m (in units of raw scores, before the scale) and the running sum
// l of every query row, l kept in 16 lanes until the row's last tile. The
// calling thread's buffer, reset for each (sequence, head); the partial
// outputs are first written by each row's first tile, so they start
// uninitialized.
//
// The maximum is raised lazily: a tile's scores only move m when one of them
// exceeds m by more than kLazyMaxLog2 (in log2 units, after the scale), so
// the numerators exp(score - m) stay below 2^kLazyMaxLog2 = 256, and most
// tiles after the first skip the horizontal maximum, the correction factor
// and the rescaling of the partial outputs. Softmax does not depend on the
// shift, so only rounding differs from raising m at every tile. The
// maximum of raw scores is the maximum of scaled ones because the scale
// (1/√d) is positive.
constexpr float kLazyMaxLog2 = 8.0f;

struct OnlineSoftmaxRows {
  float* partial;
  float* running_max;
  float* running_sum;  // [queries][16]
  float log2_scale;    // scale · log2(e): exp(scale · s) = 2^(log2_scale · s)
  float raise_margin;  // kLazyMaxLog2 in raw-score units

  OnlineSoftmaxRows(int64_t queries, int64_t d, float scale)
      : log2_scale(scale * 1.44269504088896341f), raise_margin(kLazyMaxLog2 / log2_scale) {
    thread_local std::vector<float> state;
    const auto size = static_cast<std::size_t>(queries * (d + 16 + 1));  // partial, running_sum, running_max
    if (state.size() < size) state.resize(size);
    partial = state.data();
    running_sum = partial + queries * d;
    running_max = running_sum + queries * 16;
    std::fill(running_sum, running_sum + queries * 16, 0.0f);
    std::fill(running_max, running_max + queries, -std::numeric_limits<float>::infinity());
  }

  // Query row i's step over one key tile. Keeps the first `visible` (> 0)
  // lanes of its raw scores, raises m if needed (above), adds to l and
  // writes the tile's softmax numerators exp(scale · (score - m)) (0 where
  // masked) to `weight`. Returns exp(scale · (m_old - m_new)), the factor the
  // row's earlier partial outputs take: exactly 1 when m stayed.
  // Only the first V of kScoreVectors score vectors hold keys (a short
  // tile); the numerators come from the 2^f polynomial `exp2`.
  template <int V, int kTerms>
  SNAPFORMER_TILED float step(int64_t i, const __m512 (&score)[kScoreVectors], int64_t visible,
                              const float (&exp2)[kTerms], __m512 (&weight)[kScoreVectors]) {
    __mmask16 lanes[V];
    for (int64_t s = 0; s < V; ++s) {
      const int64_t valid = std::clamp<int64_t>(visible - 16 * s, 0, 16);
      lanes[s] = static_cast<__mmask16>((1u << valid) - 1);
    }
    __m512 tile_max = _mm512_mask_mov_ps(_mm512_set1_ps(-std::numeric_limits<float>::infinity()), lanes[0], score[0]);
    for (int64_t s = 1; s < V; ++s) tile_max = _mm512_mask_max_ps(tile_max, lanes[s], tile_max, score[s]);
    float correction = 1.0f;
    const float raise_above = running_max[i] + raise_margin;  // -inf before the first tile
    if (_mm512_cmp_ps_mask(tile_max, _mm512_set1_ps(raise_above), _CMP_GT_OQ) != 0) {
      const float new_max = std::max(running_max[i], max_lane(tile_max));
      correction = std::exp2(log2_scale * (running_max[i] - new_max));  // 0 for the first tile (-inf)
      running_max[i] = new_max;
    }
    const __m512 multiplier = _mm512_set1_ps(log2_scale);
    const __m512 shift = _mm512_set1_ps(-log2_scale * running_max[i]);
    __m512 sum = _mm512_mul_ps(_mm512_loadu_ps(running_sum + 16 * i), _mm512_set1_ps(correction));
    for (int64_t s = 0; s < V; ++s) {
      weight[s] = exp2_lanes(_mm512_fmadd_ps(score[s], multiplier, shift), lanes[s], exp2);
      sum = _mm512_add_ps(sum, weight[s]);
    }
    _mm512_storeu_ps(running_sum + 16 * i, sum);
    return correction;
  }

  // 1 / l of row i, once its last tile has been added.
  SNAPFORMER_TILED float inverse_sum(int64_t i) const {
    return 1.0f / sum_lanes(_mm512_loadu_ps(running_sum + 16 * i));
  }
};

// Where a policy reads one head: its first column of Q, K and V, and the strides.
template <typename KV>
struct HeadRows {
  const float* q;
  const KV* k;
  const KV* v;
  const AttentionShape& shape;
};

// Float32 products: the tile's K transposed ([d][kKeyTile]), each score row
// a broadcast of q[c] times 16 keys' c-th values; P·V a broadcast of p[j]
// times V[j]'s 16-column pieces, read in place.
template <int DV>
struct Float32Products {
  static constexpr int kVectors = DV;  // head_dim / 16
  static constexpr int64_t d = 16 * DV;
  static constexpr const float (&kExp2)[7] = kExp2Degree6;  // 2^f of the softmax numerators
  using Element = float;  // of K and V
  HeadRows<float> head;
  alignas(64) float key_columns[d * kKeyTile];
  alignas(64) float weights[kRows][kKeyTile];  // softmax numerators of one register block

  Float32Products(const HeadRows<float>& rows, int64_t /*queries*/) : head(rows) {}

  // Keys from `tile` to `width` (the lanes the scores read) are zeros.
  SNAPFORMER_TILED void load_tile(int64_t k0, int64_t tile, int64_t width) {
    for (int64_t j = 0; j < width; ++j)
      for (int64_t c = 0; c < d; ++c)
        key_columns[c * kKeyTile + j] = j < tile ? head.k[(k0 + j) * head.shape.kv_stride + c] : 0.0f;
  }

  // Rows i0 .. i0 + kRows (past the last query, the last one again), the
  // first 16·V keys of the tile.
  template <int V>
  SNAPFORMER_TILED void scores(int64_t i0, int64_t rows, __m512 (&score)[kRows][kScoreVectors]) const {
    const float* query[kRows];
    for (int64_t r = 0; r < kRows; ++r) query[r] = head.q + (i0 + std::min(r, rows - 1)) * head.shape.q_stride;
    for (int64_t c = 0; c < d; ++c) {
      __m512 kc[V];
      for (int64_t s = 0; s < V; ++s) kc[s] = _mm512_load_ps(key_columns + c * kKeyTile + 16 * s);
      for (int64_t r = 0; r < kRows; ++r) {
        const __m512 qc = _mm512_set1_ps(query[r][c]);
        for (int64_t s = 0; s < V; ++s) score[r][s] = _mm512_fmadd_ps(qc, kc[s], score[r][s]);
      }
    }
  }

  template <int V>
  SNAPFORMER_TILED void keep_weights(int64_t r, const __m512 (&weight)[kScoreVectors]) {
    for (int64_t s = 0; s < V; ++s) _mm512_store_ps(weights[r] + 16 * s, weight[s]);
  }

  SNAPFORMER_TILED void weigh_values(int64_t k0, int64_t tile, __m512 (&acc)[kRows][DV]) const {
    for (int64_t j = 0; j < tile; ++j) {
      __m512 vj[DV];
      const float* row = head.v + (k0 + j) * head.shape.kv_stride;
      for (int64_t c = 0; c < DV; ++c) vj[c] = _mm512_loadu_ps(row + 16 * c);
      for (int64_t r = 0; r < kRows; ++r) {
        const __m512 p = _mm512_set1_ps(weights[r][j]);
        for (int64_t c = 0; c < DV; ++c) acc[r][c] = _mm512_fmadd_ps(p, vj[c], acc[r][c]);
      }
    }
  }
};

// 16 consecutive K/V values as bf16: float32 rounded (VCVTNEPS2BF16), or bf16 as stored.
SNAPFORMER_TILED __m256i bf16x16(const float* x) { return (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(x)); }
SNAPFORMER_TILED __m256i bf16x16(const KvBf16* x) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x)); }

// The same 16 values, each in the low half of a 32-bit lane (zeros unless `present`).
template <typename KV>
SNAPFORMER_TILED __m512i bf16_in_low_halves(const KV* x, bool present) {
  if (!present) return _mm512_setzero_si512();
  return _mm512_cvtepu16_epi32(bf16x16(x));
}

// bf16 products (AVX512-BF16's VDPBF16PS adds 32 bf16 products into 16
// float32 sums per instruction, twice an FMA's 16): Q, K, the softmax
// numerators and V are rounded to bf16 (8 significant bits); the sums, the
// running maximum and sum and the outputs stay float32. For models whose
// linear layers already round their inputs as coarsely (--dtype bf16,
// int8); float32 models keep Float32Products.
//
// VDPBF16PS multiplies pairs: lane i of the sum gets a[2i]·b[2i] +
// a[2i+1]·b[2i+1]. So Q·Kᵀ broadcasts one (q[c], q[c+1]) pair against a row
// of key pairs ((K[j][c], K[j][c+1]) for 16 keys j), and P·V broadcasts one
// (p[j], p[j+1]) pair against a row of value pairs ((V[j][c], V[j+1][c]) for
// 16 columns c). Q is converted once, the K and V pair tables once per tile
// (from float32 K and V, or from a bf16 KV cache as stored).
template <int DV, typename KV>
struct Bf16Products {
  static constexpr int kVectors = DV;  // head_dim / 16
  static constexpr int64_t d = 16 * DV, kPairs = d / 2;
  static constexpr const float (&kExp2)[4] = kExp2Degree3;  // the numerators are rounded to bf16
  using Element = KV;  // of K and V
  HeadRows<KV> head;
  std::uint32_t* query_pairs;                                   // [queries][kPairs]
  alignas(64) std::uint32_t key_pairs[kPairs * kKeyTile];       // [c/2][j]: (K[j][c], K[j][c+1])
  alignas(64) std::uint32_t value_pairs[kKeyTile / 2 * d];      // [j/2][c]: (V[j][c], V[j+1][c])
  alignas(64) std::uint32_t weight_pairs[kRows][kKeyTile / 2];  // [r][j/2]: (p[j], p[j+1])

  SNAPFORMER_TILED Bf16Products(const HeadRows<KV>& rows, int64_t queries) : head(rows) {
    thread_local std::vector<std::uint32_t> buffer;
    buffer.resize(static_cast<std::size_t>(queries * kPairs));
    query_pairs = buffer.data();
    for (int64_t i = 0; i < queries; ++i)
      for (int64_t c = 0; c < d; c += 16)
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(query_pairs + i * kPairs + c / 2),
                            (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(head.q + i * head.shape.q_stride + c)));
  }

  // Keys from `tile` to `width` (the lanes the scores read) are zeros in
  // both tables (their weights are 0 too).
  SNAPFORMER_TILED void load_tile(int64_t k0, int64_t tile, int64_t width) {
    const int64_t stride = head.shape.kv_stride;
    for (int64_t j = 0; j < width; ++j)
      for (int64_t c = 0; c < d; c += 16) {
        alignas(32) std::uint32_t pairs[8] = {};
        if (j < tile)
          _mm256_store_si256(reinterpret_cast<__m256i*>(pairs), bf16x16(head.k + (k0 + j) * stride + c));
        for (int64_t p = 0; p < 8; ++p) key_pairs[(c / 2 + p) * kKeyTile + j] = pairs[p];
      }
    for (int64_t j = 0; j < width; j += 2)
      for (int64_t c = 0; c < d; c += 16) {
        const KV* row = head.v + (k0 + j) * stride + c;
        const __m512i first = bf16_in_low_halves(row, j < tile);
        const __m512i second = bf16_in_low_halves(row + stride, j + 1 < tile);
        _mm512_store_si512(value_pairs + j / 2 * d + c, _mm512_or_si512(first, _mm512_slli_epi32(second, 16)));
      }
  }

  template <int V>
  SNAPFORMER_TILED void scores(int64_t i0, int64_t rows, __m512 (&score)[kRows][kScoreVectors]) const {
    const std::uint32_t* query[kRows];
    for (int64_t r = 0; r < kRows; ++r) query[r] = query_pairs + (i0 + std::min(r, rows - 1)) * kPairs;
    for (int64_t c = 0; c < kPairs; ++c) {
      __m512bh kc[V];
      for (int64_t s = 0; s < V; ++s) kc[s] = (__m512bh)_mm512_load_si512(key_pairs + c * kKeyTile + 16 * s);
      for (int64_t r = 0; r < kRows; ++r) {
        const __m512bh qc = (__m512bh)_mm512_set1_epi32(static_cast<int>(query[r][c]));
        for (int64_t s = 0; s < V; ++s) score[r][s] = _mm512_dpbf16_ps(score[r][s], qc, kc[s]);
      }
    }
  }

  // 32 numerators per store, in key order (the second operand fills the low
  // half); a single vector (V = 1) as 16 pairs whose upper 8 are zeros.
  template <int V>
  SNAPFORMER_TILED void keep_weights(int64_t r, const __m512 (&weight)[kScoreVectors]) {
    for (int64_t s = 0; s < V; s += 2)
      _mm512_store_si512(weight_pairs[r] + 8 * s,
                         (__m512i)_mm512_cvtne2ps_pbh(s + 1 < V ? weight[s + 1] : _mm512_setzero_ps(), weight[s]));
  }

  SNAPFORMER_TILED void weigh_values(int64_t /*k0*/, int64_t tile, __m512 (&acc)[kRows][DV]) const {
    for (int64_t j = 0; j < (tile + 1) / 2; ++j) {
      __m512bh vj[DV];
      for (int64_t c = 0; c < DV; ++c) vj[c] = (__m512bh)_mm512_load_si512(value_pairs + j * d + 16 * c);
      for (int64_t r = 0; r < kRows; ++r) {
        const __m512bh p = (__m512bh)_mm512_set1_epi32(static_cast<int>(weight_pairs[r][j]));
        for (int64_t c = 0; c < DV; ++c) acc[r][c] = _mm512_dpbf16_ps(acc[r][c], p, vj[c]);
      }
    }
  }
};

// One key tile of the tiled pass against every block of kRows queries from
// first_row on, with V (1, 2 or 4) vectors of scores per row: a tile of at
// most 16 or 32 keys (short inputs, a sequence's last tile) computes no
// products for the empty lanes of a 64-key tile.
//
// A row's first tile (k0 = 0) starts its outputs from zero; its last tile
// (the one holding its last visible key) writes them, divided by l, to
// `out` (rows shape.out_stride apart); tiles between keep them in
// state.partial.
template <int V, typename Products>
SNAPFORMER_TILED void tile_pass(Products& products, OnlineSoftmaxRows& state, int64_t k0, int64_t tile,
                                int64_t first_row, int64_t queries, int64_t keys, bool causal,
                                const AttentionShape& shape, float* out) {
  constexpr int DV = Products::kVectors;
  constexpr int64_t d = Products::d;
  products.load_tile(k0, tile, 16 * V);
  for (int64_t i0 = first_row; i0 < queries; i0 += kRows) {
    const int64_t rows = std::min(kRows, queries - i0);
    // Loops run over all kRows (constant bounds keep the accumulators in
    // registers); rows past `rows` repeat the last row and are not stored.
    __m512 score[kRows][kScoreVectors];
    for (int64_t r = 0; r < kRows; ++r)
      for (int64_t s = 0; s < V; ++s) score[r][s] = _mm512_setzero_ps();
    products.template scores<V>(i0, rows, score);
    float correction[kRows];
    bool rescale = false;  // whether any row's maximum moved
    for (int64_t r = 0; r < kRows; ++r) {
      const int64_t i = i0 + r;
      const int64_t visible = r < rows ? std::min(tile, keys_seen(i, queries, keys, causal) - k0) : 0;
      __m512 weight[kScoreVectors];
      correction[r] = 1.0f;
      if (visible > 0) {
        correction[r] = state.step<V>(i, score[r], visible, Products::kExp2, weight);
        rescale |= correction[r] != 1.0f;
      } else {
        for (int64_t s = 0; s < V; ++s) weight[s] = _mm512_setzero_ps();
      }
      products.template keep_weights<V>(r, weight);
    }
    __m512 acc[kRows][DV];
    if (k0 == 0) {
      for (int64_t r = 0; r < kRows; ++r)
        for (int64_t c = 0; c < DV; ++c) acc[r][c] = _mm512_setzero_ps();
    } else {
      for (int64_t r = 0; r < kRows; ++r)
        for (int64_t c = 0; c < DV; ++c)
          acc[r][c] = _mm512_loadu_ps(state.partial + (i0 + std::min(r, rows - 1)) * d + 16 * c);
      if (rescale)
        for (int64_t r = 0; r < kRows; ++r)
          for (int64_t c = 0; c < DV; ++c) acc[r][c] = _mm512_mul_ps(acc[r][c], _mm512_set1_ps(correction[r]));
    }
    products.weigh_values(k0, tile, acc);
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t i = i0 + r;
      if (keys_seen(i, queries, keys, causal) <= k0 + tile) {  // the row's last tile
        const __m512 inverse = _mm512_set1_ps(state.inverse_sum(i));
        for (int64_t c = 0; c < DV; ++c)
          _mm512_storeu_ps(out + i * shape.out_stride + 16 * c, _mm512_mul_ps(acc[r][c], inverse));
      } else {
        for (int64_t c = 0; c < DV; ++c) _mm512_storeu_ps(state.partial + i * d + 16 * c, acc[r][c]);
      }
    }
  }
}

// The tiled pass over one head. A Products policy (Float32Products,
// Bf16Products) is made per head from its rows and query count, then
// load_tile(k0, tile, width) lays out a key tile, scores<V>(i0, rows, score)
// adds Q·Kᵀ of a block of kRows queries into `score`, keep_weights<V>(r,
// weight) takes row r's softmax numerators, and weigh_values(k0, tile, acc)
// adds P·V into `acc`; the online softmax itself is shared
// (OnlineSoftmaxRows), and each row's last tile writes its output.
template <typename Products, typename KV = typename Products::Element>
SNAPFORMER_TILED void tiled_pass(const float* q, const KV* k, const KV* v, int64_t queries, int64_t keys,
                                 const AttentionShape& shape, bool causal, float scale, float* out) {
  OnlineSoftmaxRows state(queries, Products::d, scale);
  Products products(HeadRows<KV>{q, k, v, shape}, queries);
  for (int64_t k0 = 0; k0 < keys; k0 += kKeyTile) {
    const int64_t tile = std::min(kKeyTile, keys - k0);
    // Causal: query i sees keys 0 .. keys - queries + i; rows wholly before
    // this tile are skipped.
    const int64_t first_row = causal ? std::max<int64_t>(0, k0 - (keys - queries)) : 0;
    if (tile <= 16) tile_pass<1>(products, state, k0, tile, first_row, queries, keys, causal, shape, out);
    else if (tile <= 32) tile_pass<2>(products, state, k0, tile, first_row, queries, keys, causal, shape, out);
    else tile_pass<kScoreVectors>(products, state, k0, tile, first_row, queries, keys, causal, shape, out);
  }
}

// The kernels the dispatch points at (one per policy and head size).
template <int DV>
__attribute__((target("avx512f,avx512bw,avx512bf16"))) void attend_tiled(
    const float* q, const float* k, const float* v, int64_t queries, int64_t keys, const AttentionShape& shape,
    bool causal, float scale, float* out) {
  tiled_pass<Float32Products<DV>>(q, k, v, queries, keys, shape, causal, scale, out);
}
template <int DV, typename KV>
__attribute__((target("avx512f,avx512bw,avx512bf16"))) void attend_tiled_bf16(
    const float* q, const KV* k, const KV* v, int64_t queries, int64_t keys, const AttentionShape& shape,
    bool causal, float scale, float* out) {
  tiled_pass<Bf16Products<DV, KV>>(q, k, v, queries, keys, shape, causal, scale, out);
}

template <typename KV>
using TiledKernel = void (*)(const float*, const KV*, const KV*, int64_t, int64_t, const AttentionShape&, bool, float,
                             float*);

// The tiled form for head size 16 * DV: bf16 products, or float32 ones,
// which read float32 keys and values only (nullptr for bf16 ones).
template <int DV, typename KV>
TiledKernel<KV> tiled_form(bool bf16) {
  if (bf16) return attend_tiled_bf16<DV, KV>;
  if constexpr (std::is_same_v<KV, float>) return attend_tiled<DV>;
  return nullptr;
}

// The tiled kernel for this head size reading KV keys and values (its bf16
// form where asked for, which the caller decides by the CPU), or nullptr
// (then two GEMMs, or a bf16 head widened first).
// SNAPFORMER_ATTENTION=gemm keeps the two-GEMM form, to measure one against the other.
template <typename KV>
TiledKernel<KV> tiled_kernel(int64_t head_dim, bool bf16) {
  static const bool gemm_only = [] {
    const char* choice = std::getenv("SNAPFORMER_ATTENTION");
    return choice != nullptr && std::string(choice) == "gemm";
  }();
  if (gemm_only || active_isa() != Isa::kAvx512) return nullptr;
  switch (head_dim) {
    case 16: return tiled_form<1, KV>(bf16);
    case 32: return tiled_form<2, KV>(bf16);
    case 64: return tiled_form<4, KV>(bf16);
    case 128: return tiled_form<8, KV>(bf16);
    default: return nullptr;
  }
}

// Whether attention takes its bf16 products for a model of this precision.
bool bf16_products(Precision precision) { return precision != Precision::kFp32 && bf16_dot_products(); }

// From this many queries on, the tiled (or GEMM) form beats the row form:
// 64 with float32 products (bert-base), 16 with bf16 ones (bert-base int8 at
// 32 tokens 15.2-15.5 -> 14.9-15.0 ms, 1 thread, Zen 4; 8 tokens no better).
constexpr int64_t kManyQueries = 64;
constexpr int64_t kManyQueriesBf16 = 16;

}  // namespace

bool kv_cache_in_bf16(Precision precision) { return bf16_products(precision); }

void attend(const float* q, const float* k, const float* v, int64_t queries, int64_t keys, const AttentionShape& shape,
            bool causal, float scale, float* out, Precision products) {
  attend_batch({AttentionSpan{q, k, v, queries, keys, out}}, shape, causal, scale, products);
}

void attend_batch(const std::vector<AttentionSpan>& spans, const AttentionShape& shape, bool causal, float scale,
                  Precision products) {
  const int64_t d = shape.head_dim, heads = shape.heads;
  const int64_t head_stride = shape.input_head_stride > 0 ? shape.input_head_stride : d;
  const bool bf16 = bf16_products(products);
  const RowKernel<float> rows = row_kernel<float>(d);
  const RowKernel<KvBf16> rows_bf16_kv = row_kernel<KvBf16>(d);
  const TiledKernel<float> tiled = tiled_kernel<float>(d, bf16);
  const TiledKernel<KvBf16> tiled_bf16_kv = tiled_kernel<KvBf16>(d, bf16);
  const int64_t many_queries = tiled != nullptr && bf16 ? kManyQueriesBf16 : kManyQueries;
  // Task t is head t % heads of span t / heads; the kernels get that head's
  // first column of Q, K, V and the output.
  auto run = [&](int64_t first, int64_t last) {
    thread_local std::vector<float> scratch;  // the row form's scores
    thread_local std::vector<float> widened;  // bf16 K and V as float32, for the forms without a bf16 reader
    for (int64_t t = first; t < last; ++t) {
      const AttentionSpan& s = spans[static_cast<std::size_t>(t / heads)];
      const int64_t head = t % heads;
      const int64_t kv_offset = head * (s.kv_head_stride > 0 ? s.kv_head_stride : head_stride);
      const float* q = s.q + head * head_stride;
      float* out = s.out + head * d;
      if (s.queries < many_queries) {
        const auto scores = static_cast<std::size_t>(s.queries * s.keys);
        if (scratch.size() < scores) scratch.resize(scores);
        if (s.k_bf16 != nullptr)
          rows_bf16_kv(q, s.k_bf16 + kv_offset, s.v_bf16 + kv_offset, s.queries, s.keys, shape, causal, scale, out,
                       scratch.data());
        else
          rows(q, s.k + kv_offset, s.v + kv_offset, s.queries, s.keys, shape, causal, scale, out, scratch.data());
      } else if (s.k_bf16 != nullptr && tiled_bf16_kv != nullptr) {
        tiled_bf16_kv(q, s.k_bf16 + kv_offset, s.v_bf16 + kv_offset, s.queries, s.keys, shape, causal, scale, out);
      } else {
        const float *k, *v;
        AttentionShape kv_shape = shape;
        if (s.k_bf16 != nullptr) {  // this head's keys and values widened, rows d apart
          widened.resize(static_cast<std::size_t>(2 * s.keys * d));
          for (int64_t j = 0; j < s.keys; ++j) {
            float_row(s.k_bf16 + kv_offset + j * shape.kv_stride, d, widened.data() + j * d);
            float_row(s.v_bf16 + kv_offset + j * shape.kv_stride, d, widened.data() + (s.keys + j) * d);
          }
          k = widened.data();
          v = widened.data() + s.keys * d;
          kv_shape.kv_stride = d;
        } else {
          k = s.k + kv_offset;
          v = s.v + kv_offset;
        }
        if (tiled != nullptr)
          tiled(q, k, v, s.queries, s.keys, kv_shape, causal, scale, out);
        else
          attend_gemm(q, k, v, s.queries, s.keys, kv_shape, causal, scale, out);
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
