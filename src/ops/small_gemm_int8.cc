#include "ops/small_gemm_int8.h"

#include <immintrin.h>

#include "ops/cpu.h"

namespace snapformer::ops {

namespace {

constexpr int kRowBlock = 4;     // input rows per pass over a weight block
constexpr int kColumnBlock = 4;  // weight rows (outputs) per block

#define SNAPFORMER_VNNI __attribute__((target("avx512f,avx512bw,avx512vnni")))

// The 16 horizontal sums of v[0..15], in order, in one vector: pairs of
// 32-bit lanes, then of 64-bit lanes, then of 128-bit lanes are added while
// interleaving the sources (~45 instructions instead of 16 full reductions).
// (GCC 12 warns that the unpack intrinsics' internal _mm512_undefined_epi32()
// is uninitialized: a false positive, silenced for this function only.)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
SNAPFORMER_VNNI __m512i sum_lanes_of_16(const __m512i* v) {
  __m512i pairs[8], quads[4], halves[2];
  for (int i = 0; i < 8; ++i)
    pairs[i] = _mm512_add_epi32(_mm512_unpacklo_epi32(v[2 * i], v[2 * i + 1]), _mm512_unpackhi_epi32(v[2 * i], v[2 * i + 1]));
  for (int i = 0; i < 4; ++i)
    quads[i] = _mm512_add_epi32(_mm512_unpacklo_epi64(pairs[2 * i], pairs[2 * i + 1]),
                                _mm512_unpackhi_epi64(pairs[2 * i], pairs[2 * i + 1]));
  // Each 128-bit lane of quads[i] now holds partial sums of sources 4i..4i+3.
  for (int i = 0; i < 2; ++i)
    halves[i] = _mm512_add_epi32(_mm512_shuffle_i32x4(quads[2 * i], quads[2 * i + 1], 0x88),
                                 _mm512_shuffle_i32x4(quads[2 * i], quads[2 * i + 1], 0xDD));
  return _mm512_add_epi32(_mm512_shuffle_i32x4(halves[0], halves[1], 0x88),
                          _mm512_shuffle_i32x4(halves[0], halves[1], 0xDD));
}
#pragma GCC diagnostic pop

// One 64-byte step of K for every (row, column) of a block. Masked loads only
// for the tail: on this CPU they are several times slower than plain ones.
template <int kRows, int kColumns, bool kMasked>
SNAPFORMER_VNNI inline __attribute__((always_inline)) void step(const std::uint8_t* x, int64_t k, const std::int8_t* w,
                                                                __mmask64 mask, bool prefetch, __m512i* sums) {
  __m512i weights[kColumns];
  for (int c = 0; c < kColumns; ++c)
    weights[c] = kMasked ? _mm512_maskz_loadu_epi8(mask, w + c * k) : _mm512_loadu_si512(w + c * k);
  // The next block's rows, while this one is multiplied (prefetches do not fault).
  if (prefetch)
    for (int c = 0; c < kColumnBlock; ++c)
      _mm_prefetch(reinterpret_cast<const char*>(w + (kColumnBlock + c) * k), _MM_HINT_T0);
  for (int r = 0; r < kRows; ++r) {
    const __m512i inputs = kMasked ? _mm512_maskz_loadu_epi8(mask, x + r * k) : _mm512_loadu_si512(x + r * k);
    for (int c = 0; c < kColumns; ++c)
      sums[r * kColumnBlock + c] = _mm512_dpbusd_epi32(sums[r * kColumnBlock + c], inputs, weights[c]);
  }
}

// acc[r, c..c+kColumns) for kRows rows (both <= 4).
template <int kRows, int kColumns>
SNAPFORMER_VNNI void block(const std::uint8_t* x, int64_t k, const std::int8_t* w, std::int32_t* acc, int64_t stride,
                           bool prefetch) {
  __m512i sums[kRowBlock * kColumnBlock];
  for (__m512i& sum : sums) sum = _mm512_setzero_si512();
  int64_t i = 0;
  for (; i + 64 <= k; i += 64) step<kRows, kColumns, false>(x + i, k, w + i, 0, prefetch, sums);
  if (i < k) step<kRows, kColumns, true>(x + i, k, w + i, (__mmask64{1} << (k - i)) - 1, false, sums);
  alignas(64) std::int32_t totals[kRowBlock * kColumnBlock];
  _mm512_store_si512(totals, sum_lanes_of_16(sums));
  for (int r = 0; r < kRows; ++r)
    for (int c = 0; c < kColumns; ++c) acc[r * stride + c] = totals[r * kColumnBlock + c];
}

template <int kColumns>
SNAPFORMER_VNNI void column_block(const std::uint8_t* x, int64_t rows, int64_t k, const std::int8_t* w,
                                  std::int32_t* acc, int64_t stride) {
  int64_t r = 0;
  for (; r + kRowBlock <= rows; r += kRowBlock)
    block<kRowBlock, kColumns>(x + r * k, k, w, acc + r * stride, stride, r == 0);
  switch (rows - r) {
    case 3: block<3, kColumns>(x + r * k, k, w, acc + r * stride, stride, r == 0); break;
    case 2: block<2, kColumns>(x + r * k, k, w, acc + r * stride, stride, r == 0); break;
    case 1: block<1, kColumns>(x + r * k, k, w, acc + r * stride, stride, r == 0); break;
    default: break;
  }
}

}  // namespace

bool small_int8_gemm_available() {
  static const bool cpu = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw");
  }();
  return cpu && active_isa() == Isa::kAvx512;
}

SNAPFORMER_VNNI void small_gemm_u8s8(const std::uint8_t* x, int64_t rows, int64_t k, const std::int8_t* w, int64_t c0,
                                     int64_t c1, std::int32_t* acc, int64_t stride) {
  int64_t c = c0;
  for (; c + kColumnBlock <= c1; c += kColumnBlock) column_block<kColumnBlock>(x, rows, k, w + c * k, acc + c, stride);
  for (; c < c1; ++c) column_block<1>(x, rows, k, w + c * k, acc + c, stride);
}

}  // namespace snapformer::ops
