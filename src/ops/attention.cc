#include "ops/attention.h"

#include <cstring>

#include "ops/elementwise.h"
#include "ops/vector_math.h"

namespace snapformer::ops {

void attend(const float* q, const float* k, const float* v, int64_t queries, int64_t keys, const AttentionShape& shape,
            bool causal, float scale, float* out, float* scratch) {
  const int64_t d = shape.head_dim;
  const int64_t head_stride = shape.input_head_stride > 0 ? shape.input_head_stride : d;
  for (int64_t h = 0; h < shape.heads; ++h) {
    const int64_t column = h * head_stride, out_column = h * d;
    for (int64_t i = 0; i < queries; ++i) {
      const int64_t visible = causal ? keys - queries + i + 1 : keys;
      const float* qi = q + i * shape.q_stride + column;
      for (int64_t j = 0; j < visible; ++j) {
        scratch[j] = dot(qi, k + j * shape.kv_stride + column, d) * scale;
      }
      softmax(scratch, visible);
      float* o = out + i * shape.out_stride + out_column;
      std::memset(o, 0, static_cast<std::size_t>(d) * sizeof(float));
      for (int64_t j = 0; j < visible; ++j) {
        axpy(scratch[j], v + j * shape.kv_stride + column, o, d);
      }
    }
  }
}

}  // namespace snapformer::ops
