// EncoderModel: BERT, RoBERTa and DistilBERT (post-LayerNorm transformer
// encoders) with their task heads, on packed batches.
//
// Each method follows the Hugging Face module of the same name, and tensor
// names are the checkpoint's parameter names, so this file can be read beside
// modeling_bert.py / modeling_roberta.py / modeling_distilbert.py.
//
// Ownership: the model owns its Weights (and so the file mappings); all
// weight pointers borrow from them. Thread-safety: immutable after load;
// forward() and the heads are const and may run concurrently.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "io/weights.h"
#include "models/config.h"
#include "models/encoder_interface.h"
#include "models/packed_batch.h"
#include "models/linear_weights.h"
#include "ops/linear.h"

namespace snapformer {

class EncoderModel final : public Encoder {
 public:
  // Loads the body and, if present in the config, the head. Throws Error
  // naming the missing or mis-shaped tensor.
  EncoderModel(const std::string& directory, ModelConfig config, ops::Precision precision = ops::Precision::kFp32);

  const ModelConfig& config() const override { return config_; }
  const LinearWeights& linear_weights() const override { return *linears_; }

  // Checks ids, type ids and lengths; throws Error / InputTooLongError.
  void validate(const PackedBatch& batch) const;

  // last_hidden_state for every token: [batch.tokens(), hidden].
  std::vector<float> forward(const PackedBatch& batch) const override;
  // last_hidden_state of `rows` only; the last layer runs for them alone.
  std::vector<float> forward_rows(const PackedBatch& batch, const std::vector<int64_t>& rows) const override;

  bool has_pooler() const override { return pooler_.out != 0; }
  // BERT pooler (dense + tanh on the first token of each sequence): [sequences, hidden].
  std::vector<float> pool(const std::vector<float>& hidden, const PackedBatch& batch) const override;

  // Sequence classification logits: [sequences, num_labels].
  std::vector<float> classify(const std::vector<float>& hidden, const PackedBatch& batch) const override;
  // The same from the batch: the last layer runs for the first tokens only.
  std::vector<float> classify_batch(const PackedBatch& batch) const override;

  // Question answering: start and end logits for every token.
  void answer_spans(const std::vector<float>& hidden, std::vector<float>& start_logits,
                    std::vector<float>& end_logits) const override;

  // Masked-LM logits for the given token rows: [rows.size(), vocab].
  std::vector<float> masked_lm_logits(const std::vector<float>& hidden, const std::vector<int64_t>& rows) const override;
  std::vector<float> masked_lm_logits_batch(const PackedBatch& batch, const std::vector<int64_t>& rows) const override;

  bool supports(HeadKind head) const { return config_.head == head; }

 private:
  struct LayerNormWeights {
    FloatTensor gamma, beta;
  };
  struct Layer {
    ops::Linear query, key, value, attention_output, intermediate, output;
    LayerNormWeights attention_norm, output_norm;
  };

  std::vector<std::string> body(const std::string& name) const { return {prefix_ + name, name}; }
  ops::Linear linear(const std::vector<std::string>& base_names, int64_t in, int64_t out, bool bias = true);
  LayerNormWeights norm(const std::vector<std::string>& base_names, int64_t dim);
  void load_head();
  // The body: every layer for every token, except that with `rows` the last
  // layer runs for those rows alone. Returns [rows ? rows->size() : tokens, hidden].
  std::vector<float> run(const PackedBatch& batch, const std::vector<int64_t>* rows) const;
  // The heads on already selected final states.
  std::vector<float> pool_first_tokens(const std::vector<float>& first, int64_t sequences) const;
  std::vector<float> classify_first_tokens(const std::vector<float>& first, int64_t sequences) const;
  std::vector<float> masked_lm_logits_of(const std::vector<float>& selected) const;

  ModelConfig config_;
  std::unique_ptr<Weights> weights_;
  std::unique_ptr<LinearWeights> linears_;  // after weights_: borrows from it
  std::string prefix_;  // "bert.", "roberta." or "distilbert."
  FloatTensor word_embeddings_, position_embeddings_;
  std::optional<FloatTensor> token_type_embeddings_;
  LayerNormWeights embedding_norm_;
  std::vector<Layer> layers_;
  // Heads (whichever the architecture has).
  ops::Linear pooler_, classifier_dense_, classifier_out_, qa_outputs_, mlm_dense_;
  LayerNormWeights mlm_norm_;
  const float* mlm_bias_ = nullptr;
  ops::Linear mlm_decoder_;
};

}  // namespace snapformer
