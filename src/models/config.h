// ModelConfig: the fields of a Hugging Face config.json that the supported
// architectures need, with the names normalized across BERT, DistilBERT,
// RoBERTa and GPT-2.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "ops/elementwise.h"
#include "ops/precision.h"

namespace snapformer {

enum class ModelFamily { kBert, kRoberta, kDistilBert, kGpt2, kCrammedBert };

// What sits on top of the body, from config.json "architectures".
enum class HeadKind { kNone, kSequenceClassification, kQuestionAnswering, kMaskedLm, kCausalLm };

struct ModelConfig {
  ModelFamily family = ModelFamily::kBert;
  std::string model_type;
  std::string architecture;  // e.g. "BertForSequenceClassification" ("" if absent)
  HeadKind head = HeadKind::kNone;
  int64_t hidden_size = 0;
  int64_t num_heads = 0;
  int64_t num_layers = 0;
  int64_t intermediate_size = 0;
  int64_t vocab_size = 0;
  int64_t max_positions = 0;
  int64_t type_vocab_size = 0;  // 0: no token type embeddings
  int64_t pad_token_id = 0;
  int64_t position_offset = 0;  // RoBERTa: positions start at padding_idx + 1
  float layer_norm_eps = 1e-12f;
  ops::Activation activation = ops::Activation::kGeluErf;
  int64_t eos_token_id = -1;
  int64_t bos_token_id = -1;
  std::vector<std::string> labels;  // id2label in id order (classifiers)
  // crammedBERT / UltraFastBERT (config.json "arch" block)
  bool fast_feedforward = false;  // intermed_type "fff": FFF trees; else a dense FF
  int64_t fff_depth = 0;          // intermed_depth D: D+1 neurons per token per tree
  int64_t fff_trees = 0;          // intermed_size: parallel trees (FFF) or width (dense FF)
  // "snapformer_dtype" of a folder written by `snapformer quantize`: its
  // linear layers are stored only in that precision. fp32 for any other folder.
  ops::Precision stored_precision = ops::Precision::kFp32;

  // Longest token sequence the model accepts.
  int64_t max_sequence_length() const { return max_positions - position_offset; }
  bool is_decoder() const { return family == ModelFamily::kGpt2; }
};

// Reads `directory`/config.json. Throws Error naming the file and field for
// missing required fields, bad values or an unsupported model_type.
ModelConfig load_model_config(const std::string& directory);

const char* family_name(ModelFamily family);
const char* head_name(HeadKind head);

}  // namespace snapformer
