#include "ops/fff.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "ops/elementwise.h"
#include "ops/linear.h"
#include "util/thread_pool.h"

namespace snapformer::ops {
namespace {

inline float gelu(float z) { return 0.5f * z * (1.0f + std::erf(z * 0.70710678118654752f)); }

// dot(a, b) and y += s * a, vectorized for each ISA by function multiversioning.
__attribute__((target_clones("avx512f", "avx2", "default"))) float dot(const float* a, const float* b, int64_t n) {
  typedef float v8 __attribute__((vector_size(32)));
  v8 acc0 = {}, acc1 = {};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    v8 x0, y0, x1, y1;
    std::memcpy(&x0, a + i, 32), std::memcpy(&y0, b + i, 32);
    std::memcpy(&x1, a + i + 8, 32), std::memcpy(&y1, b + i + 8, 32);
    acc0 += x0 * y0;
    acc1 += x1 * y1;
  }
  acc0 += acc1;
  float sum = 0;
  for (int k = 0; k < 8; ++k) sum += acc0[k];
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

__attribute__((target_clones("avx512f", "avx2", "default"))) void axpy(float s, const float* a, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += s * a[i];
}

// Tokens [begin, end): level by level, tokens at the same node are handled
// together so each visited node's two rows are read once per level.
void conditional_range(const FffWeights& w, const float* x, int64_t begin, int64_t end, float* y, int32_t* paths) {
  const int64_t h = w.hidden, nodes = w.nodes(), levels = w.depth + 1, count = end - begin;
  std::vector<int64_t> node(static_cast<std::size_t>(count)), order(static_cast<std::size_t>(count));
  for (int64_t t = begin; t < end; ++t) std::memset(y + t * h, 0, static_cast<std::size_t>(h) * sizeof(float));
  for (int64_t tree = 0; tree < w.trees; ++tree) {
    std::fill(node.begin(), node.end(), 0);
    for (int64_t level = 0; level < levels; ++level) {
      for (int64_t i = 0; i < count; ++i) order[i] = i;
      std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return node[a] < node[b]; });
      for (int64_t i : order) {
        const int64_t t = begin + i, row = tree * nodes + node[i];
        const float z = dot(w.in + row * h, x + t * h, h) + w.in_bias[row];
        axpy(gelu(z), w.out_by_node + row * h, y + t * h, h);
        if (paths != nullptr) paths[(t * w.trees + tree) * levels + level] = static_cast<int32_t>(node[i]);
        node[i] = 2 * node[i] + 1 + (z > 0.0f ? 1 : 0);
      }
    }
  }
}

}  // namespace

void fff_conditional(const FffWeights& w, const float* x, int64_t tokens, float* y, int32_t* paths) {
  constexpr int64_t kTokensPerTask = 16;
  ThreadPool::global().parallel_for((tokens + kTokensPerTask - 1) / kTokensPerTask, [&](int64_t t0, int64_t t1) {
    conditional_range(w, x, t0 * kTokensPerTask, std::min(tokens, t1 * kTokensPerTask), y, paths);
  });
}

void fff_dense_masked(const FffWeights& w, const float* x, int64_t tokens, float* y) {
  const int64_t h = w.hidden, nodes = w.nodes(), width = w.trees * nodes;
  std::vector<float> logits(static_cast<std::size_t>(tokens * width));
  Linear{w.in, w.in_bias, h, width, false}.apply(x, tokens, logits.data());
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
  Linear{w.out, nullptr, width, h, false}.apply(masked.data(), tokens, y);
}

}  // namespace snapformer::ops
