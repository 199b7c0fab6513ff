#include "ops/small_gemm_int8.h"

#include <immintrin.h>

#include <cstdlib>
#include <vector>

#include "ops/cpu.h"
#include "ops/simd.h"

namespace snapformer::ops {

namespace {

// Calls visit.template operator()<R>(r) for the row blocks of `rows`: R =
// kBlockRows while whole blocks remain, then once for the remainder (< 4).
template <int kBlockRows, typename Visit>
inline void visit_row_blocks(int64_t rows, const Visit& visit) {
  static_assert(kBlockRows <= 4, "the remainder is dispatched for up to 3 rows");
  int64_t r = 0;
  for (; r + kBlockRows <= rows; r += kBlockRows) visit.template operator()<kBlockRows>(r);
  switch (rows - r) {
    case 3: visit.template operator()<3>(r); break;
    case 2: visit.template operator()<2>(r); break;
    case 1: visit.template operator()<1>(r); break;
    default: break;
  }
}

// Without VNNI the u8·s8 step is VPMADDUBSW (16-bit sums of product pairs)
// then VPMADDWD by ones (32-bit sums of those pairs). The 16-bit pair sums
// saturate unless 2·x·|w| <= 32767, so activations get 7 bits (x <= 127,
// with |w| <= 127), as oneDNN's AVX2 GEMM needs too: the "7-bit" form.
// A single row (decoding) is bound by reading the weights, so it can afford
// the "widened" form, which keeps all 8 bits: both operands are widened to
// 16 bits and VPMADDWD adds exact products.

#define SNAPFORMER_AVX2 __attribute__((target("avx2,fma")))

constexpr int kAvx2Rows = 4;     // input rows per pass over a column pair
constexpr int kAvx2Columns = 2;  // weight rows per block: 8 accumulators + 2 weights + 1 input in registers
constexpr int kPrefetchBlocks = 1;  // how many column blocks ahead weights are prefetched

// The 8 horizontal sums of v[0..7], in order, in one vector.
SNAPFORMER_AVX2 inline __m256i sum_lanes_of_8(const __m256i* v) {
  const __m256i a = _mm256_hadd_epi32(v[0], v[1]), b = _mm256_hadd_epi32(v[2], v[3]);
  const __m256i c = _mm256_hadd_epi32(v[4], v[5]), d = _mm256_hadd_epi32(v[6], v[7]);
  const __m256i ab = _mm256_hadd_epi32(a, b), cd = _mm256_hadd_epi32(c, d);
  // ab: the sums of v0..v3 over their low 128 bits, then over their high 128 bits.
  return _mm256_add_epi32(_mm256_permute2x128_si256(ab, cd, 0x20), _mm256_permute2x128_si256(ab, cd, 0x31));
}

// acc[r, c..c+kColumns) for kRows input rows (`k` apart) of 7-bit bytes;
// kTail: k is not a multiple of 32 (a scalar loop finishes each sum).
// The whole 4x2 block without a tail stores its row pairs straight from the
// vector of totals. That form, and the tail compiled only where there is one,
// took the block's fixed cost per call (sums, stores, empty tail loops) from
// 18% of its samples to 9% (perf, bert-base int8 at 32 tokens): 32 rows x
// 768 x 3072, weights hot, 1 thread pinned: 77.6 -> 86 G products/s, and
// k = 3072 87 -> 90.7. (Returning early from the old form for this case
// instead made GCC keep the accumulators in memory: 49 G/s.)
template <int kRows, int kColumns, bool kTail>
SNAPFORMER_AVX2 void avx2_block(const std::uint8_t* x, int64_t k, const std::int8_t* w, std::int32_t* acc,
                                int64_t stride, bool prefetch) {
  constexpr int64_t kStep = 32;  // k values per input vector
  __m256i sums[kAvx2Rows * kAvx2Columns];
  for (__m256i& sum : sums) sum = _mm256_setzero_si256();
  const __m256i ones = _mm256_set1_epi16(1);
  const int64_t vector_k = k / kStep * kStep;
  for (int64_t i = 0; i < vector_k; i += kStep) {
    // A block ahead, once per cache line: the rows are one sequential
    // stream, but short ones (768 bytes) end before the hardware prefetcher
    // is up to speed. Into L1: into L2 (which made the fp32 blocks a third
    // faster on Zen 4, small_gemm.cc) bert-base int8 at 8 tokens here took
    // 9.7-9.8 ms against 8.9 (Zen 4 with SNAPFORMER_ISA=avx2, 1 thread).
    if (prefetch && i % 64 == 0)
      for (int c = 0; c < kColumns; ++c)
        _mm_prefetch(reinterpret_cast<const char*>(w + (kPrefetchBlocks * kAvx2Columns + c) * k + i), _MM_HINT_T0);
    __m256i weights[kColumns];
    for (int c = 0; c < kColumns; ++c) weights[c] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + c * k + i));
    for (int r = 0; r < kRows; ++r) {
      __m256i inputs = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + r * k + i));
      // Keep the row in a register: GCC otherwise folds a load into every
      // multiply, and the loads, not the multiplies, become the limit.
      asm("" : "+x"(inputs));
      for (int c = 0; c < kColumns; ++c) {
        const __m256i pairs = _mm256_madd_epi16(_mm256_maddubs_epi16(inputs, weights[c]), ones);
        sums[r * kAvx2Columns + c] = _mm256_add_epi32(sums[r * kAvx2Columns + c], pairs);
      }
    }
  }
  const __m256i sum_vector = sum_lanes_of_8(sums);
  if constexpr (!kTail && kRows == kAvx2Rows && kColumns == kAvx2Columns) {
    // Lanes r * 2 + c: each row's two totals in one 64-bit store (MOVQ, which
    // needs no alignment; acc is only 4-byte aligned).
    const __m128i low = _mm256_castsi256_si128(sum_vector), high = _mm256_extracti128_si256(sum_vector, 1);
    _mm_storel_epi64(reinterpret_cast<__m128i*>(acc), low);
    _mm_storel_epi64(reinterpret_cast<__m128i*>(acc + stride), _mm_unpackhi_epi64(low, low));
    _mm_storel_epi64(reinterpret_cast<__m128i*>(acc + 2 * stride), high);
    _mm_storel_epi64(reinterpret_cast<__m128i*>(acc + 3 * stride), _mm_unpackhi_epi64(high, high));
  } else {
    alignas(32) std::int32_t totals[kAvx2Rows * kAvx2Columns];
    _mm256_store_si256(reinterpret_cast<__m256i*>(totals), sum_vector);
    for (int r = 0; r < kRows; ++r)
      for (int c = 0; c < kColumns; ++c) {
        std::int32_t total = totals[r * kAvx2Columns + c];
        if constexpr (kTail)
          for (int64_t i = vector_k; i < k; ++i) total += x[r * k + i] * w[c * k + i];
        acc[r * stride + c] = total;
      }
  }
}

SNAPFORMER_AVX2 void avx2_columns(const std::uint8_t* x, int64_t rows, int64_t k, const std::int8_t* w, int64_t c0,
                                  int64_t c1, std::int32_t* acc, int64_t stride) {
  const auto column_block = [&]<int kColumns>(int64_t c) {
    visit_row_blocks<kAvx2Rows>(rows, [&]<int kRows>(int64_t r) {
      if (k % 32 == 0)
        avx2_block<kRows, kColumns, false>(x + r * k, k, w + c * k, acc + r * stride + c, stride, r == 0);
      else
        avx2_block<kRows, kColumns, true>(x + r * k, k, w + c * k, acc + r * stride + c, stride, r == 0);
    });
  };
  int64_t c = c0;
  for (; c + kAvx2Columns <= c1; c += kAvx2Columns) column_block.template operator()<kAvx2Columns>(c);
  for (; c < c1; ++c) column_block.template operator()<1>(c);
}

// How far ahead the one-row kernel prefetches its stream of weight rows.
constexpr int64_t kOneRowPrefetchBytes = 1024;

// The exact products of 16 widened inputs x[i..i+16) and weights row[i..i+16),
// summed in pairs into 8 int32 lanes.
SNAPFORMER_AVX2 inline __m256i widened_madd(const std::int16_t* x, const std::int8_t* row, int64_t i) {
  const __m256i weights = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + i)));
  return _mm256_madd_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i)), weights);
}

// How many weight rows far apart the one-row kernel reads at once.
constexpr int kOneRowStreams = 4;

// acc[c] = Σ_i x[i] · w[c, i] for c in [c0, c1), x already widened to 16
// bits: one input row (a decoding step), bound by reading the weights.
// [c0, c1) is split into S contiguous parts and row j of every part is read
// at once, 64 bytes of each per step, prefetched kOneRowPrefetchBytes ahead:
// S sequential streams far apart (as small_gemm.cc's fp32 one-row kernel;
// one stream reads at ~15 GB/s on this project's Zen 3 VM, four at 20-24).
// Interleaving two adjacent weight rows, as the blocks above do, read the
// weights at ~70% of the speed of one stream. One row from memory, 1 thread,
// medians of 3 alternating runs (snapformer_bench_layers), 1 -> 4 streams:
// 768x3072 128-162 -> 97-116 us, 768x2304 114-137 -> 75-83 us, GPT-2's LM
// head 2.37-2.64 -> 1.61-2.19 ms; GPT-2 int8 decoding 7.96 -> 5.69 ms per
// token (median of 5 alternating rounds).
template <int S>
SNAPFORMER_AVX2 void avx2_one_row(const std::int16_t* x, int64_t k, const std::int8_t* w, int64_t c0, int64_t c1,
                                  std::int32_t* acc) {
  const int64_t part = (c1 - c0) / S, k64 = k / 64 * 64;
  for (int64_t j = 0; j < part; ++j) {
    const std::int8_t* rows[S];
    __m256i even[S], odd[S];
#pragma GCC unroll 8  // fully unrolled, GCC keeps the sums in registers
    for (int s = 0; s < S; ++s) {
      rows[s] = w + (c0 + s * part + j) * k;
      even[s] = odd[s] = _mm256_setzero_si256();
    }
    int64_t i = 0;
    for (; i < k64; i += 64) {
#pragma GCC unroll 8
      for (int s = 0; s < S; ++s) {
        _mm_prefetch(reinterpret_cast<const char*>(rows[s] + i + kOneRowPrefetchBytes), _MM_HINT_T0);
        even[s] = _mm256_add_epi32(even[s],
                                   _mm256_add_epi32(widened_madd(x, rows[s], i), widened_madd(x, rows[s], i + 32)));
        odd[s] = _mm256_add_epi32(odd[s],
                                  _mm256_add_epi32(widened_madd(x, rows[s], i + 16), widened_madd(x, rows[s], i + 48)));
      }
    }
#pragma GCC unroll 8
    for (int s = 0; s < S; ++s) {
      int64_t q = i;
      for (; q + 16 <= k; q += 16) even[s] = _mm256_add_epi32(even[s], widened_madd(x, rows[s], q));
      std::int32_t total = sum_lanes_epi32(_mm256_add_epi32(even[s], odd[s]));
      for (; q < k; ++q) total += x[q] * rows[s][q];
      acc[c0 + s * part + j] = total;
    }
  }
  if constexpr (S > 1) avx2_one_row<1>(x, k, w, c0 + S * part, c1, acc);  // the rows left over
}

SNAPFORMER_AVX2 void small_gemm_u8s8_avx2(const std::uint8_t* x, int64_t rows, int64_t k, const std::int8_t* w,
                                          int64_t c0, int64_t c1, std::int32_t* acc, int64_t stride) {
  if (rows > 1) return avx2_columns(x, rows, k, w, c0, c1, acc, stride);  // 7-bit form
  thread_local std::vector<std::int16_t> widened;
  widened.resize(static_cast<std::size_t>(k));
  int64_t i = 0;
  for (; i + 16 <= k; i += 16)
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(widened.data() + i),
                        _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i))));
  for (; i < k; ++i) widened[i] = x[i];
  avx2_one_row<kOneRowStreams>(widened.data(), k, w, c0, c1, acc);
}

}  // namespace

int64_t small_int8_gemm_rows() {
  // SNAPFORMER_INT8_SMALL_ROWS=N moves the crossover, to measure one path against the other.
  static const int64_t forced = [] {
    const char* rows = std::getenv("SNAPFORMER_INT8_SMALL_ROWS");
    return rows != nullptr ? std::atoll(rows) : int64_t{-1};
  }();
  if (active_isa() == Isa::kPortable) return 0;
  return forced >= 0 ? forced : kSmallInt8GemmRows;
}

int small_int8_gemm_levels(int64_t rows) { return rows == 1 ? 255 : 127; }

void small_gemm_u8s8(const std::uint8_t* x, int64_t rows, int64_t k, const std::int8_t* w, int64_t c0, int64_t c1,
                     std::int32_t* acc, int64_t stride) {
  small_gemm_u8s8_avx2(x, rows, k, w, c0, c1, acc, stride);
}

}  // namespace snapformer::ops
