// Multi-head scaled dot-product attention over packed sequences.
//
// Packed layout: the rows of every sequence are contiguous; there is no
// padding and so no mask, only sequence boundaries. Scores, mask, softmax and
// the weighted sum are one pass per head: row by row below 64 queries (on
// AVX2 CPUs a register kernel for head sizes 8-64, else dot/axpy); from
// 64 on, tiled over 64-key blocks with an online softmax (AVX-512, head sizes
// 16/32/64/128), so the score matrix is never materialized. Other CPUs and
// head sizes use two GEMMs around a row softmax there (SNAPFORMER_ATTENTION=
// gemm forces that form, for measurements). With bf16 products (below) the
// tiled form starts at 16 queries.
#pragma once

#include <cstdint>
#include <vector>

#include "ops/precision.h"

namespace snapformer::ops {

struct AttentionShape {
  int64_t heads = 0;
  int64_t head_dim = 0;
  int64_t q_stride = 0;   // floats between consecutive rows of Q
  int64_t kv_stride = 0;  // floats between consecutive rows of K and V
  int64_t out_stride = 0;
  int64_t input_head_stride = 0;  // columns between heads in Q/K/V rows; 0: head_dim
};

// Attention for one sequence: `queries` rows of Q attend to `keys` rows of K/V.
// With `causal`, query i (the i-th of the last `queries` positions) sees keys
// 0 .. keys-queries+i. Writes `queries` rows of `out`.
//
// `products` is the precision of the model's linear layers. With kBf16 or
// kInt8, where bf16_dot_products() (cpu.h), the tiled form (then from 16
// queries on) computes Q·Kᵀ and P·V from bf16-rounded inputs into float32
// sums, twice the multiply-adds per instruction; softmax and outputs stay
// float32. kFp32 keeps every product in float32.
void attend(const float* q, const float* k, const float* v, int64_t queries, int64_t keys, const AttentionShape& shape,
            bool causal, float scale, float* out, Precision products = Precision::kFp32);

// One sequence of a packed batch, for attend_batch: as attend's arguments.
// kv_head_stride: floats from one head's K (and V) to the next head's. 0: the
// heads lie side by side in each row, as in Q (shape.input_head_stride). A
// KV cache stores each head's rows together instead ([heads][positions]
// [head_dim], with shape.kv_stride = head_dim), so that a decoding step reads
// each head's keys and values as one run of memory, not one 256-byte piece
// of every row.
//
// k_bf16 / v_bf16: keys and values stored as bf16 (a float32's upper 16 bits)
// instead of k / v, as a KV cache of a bf16 or int8 model keeps them where
// kv_cache_in_bf16() says so: half the bytes a decoding step reads. The row
// form and the bf16 tiled form read them in place; other forms widen one
// head at a time. Set either k and v or k_bf16 and v_bf16.
struct AttentionSpan {
  const float* q = nullptr;
  const float* k = nullptr;
  const float* v = nullptr;
  int64_t queries = 0;
  int64_t keys = 0;
  float* out = nullptr;
  int64_t kv_head_stride = 0;
  const std::uint16_t* k_bf16 = nullptr;
  const std::uint16_t* v_bf16 = nullptr;
};

// Whether a KV cache for a model whose linear layers run in `precision`
// stores bf16: for bf16 and int8 models where attention takes its bf16 form
// (bf16_dot_products(), cpu.h), whose products round K and V to bf16 anyway
// from 16 queries on.
bool kv_cache_in_bf16(Precision precision);

// attend() for every sequence of a batch at once: its (sequence, head) pairs
// are spread over the thread pool when they hold work enough to pay for it
// (one call per sequence, its heads one after another, kept short inputs,
// batches of them and decoding steps on one core while the others waited).
// Spans must not write to the same rows. Reentrant; uses the thread pool.
void attend_batch(const std::vector<AttentionSpan>& spans, const AttentionShape& shape, bool causal, float scale,
                  Precision products = Precision::kFp32);

}  // namespace snapformer::ops
