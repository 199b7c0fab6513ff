// Encoder: what the tasks need from a bidirectional encoder, implemented by
// EncoderModel (BERT, RoBERTa, DistilBERT) and UltraFastBertModel
// (crammedBERT with fast feedforward layers).
//
// Thread-safety: implementations are immutable after load; every method is
// const and may run concurrently.
#pragma once

#include <vector>

#include "models/config.h"
#include "models/linear_weights.h"
#include "models/packed_batch.h"

namespace snapformer {

class Encoder {
 public:
  virtual ~Encoder() = default;
  virtual const ModelConfig& config() const = 0;
  // The model's linear layers and, through it, its Weights.
  virtual const LinearWeights& linear_weights() const = 0;
  // Final hidden state of every token: [batch.tokens(), hidden].
  virtual std::vector<float> forward(const PackedBatch& batch) const = 0;
  virtual bool has_pooler() const { return false; }
  virtual std::vector<float> pool(const std::vector<float>& hidden, const PackedBatch& batch) const;
  virtual std::vector<float> classify(const std::vector<float>& hidden, const PackedBatch& batch) const;
  virtual void answer_spans(const std::vector<float>& hidden, std::vector<float>& start_logits,
                            std::vector<float>& end_logits) const;
  // Masked-LM logits for the given token rows: [rows.size(), vocab].
  virtual std::vector<float> masked_lm_logits(const std::vector<float>& hidden, const std::vector<int64_t>& rows) const;
  std::size_t num_labels() const { return config().labels.size(); }
};

}  // namespace snapformer
