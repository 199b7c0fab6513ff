// Fast feedforward (FFF) layers of UltraFastBERT: binary trees of GELU
// neurons in heap order (root 0, children 2n+1 and 2n+2). For each token and
// tree, the visited node's logit z = W_in[n]·x + b_in[n] adds GELU(z)·W_out[:, n]
// to the output, and the token goes right iff z > 0 (ties go left), D+1
// levels deep. Only D+1 of 2^(D+1)-1 neurons per tree are computed.
//
// The weights are borrowed. `out_by_node` is W_out transposed to [nodes, hidden]
// (one contiguous row per node), which the conditional kernel reads.
// Thread-safety: reentrant; fff_conditional splits tokens over the thread pool.
#pragma once

#include <cstdint>

namespace snapformer::ops {

struct FffWeights {
  const float* in = nullptr;           // [trees * nodes, hidden]
  const float* in_bias = nullptr;      // [trees * nodes]
  const float* out_by_node = nullptr;  // [trees * nodes, hidden]  (W_out transposed)
  const float* out = nullptr;          // [hidden, trees * nodes]  (as stored; for the dense path)
  int64_t hidden = 0;
  int64_t depth = 0;  // D
  int64_t trees = 1;
  int64_t nodes() const { return (int64_t{2} << depth) - 1; }
};

// y[t] = FFF(x[t]) for `tokens` rows, visiting D+1 nodes per tree. If `paths`
// is given it receives the visited node ids: [tokens, trees, D+1].
void fff_conditional(const FffWeights& w, const float* x, int64_t tokens, float* y, int32_t* paths = nullptr);

// The same function computed densely (all node logits, GELU, the 0/1 path
// mask, one output GEMM), as the published model's masked implementation.
void fff_dense_masked(const FffWeights& w, const float* x, int64_t tokens, float* y);

}  // namespace snapformer::ops
