// Gpt2Model: GPT-2 (pre-LayerNorm causal decoder) with a KV cache, on packed
// batches of sequences that each extend their own cache.
//
// Names follow modeling_gpt2.py (`transformer.h.{i}.attn.c_attn` ...); the
// Conv1D weights are stored [in, out]. lm_head is tied to wte unless the
// checkpoint stores `lm_head.weight`.
//
// Ownership: the model owns its Weights; a KvCache is owned by the caller
// (one per sequence) and must only be used with the model that made it.
// Thread-safety: the model is immutable and forward() is const; a KvCache
// must not be used by two calls at once.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "io/weights.h"
#include "models/config.h"
#include "models/linear_weights.h"
#include "ops/linear.h"

namespace snapformer {

class Gpt2Model {
 public:
  Gpt2Model(const std::string& directory, ModelConfig config, ops::Precision precision = ops::Precision::kFp32);

  const ModelConfig& config() const { return config_; }
  const LinearWeights& linear_weights() const { return *linears_; }

  // Keys and values of every layer for one sequence, preallocated for
  // `capacity` positions so decoding never reallocates. Each head's rows lie
  // together, so that a decoding step reads them as one run (attention.h).
  // float32, or bf16 for bf16/int8 models where ops::kv_cache_in_bf16() says
  // so (half the bytes per step); exactly one of the two pairs is filled.
  struct KvCache {
    int64_t capacity = 0;
    int64_t length = 0;  // positions already computed
    std::vector<float> keys, values;                   // [layers, heads, capacity, head_dim]
    std::vector<std::uint16_t> keys_bf16, values_bf16;  // the same, as bf16
  };
  KvCache new_cache(int64_t capacity) const;

  // One sequence's new tokens in a batched step.
  struct Step {
    KvCache* cache;
    const int32_t* ids;
    int64_t count;
  };
  // Runs every step's new tokens through the model, appending to each cache.
  // Returns the final hidden states (after ln_f) of all new tokens, packed in
  // step order: [sum of counts, hidden]. Throws Error for ids outside the
  // vocabulary or a cache that would overflow.
  std::vector<float> forward(const std::vector<Step>& steps) const;

  // LM-head logits of `rows` hidden rows: [rows, vocab].
  std::vector<float> logits(const float* hidden, int64_t rows) const;

 private:
  struct Layer {
    FloatTensor ln_1_gamma, ln_1_beta, ln_2_gamma, ln_2_beta;
    ops::Linear c_attn, attn_c_proj, c_fc, mlp_c_proj;
  };
  ops::Linear conv1d(const std::string& name, int64_t in, int64_t out);
  FloatTensor tensor(const std::string& name, const std::vector<int64_t>& shape);

  ModelConfig config_;
  std::unique_ptr<Weights> weights_;
  std::unique_ptr<LinearWeights> linears_;  // after weights_: borrows from it
  FloatTensor wte_, wpe_, ln_f_gamma_, ln_f_beta_;
  std::vector<Layer> layers_;
  ops::Linear lm_head_;
};

}  // namespace snapformer
