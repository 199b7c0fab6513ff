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

// Throws Error unless `rows` are ascending, unrepeated token rows of `batch`.
void check_rows(const PackedBatch& batch, const std::vector<int64_t>& rows);
// The given rows of a [*, width] row-major matrix: [rows.size(), width].
std::vector<float> gather_rows(const std::vector<float>& states, const std::vector<int64_t>& rows, int64_t width);

class Encoder {
 public:
  virtual ~Encoder() = default;
  virtual const ModelConfig& config() const = 0;
  // The model's linear layers and, through it, its Weights.
  virtual const LinearWeights& linear_weights() const = 0;
  // Final hidden state of every token: [batch.tokens(), hidden].
  virtual std::vector<float> forward(const PackedBatch& batch) const = 0;
  // Final hidden states of `rows` only (token rows of the batch, ascending,
  // no repeats): [rows.size(), hidden], those rows of forward(batch). An
  // implementation may run its last layer for these rows alone (their
  // attention still reads every token's keys and values); this default
  // gathers them from forward(). Throws Error for rows out of order or range.
  virtual std::vector<float> forward_rows(const PackedBatch& batch, const std::vector<int64_t>& rows) const;
  virtual bool has_pooler() const { return false; }
  virtual std::vector<float> pool(const std::vector<float>& hidden, const PackedBatch& batch) const;
  virtual std::vector<float> classify(const std::vector<float>& hidden, const PackedBatch& batch) const;
  // classify(forward(batch), batch), computing only what the head reads
  // (the first token of each sequence in the last layer, where supported).
  virtual std::vector<float> classify_batch(const PackedBatch& batch) const;
  virtual void answer_spans(const std::vector<float>& hidden, std::vector<float>& start_logits,
                            std::vector<float>& end_logits) const;
  // Masked-LM logits for the given token rows: [rows.size(), vocab].
  virtual std::vector<float> masked_lm_logits(const std::vector<float>& hidden, const std::vector<int64_t>& rows) const;
  // masked_lm_logits(forward(batch), rows), the last layer run for `rows` only
  // where supported (rows as forward_rows takes them).
  virtual std::vector<float> masked_lm_logits_batch(const PackedBatch& batch, const std::vector<int64_t>& rows) const;
  std::size_t num_labels() const { return config().labels.size(); }
};

}  // namespace snapformer
