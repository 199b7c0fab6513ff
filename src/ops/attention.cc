#include "ops/attention.h"

#include <cstring>
#include <limits>
#include <vector>

#include "ops/elementwise.h"
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

// From this many queries on, the GEMM form wins (measured on bert-base).
constexpr int64_t kGemmQueries = 64;

}  // namespace

void attend(const float* q, const float* k, const float* v, int64_t queries, int64_t keys, const AttentionShape& shape,
            bool causal, float scale, float* out, float* scratch) {
  const int64_t d = shape.head_dim;
  const int64_t head_stride = shape.input_head_stride > 0 ? shape.input_head_stride : d;
  if (queries < kGemmQueries) {
    for (int64_t h = 0; h < shape.heads; ++h)
      attend_rows(q, k, v, queries, keys, shape, causal, scale, out, scratch, h * head_stride, h * d);
    return;
  }
  ThreadPool::global().parallel_for(shape.heads, [&](int64_t h0, int64_t h1) {
    for (int64_t h = h0; h < h1; ++h) attend_gemm(q, k, v, queries, keys, shape, causal, scale, out, h * head_stride, h * d);
  });
}

}  // namespace snapformer::ops
