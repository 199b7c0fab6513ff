// UltraFastBertModel: crammedBERT (pre-LayerNorm, scaled sinusoidal
// positions, fused per-head [q|k|v] projection, no biases but LayerNorms)
// whose feedforward blocks are fast feedforward trees, run conditionally:
// each token computes only the D+1 neurons on its root-to-leaf path.
// The math is ../shared/reference/ULTRAFASTBERT.md; names follow the
// published pbelcak/UltraFastBERT-1x11-long checkpoint.
//
// Ownership: owns its Weights; linear_out of every FFF layer is transposed
// once at load into a node-major copy (the conditional kernel reads one
// output row per visited node); with --dtype int8 both tree matrices are
// int8 rows per node instead, held by LinearWeights (quantized at load, or in
// place from a quantized folder), and there is no dense reference path.
// Thread-safety: immutable, const methods.
#pragma once

#include <memory>
#include <vector>

#include "io/weights.h"
#include "models/encoder_interface.h"
#include "ops/fff.h"
#include "models/linear_weights.h"
#include "ops/linear.h"

namespace snapformer {

class UltraFastBertModel final : public Encoder {
 public:
  UltraFastBertModel(const std::string& directory, ModelConfig config, ops::Precision precision = ops::Precision::kFp32);

  const ModelConfig& config() const override { return config_; }
  const LinearWeights& linear_weights() const override { return *linears_; }
  std::vector<float> forward(const PackedBatch& batch) const override { return forward_traced(batch, nullptr, false); }
  // Logits = hidden · Eᵀ (the decoder is tied to the word embedding, no bias).
  std::vector<float> masked_lm_logits(const std::vector<float>& hidden, const std::vector<int64_t>& rows) const override;

  // forward() that also records the visited FFF nodes, per layer:
  // routing[layer] = [tokens, trees, D+1] node ids. With `dense_reference`
  // the FFF layers run the dense masked implementation instead (for tests
  // and benchmarks; same function, every neuron computed; float32 and bf16
  // models only: throws Error for int8 trees).
  std::vector<float> forward_traced(const PackedBatch& batch, std::vector<std::vector<int32_t>>* routing,
                                    bool dense_reference) const;

 private:
  struct Layer {
    FloatTensor norm1_gamma, norm1_beta, norm2_gamma, norm2_beta;
    ops::Linear query_key_value, dense;  // qkv rows are per-head interleaved [q_h | k_h | v_h]
    float norm_factor = 0;
    ops::FffWeights fff;                 // fast feedforward, or
    ops::Linear ff_in, ff_out;           // a plain dense FF (crammedBERT without FFF)
  };

  ModelConfig config_;
  std::unique_ptr<Weights> weights_;
  std::unique_ptr<LinearWeights> linears_;  // after weights_: borrows from it
  FloatTensor word_embedding_, embedding_gamma_, embedding_beta_, final_gamma_, final_beta_;
  ops::Linear decoder_;  // MLM decoder, tied to word_embedding_ unless stored
  float position_scale_ = 1;
  std::vector<float> positions_;  // the sinusoid table [max_positions, hidden]
  std::vector<Layer> layers_;
  std::vector<std::vector<float>> transposed_out_;  // node-major linear_out per layer (float32 mode)
};

}  // namespace snapformer
