#include "ops/fff.h"

#include "ops/intrinsics.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#include "ops/cpu.h"
#include "ops/elementwise.h"
#include "ops/linear.h"
#include "ops/quantize.h"
#include "ops/simd.h"
#include "ops/vector_math.h"
#include "util/thread_pool.h"

namespace snapformer::ops {
namespace {

inline float gelu(float z) { return 0.5f * z * (1.0f + std::erf(z * 0.70710678118654752f)); }

// The kernel works in two phases per block of tokens, because a visit is
// compute-bound (a token's 12 weight rows of each kind are re-used across
// calls and mostly sit in L2/L3), and the old loop of dot + axpy per visit
// spent most of its time on what the two phases avoid (between them, GELU
// runs once over all the block's logits, in vectors):
//
// 1. Routing, level by level over the block: a token's next node is known
//    only after its dot product at this level, but the tokens of a block are
//    independent, so their dot products (and their horizontal sums) overlap
//    instead of forming one chain of dependent visits.
// 2. Output: y = sum over levels of GELU(z_l) * W_out[node_l], one pass over
//    the hidden dimension per token with all levels' rows streamed together:
//    y is written once instead of read and written at every level.
constexpr int64_t kBlock = 16;
constexpr int64_t kMaxLevels = 32;

// Dot product of two rows of `h` floats (h a multiple of 16).
__attribute__((target("avx512f"))) inline float dot512(const float* a, const float* b, int64_t h) {
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= h; i += 32) {
    acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
    acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), acc1);
  }
  if (i < h) acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
  return sum_lanes(_mm512_add_ps(acc0, acc1));
}

// y (+)= sum_l scale[l] * rows[l] over `h` floats (h a multiple of 16): adds
// to y when `add` (the second and later trees), else overwrites it. 4 x 16
// columns at a time so that four accumulation chains run side by side.
__attribute__((target("avx512f"))) void weighted_sum512(const float* const* rows, const float* scale, int64_t levels,
                                                        int64_t h, bool add, float* y) {
  int64_t c = 0;
  for (; c + 64 <= h; c += 64) {
    __m512 acc0 = _mm512_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
    if (add) {
      acc0 = _mm512_loadu_ps(y + c);
      acc1 = _mm512_loadu_ps(y + c + 16);
      acc2 = _mm512_loadu_ps(y + c + 32);
      acc3 = _mm512_loadu_ps(y + c + 48);
    }
    for (int64_t l = 0; l < levels; ++l) {
      const __m512 s = _mm512_set1_ps(scale[l]);
      const float* row = rows[l] + c;
      acc0 = _mm512_fmadd_ps(s, _mm512_loadu_ps(row), acc0);
      acc1 = _mm512_fmadd_ps(s, _mm512_loadu_ps(row + 16), acc1);
      acc2 = _mm512_fmadd_ps(s, _mm512_loadu_ps(row + 32), acc2);
      acc3 = _mm512_fmadd_ps(s, _mm512_loadu_ps(row + 48), acc3);
    }
    _mm512_storeu_ps(y + c, acc0);
    _mm512_storeu_ps(y + c + 16, acc1);
    _mm512_storeu_ps(y + c + 32, acc2);
    _mm512_storeu_ps(y + c + 48, acc3);
  }
  for (; c < h; c += 16) {
    __m512 acc = add ? _mm512_loadu_ps(y + c) : _mm512_setzero_ps();
    for (int64_t l = 0; l < levels; ++l)
      acc = _mm512_fmadd_ps(_mm512_set1_ps(scale[l]), _mm512_loadu_ps(rows[l] + c), acc);
    _mm512_storeu_ps(y + c, acc);
  }
}

// The same two helpers for AVX2 + FMA (h a multiple of 8): the dot product
// for float rows (int8 rows route with integer dots, below), the weighted sum
// for float rows and for int8 rows (symmetric, one scale per row, applied by
// the caller: 8 values are widened to float per step, the same arithmetic on
// a quarter of the bytes). CPUs without AVX-512 (such as this project's AMD
// EPYC of 2026-12) otherwise fall back to a dot and an axpy per visit.
__attribute__((target("avx2,fma"))) inline __m256 load8(const float* p) { return _mm256_loadu_ps(p); }
__attribute__((target("avx2,fma"))) inline __m256 load8(const std::int8_t* q) {
  return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(q))));
}

template <typename Row>
__attribute__((target("avx2,fma"))) inline float dot256(const Row* a, const float* b, int64_t h) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps(), acc2 = acc0, acc3 = acc0;
  int64_t i = 0;
  for (; i + 32 <= h; i += 32) {
    acc0 = _mm256_fmadd_ps(load8(a + i), _mm256_loadu_ps(b + i), acc0);
    acc1 = _mm256_fmadd_ps(load8(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
    acc2 = _mm256_fmadd_ps(load8(a + i + 16), _mm256_loadu_ps(b + i + 16), acc2);
    acc3 = _mm256_fmadd_ps(load8(a + i + 24), _mm256_loadu_ps(b + i + 24), acc3);
  }
  for (; i < h; i += 8) acc0 = _mm256_fmadd_ps(load8(a + i), _mm256_loadu_ps(b + i), acc0);
  return sum_lanes(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
}

template <typename Row>
__attribute__((target("avx2,fma"))) void weighted_sum256(const Row* const* rows, const float* scale, int64_t levels,
                                                         int64_t h, bool add, float* y) {
  int64_t c = 0;
  for (; c + 32 <= h; c += 32) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
    if (add) {
      acc0 = _mm256_loadu_ps(y + c);
      acc1 = _mm256_loadu_ps(y + c + 8);
      acc2 = _mm256_loadu_ps(y + c + 16);
      acc3 = _mm256_loadu_ps(y + c + 24);
    }
    for (int64_t l = 0; l < levels; ++l) {
      const __m256 s = _mm256_set1_ps(scale[l]);
      const Row* row = rows[l] + c;
      acc0 = _mm256_fmadd_ps(s, load8(row), acc0);
      acc1 = _mm256_fmadd_ps(s, load8(row + 8), acc1);
      acc2 = _mm256_fmadd_ps(s, load8(row + 16), acc2);
      acc3 = _mm256_fmadd_ps(s, load8(row + 24), acc3);
    }
    _mm256_storeu_ps(y + c, acc0);
    _mm256_storeu_ps(y + c + 8, acc1);
    _mm256_storeu_ps(y + c + 16, acc2);
    _mm256_storeu_ps(y + c + 24, acc3);
  }
  for (; c < h; c += 8) {
    __m256 acc = add ? _mm256_loadu_ps(y + c) : _mm256_setzero_ps();
    for (int64_t l = 0; l < levels; ++l) acc = _mm256_fmadd_ps(_mm256_set1_ps(scale[l]), load8(rows[l] + c), acc);
    _mm256_storeu_ps(y + c, acc);
  }
}

// Int8 rows: the routing dot products in integers. Each token's x is
// quantized once per block, symmetric per token (x ≈ scale · xq with
// |xq| <= 127), and Σ q·xq is summed exactly; on AVX2 as VPMADDUBSW of |xq|
// (unsigned) and q carrying xq's sign (VPSIGNB), whose pair sums
// (<= 2·127·127) cannot saturate, then VPMADDWD into int32: 32 products in
// four operations, where widening the rows to float took three per 8.
struct QuantizedTokens {
  std::vector<std::int8_t> q;             // [kBlock, h]: xq
  std::vector<std::uint8_t> magnitude;    // [kBlock, h]: |xq|
  float scale[kBlock];
};

// The calling thread's scratch for one block of quantized tokens.
QuantizedTokens& quantized_tokens(int64_t h) {
  thread_local QuantizedTokens tokens;
  tokens.q.resize(static_cast<std::size_t>(kBlock * h));
  tokens.magnitude.resize(tokens.q.size());
  return tokens;
}

// One value of x · inverse rounded to nearest even (as the vector path's
// conversion), into q and |q|.
inline void quantize_value(float x, float inverse, std::int8_t* q, std::uint8_t* magnitude) {
  const float r = std::clamp(std::nearbyint(x * inverse), -127.0f, 127.0f);
  *q = static_cast<std::int8_t>(r);
  *magnitude = static_cast<std::uint8_t>(std::abs(r));
}

// Returns the scale of x ≈ scale · q; q and magnitude (|q|) receive h values.
__attribute__((target("avx2,fma"))) float quantize_symmetric(const float* x, int64_t h, std::int8_t* q,
                                                             std::uint8_t* magnitude) {
  const __m256 sign_bit = _mm256_set1_ps(-0.0f);
  __m256 max8 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= h; i += 8) max8 = _mm256_max_ps(max8, _mm256_andnot_ps(sign_bit, _mm256_loadu_ps(x + i)));
  __m128 max4 = _mm_max_ps(_mm256_castps256_ps128(max8), _mm256_extractf128_ps(max8, 1));
  max4 = _mm_max_ps(max4, _mm_movehl_ps(max4, max4));
  float max_abs = std::max(_mm_cvtss_f32(max4), _mm_cvtss_f32(_mm_shuffle_ps(max4, max4, 1)));
  for (; i < h; ++i) max_abs = std::max(max_abs, std::abs(x[i]));
  const float inverse = max_abs > 0.0f ? 127.0f / max_abs : 0.0f;
  const __m256 inv = _mm256_set1_ps(inverse);
  // Rounds to nearest even (the default mode), as std::nearbyint in the tail.
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  for (i = 0; i + 32 <= h; i += 32) {
    const __m256i a = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + i), inv));
    const __m256i b = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + i + 8), inv));
    const __m256i c = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + i + 16), inv));
    const __m256i d = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + i + 24), inv));
    // packs work within 128-bit lanes: the permutation restores the order.
    const __m256i bytes = _mm256_permutevar8x32_epi32(
        _mm256_packs_epi16(_mm256_packs_epi32(a, b), _mm256_packs_epi32(c, d)), order);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + i), bytes);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(magnitude + i), _mm256_abs_epi8(bytes));
  }
  for (; i < h; ++i) quantize_value(x[i], inverse, q + i, magnitude + i);
  return max_abs / 127.0f;
}

// 32 products row[k] · q[k] as 16-bit pair sums.
__attribute__((target("avx2,fma"))) inline __m256i pair_products(const std::int8_t* row, const std::int8_t* q,
                                                                const std::uint8_t* magnitude) {
  const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row));
  const __m256i signs = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q));
  const __m256i m = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(magnitude));
  return _mm256_maddubs_epi16(m, _mm256_sign_epi8(w, signs));
}

// Σ_k row[k] · q[k], exactly.
__attribute__((target("avx2,fma"))) inline std::int32_t dot_int8(const std::int8_t* row, const std::int8_t* q,
                                                                 const std::uint8_t* magnitude, int64_t h) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i acc0 = _mm256_setzero_si256(), acc1 = acc0;
  int64_t i = 0;
  for (; i + 64 <= h; i += 64) {
    acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(pair_products(row + i, q + i, magnitude + i), ones));
    acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(pair_products(row + i + 32, q + i + 32, magnitude + i + 32), ones));
  }
  if (i + 32 <= h) {
    acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(pair_products(row + i, q + i, magnitude + i), ones));
    i += 32;
  }
  std::int32_t sum = sum_lanes_epi32(_mm256_add_epi32(acc0, acc1));
  for (; i < h; ++i) sum += std::int32_t{row[i]} * q[i];
  return sum;
}

// Portable helpers (any hidden size): float rows use the multiversioned
// dot/axpy of vector_math.h, int8 rows a plain loop.
inline float portable_dot(const float* a, const float* b, int64_t h) { return dot(a, b, h); }
inline void portable_axpy(float s, const float* a, float* y, int64_t h) { axpy(s, a, y, h); }
float portable_quantize_symmetric(const float* x, int64_t h, std::int8_t* q, std::uint8_t* magnitude) {
  float max_abs = 0.0f;
  for (int64_t i = 0; i < h; ++i) max_abs = std::max(max_abs, std::abs(x[i]));
  const float inverse = max_abs > 0.0f ? 127.0f / max_abs : 0.0f;
  for (int64_t i = 0; i < h; ++i) quantize_value(x[i], inverse, q + i, magnitude + i);
  return max_abs / 127.0f;
}
std::int32_t portable_dot_int8(const std::int8_t* row, const std::int8_t* q, int64_t h) {
  std::int32_t sum = 0;
  for (int64_t i = 0; i < h; ++i) sum += std::int32_t{row[i]} * q[i];
  return sum;
}
void portable_axpy(float s, const std::int8_t* q, float* y, int64_t h) {
  for (int64_t i = 0; i < h; ++i) y[i] += s * static_cast<float>(q[i]);
}

// Which vector helpers a block uses (int8 rows: AVX2 also on AVX-512 CPUs).
enum class FffPath { kPortable, kAvx2, kAvx512 };

// One tree's rows: float (no scales) or int8 (per-node scales).
template <typename Row>
struct TreeRows {
  const Row* in;
  const float* in_scale;  // nullptr: 1
  const Row* out;
  const float* out_scale;  // nullptr: 1
};

TreeRows<float> tree_rows(const FffWeights& w, int64_t tree, const float*) {
  const int64_t nodes = w.nodes(), h = w.hidden;
  return {w.in + tree * nodes * h, nullptr, w.out_by_node + tree * nodes * h, nullptr};
}
TreeRows<std::int8_t> tree_rows(const FffWeights& w, int64_t tree, const std::int8_t*) {
  const int64_t nodes = w.nodes(), h = w.hidden;
  return {w.in_int8 + tree * nodes * h, w.in_scale + tree * nodes, w.out_by_node_int8 + tree * nodes * h,
          w.out_scale + tree * nodes};
}

// Tokens [begin, begin + count), count <= kBlock, with float or int8 rows.
template <typename Row>
void conditional_block(const FffWeights& w, const float* x, int64_t begin, int64_t count, float* y, int32_t* paths,
                       FffPath path) {
  const int64_t h = w.hidden, nodes = w.nodes(), levels = w.depth + 1;
  if (path == FffPath::kPortable) std::memset(y + begin * h, 0, static_cast<std::size_t>(count * h) * sizeof(float));
  // Int8 rows: the block's tokens quantized once, for every tree and level
  // (the same values on every path: both round to nearest even).
  QuantizedTokens* quantized_block = nullptr;
  if constexpr (std::is_same_v<Row, std::int8_t>) {
    quantized_block = &quantized_tokens(h);
    QuantizedTokens& quantized = *quantized_block;
    for (int64_t b = 0; b < count; ++b) {
      const float* xb = x + (begin + b) * h;
      std::int8_t* q = quantized.q.data() + b * h;
      std::uint8_t* magnitude = quantized.magnitude.data() + b * h;
      quantized.scale[b] = path == FffPath::kPortable ? portable_quantize_symmetric(xb, h, q, magnitude)
                                                      : quantize_symmetric(xb, h, q, magnitude);
    }
  }
  for (int64_t tree = 0; tree < w.trees; ++tree) {
    const TreeRows<Row> t = tree_rows(w, tree, static_cast<const Row*>(nullptr));
    const float* in_bias = w.in_bias + tree * nodes;
    int64_t node[kBlock] = {};
    // Per visit (token b, level l at b * levels + l): the logit, then GELU of
    // it times the row's scale; and the W_out row.
    float scale[kBlock * kMaxLevels], row_scale[kBlock * kMaxLevels];
    const Row* rows[kBlock * kMaxLevels];
    for (int64_t level = 0; level < levels; ++level) {
      for (int64_t b = 0; b < count; ++b) {
        const Row* row = t.in + node[b] * h;
        float dot_product;
        if constexpr (std::is_same_v<Row, float>) {
          const float* xb = x + (begin + b) * h;
          dot_product = path == FffPath::kAvx512 ? dot512(row, xb, h)
                        : path == FffPath::kAvx2 ? dot256(row, xb, h)
                                                 : portable_dot(row, xb, h);
        } else {
          const QuantizedTokens& quantized = *quantized_block;
          const std::int8_t* q = quantized.q.data() + b * h;
          const std::int32_t sum = path == FffPath::kPortable
                                       ? portable_dot_int8(row, q, h)
                                       : dot_int8(row, q, quantized.magnitude.data() + b * h, h);
          dot_product = quantized.scale[b] * static_cast<float>(sum);
        }
        const float z = (t.in_scale ? t.in_scale[node[b]] : 1.0f) * dot_product + in_bias[node[b]];
        if (paths != nullptr) paths[((begin + b) * w.trees + tree) * levels + level] = static_cast<int32_t>(node[b]);
        const int64_t visit = b * levels + level;
        scale[visit] = z;
        row_scale[visit] = t.out_scale ? t.out_scale[node[b]] : 1.0f;
        rows[visit] = t.out + node[b] * h;
        node[b] = 2 * node[b] + 1 + (z > 0.0f ? 1 : 0);  // ties (z == 0) go left
      }
    }
    // GELU of all the block's logits at once, in vectors (one std::erf per
    // visit took ~20% of the int8 layer).
    activate(Activation::kGeluErf, scale, count * levels);
    for (int64_t visit = 0; visit < count * levels; ++visit) scale[visit] *= row_scale[visit];
    for (int64_t b = 0; b < count; ++b) {
      float* yb = y + (begin + b) * h;
      const float* scale_b = scale + b * levels;
      const Row* const* rows_b = rows + b * levels;
      if (path == FffPath::kPortable) {
        for (int64_t level = 0; level < levels; ++level) portable_axpy(scale_b[level], rows_b[level], yb, h);
      } else if constexpr (std::is_same_v<Row, float>) {
        if (path == FffPath::kAvx512) weighted_sum512(rows_b, scale_b, levels, h, tree > 0, yb);
        else weighted_sum256(rows_b, scale_b, levels, h, tree > 0, yb);
      } else {
        weighted_sum256(rows_b, scale_b, levels, h, tree > 0, yb);
      }
    }
  }
}

void conditional_range(const FffWeights& w, const float* x, int64_t begin, int64_t end, float* y, int32_t* paths) {
  // The vector paths need whole vectors: every published shape (hidden 768) has them.
  FffPath path = FffPath::kPortable;
  if (w.depth + 1 <= kMaxLevels) {
    if (active_isa() == Isa::kAvx512 && w.hidden % 16 == 0) path = FffPath::kAvx512;
    else if (active_isa() >= Isa::kAvx2 && w.hidden % 8 == 0) path = FffPath::kAvx2;
  }
  for (int64_t t = begin; t < end; t += kBlock) {
    if (w.in_int8 != nullptr) conditional_block<std::int8_t>(w, x, t, std::min(kBlock, end - t), y, paths, path);
    else conditional_block<float>(w, x, t, std::min(kBlock, end - t), y, paths, path);
  }
}

}  // namespace

void fff_conditional(const FffWeights& w, const float* x, int64_t tokens, float* y, int32_t* paths) {
  // The layer is bound by reading the visited nodes' rows, and each core
  // brings its own read bandwidth: splitting even a 128-token layer over 2
  // threads halves it (0.16 -> 0.075 ms; tasks of 256 tokens, as before, kept
  // it on one thread). Tasks of one 16-token block: the pool hands them out
  // on demand, so a thread that runs slower gets fewer (two 64-token halves
  // run at once here took 60 and 90 us on the two vCPUs; 128 tokens, 2
  // threads, medians of 12 alternating rounds: 97 us with 32-token tasks,
  // 62 with 16).
  constexpr int64_t kTokensPerTask = kBlock;
  ThreadPool::global().parallel_for((tokens + kTokensPerTask - 1) / kTokensPerTask, [&](int64_t t0, int64_t t1) {
    conditional_range(w, x, t0 * kTokensPerTask, std::min(tokens, t1 * kTokensPerTask), y, paths);
  });
}

void quantize_fff_int8(const FffWeights& w, std::int8_t* in_q, float* in_scale, std::int8_t* out_q, float* out_scale) {
  const int64_t rows = w.trees * w.nodes();
  quantize_weight_int8(w.in, rows, w.hidden, /*input_major=*/false, in_q, in_scale, nullptr);
  quantize_weight_int8(w.out_by_node, rows, w.hidden, /*input_major=*/false, out_q, out_scale, nullptr);
}

void fff_dense_masked(const FffWeights& w, const float* x, int64_t tokens, float* y) {
  const int64_t h = w.hidden, nodes = w.nodes(), width = w.trees * nodes;
  std::vector<float> logits(static_cast<std::size_t>(tokens * width));
  Linear::fp32(w.in, w.in_bias, h, width).apply(x, tokens, logits.data());
  std::vector<float> masked(logits.size(), 0.0f);
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t tree = 0; tree < w.trees; ++tree) {
      int64_t n = 0;
      for (int64_t level = 0; level <= w.depth; ++level) {
        const std::size_t at = static_cast<std::size_t>(t * width + tree * nodes + n);
        masked[at] = gelu(logits[at]);
        n = 2 * n + 1 + (logits[at] > 0.0f ? 1 : 0);
      }
    }
  Linear::fp32(w.out, nullptr, width, h).apply(masked.data(), tokens, y);
}

}  // namespace snapformer::ops
