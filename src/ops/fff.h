// Fast feedforward (FFF) layers of UltraFastBERT: binary trees of GELU
// neurons in heap order (root 0, children 2n+1 and 2n+2). For each token and
// tree, the visited node's logit z = W_in[n]·x + b_in[n] adds GELU(z)·W_out[:, n]
// to the output, and the token goes right iff z > 0 (ties go left), D+1
// levels deep. Only D+1 of 2^(D+1)-1 neurons per tree are computed.
//
// The weights are borrowed. `out_by_node` is W_out transposed to [nodes, hidden]
// (one contiguous row per node), which the conditional kernel reads. With
// `in_int8` and `out_by_node_int8` set (--dtype int8), the conditional kernel
// reads those instead: symmetric int8 per node row, w ≈ scale[node] · q, a
// quarter of the bytes of the float rows, and computes the routing logits in
// integers from x quantized per token (symmetric int8: x ≈ (max|x| / 127) ·
// round(x · 127 / max|x|)), on every CPU alike; the output sums stay float.
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
  const std::int8_t* in_int8 = nullptr;           // [trees * nodes, hidden], or nullptr
  const float* in_scale = nullptr;                // [trees * nodes]
  const std::int8_t* out_by_node_int8 = nullptr;  // [trees * nodes, hidden], or nullptr
  const float* out_scale = nullptr;               // [trees * nodes]
  int64_t nodes() const { return (int64_t{2} << depth) - 1; }
};

// y[t] = FFF(x[t]) for `tokens` rows, visiting D+1 nodes per tree. If `paths`
// is given it receives the visited node ids: [tokens, trees, D+1]. Reads the
// int8 rows when `w` has them.
void fff_conditional(const FffWeights& w, const float* x, int64_t tokens, float* y, int32_t* paths = nullptr);

// The same function computed densely (all node logits, GELU, the 0/1 path
// mask, one output GEMM), as the published model's masked implementation
// (float weights only).
void fff_dense_masked(const FffWeights& w, const float* x, int64_t tokens, float* y);

// Int8 tree weights for `w`: `in_q`/`in_scale` from w.in and `out_q`/`out_scale`
// from w.out_by_node, each sized trees·nodes·hidden and trees·nodes. The
// caller keeps them alive and points w's int8 fields at them.
void quantize_fff_int8(const FffWeights& w, std::int8_t* in_q, float* in_scale, std::int8_t* out_q, float* out_scale);

}  // namespace snapformer::ops
