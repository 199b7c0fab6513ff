#include "ops/fff.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "ops/elementwise.h"
#include "ops/linear.h"
#include "ops/vector_math.h"
#include "util/thread_pool.h"

namespace snapformer::ops {
namespace {

inline float gelu(float z) { return 0.5f * z * (1.0f + std::erf(z * 0.70710678118654752f)); }

// Tokens [begin, end), one at a time: the token's input and output rows stay
// in L1 while it descends each tree; the top levels' weight rows, shared by
// all tokens, stay in L2 by themselves.
void conditional_range(const FffWeights& w, const float* x, int64_t begin, int64_t end, float* y, int32_t* paths) {
  const int64_t h = w.hidden, nodes = w.nodes(), levels = w.depth + 1;
  for (int64_t t = begin; t < end; ++t) {
    const float* xt = x + t * h;
    float* yt = y + t * h;
    std::memset(yt, 0, static_cast<std::size_t>(h) * sizeof(float));
    for (int64_t tree = 0; tree < w.trees; ++tree) {
      int64_t node = 0;
      for (int64_t level = 0; level < levels; ++level) {
        const int64_t row = tree * nodes + node;
        if (level + 1 < levels) {
          // The next node is one of two children, known only after this dot
          // product: start fetching the heads of both children's rows now,
          // so the hardware prefetcher is already streaming them.
          for (int64_t child = 2 * row + 1 - tree * nodes; child <= 2 * row + 2 - tree * nodes; ++child)
            for (int64_t line = 0; line < 4; ++line) {
              __builtin_prefetch(w.in + (tree * nodes + child) * h + line * 16);
              __builtin_prefetch(w.out_by_node + (tree * nodes + child) * h + line * 16);
            }
        }
        const float z = dot(w.in + row * h, xt, h) + w.in_bias[row];
        axpy(gelu(z), w.out_by_node + row * h, yt, h);
        if (paths != nullptr) paths[(t * w.trees + tree) * levels + level] = static_cast<int32_t>(node);
        node = 2 * node + 1 + (z > 0.0f ? 1 : 0);  // ties (z == 0) go left
      }
    }
  }
}

}  // namespace

void fff_conditional(const FffWeights& w, const float* x, int64_t tokens, float* y, int32_t* paths) {
  // A token costs ~1.5 us per layer and a hand-off to the pool ~50-100 us on
  // this VM: split only batches big enough to pay for it.
  constexpr int64_t kTokensPerTask = 256;
  ThreadPool::global().parallel_for((tokens + kTokensPerTask - 1) / kTokensPerTask, [&](int64_t t0, int64_t t1) {
    conditional_range(w, x, t0 * kTokensPerTask, std::min(tokens, t1 * kTokensPerTask), y, paths);
  });
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
