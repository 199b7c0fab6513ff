// Pipeline: one loaded model folder (config, weights, tokenizer) and the
// tasks it can run. This is the library's main entry point:
//
//   auto pipeline = snapformer::Pipeline::load("models/lang-id-bert");
//   auto result = pipeline->classify({.text = "Guten Morgen"});
//
// Ownership: a Pipeline owns its model and tokenizer; share it with
// std::shared_ptr. Thread-safety: every task method is const and safe to
// call from many threads at once.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "models/config.h"
#include "models/encoder.h"
#include "models/gpt2.h"
#include "runtime/sampling.h"
#include "tasks/chat_template.h"
#include "tokenizers/tokenizer.h"

namespace snapformer {

enum class Task { kTokenize, kClassify, kQuestionAnswering, kEmbed, kFillMask, kGenerate, kForward };
const char* task_name(Task task);
// Parses "classify", "qa", ...; throws Error listing the valid names.
Task parse_task(const std::string& name);

// One input. Exactly one form is used: text (+ text_pair), question +
// context, or pre-tokenized input_ids (which skip the tokenizer).
struct TaskInput {
  std::string text{};
  std::optional<std::string> text_pair{};
  std::optional<std::string> question{}, context{};
  std::optional<std::vector<int32_t>> input_ids{};
  std::optional<std::vector<int32_t>> attention_mask{}, token_type_ids{};
};

struct TruncationOptions {
  bool truncate = false;   // cut inputs that are too long instead of failing
  int64_t max_length = 0;  // 0: the model's maximum
};

struct ClassifyResult {
  std::vector<float> logits;
  std::vector<float> scores;  // softmax of logits
  std::string label;
  float score = 0;
  int64_t label_id = 0;
};

struct AnswerSpan {
  std::string answer;
  float score = 0;
  int64_t start = 0, end = 0;            // character offsets into the context
  int64_t start_token = 0, end_token = 0;  // token positions in the encoded pair
};
struct QaResult {
  std::vector<AnswerSpan> answers;  // best first
  std::vector<float> start_logits, end_logits;
  Encoding encoding;
};
struct QaOptions {
  int64_t top_k = 1;
  int64_t max_answer_length = 15;  // tokens, as the Hugging Face pipeline
  bool handle_impossible_answer = false;
};

enum class Pooling { kDefault, kCls, kMean };
struct EmbedResult {
  std::vector<float> embedding;
};

struct MaskPrediction {
  int64_t position = 0;  // token index of the mask in the encoded input
  std::vector<float> logits;
  struct Candidate {
    int32_t token_id;
    std::string token;
    float score;
  };
  std::vector<Candidate> top;
};
struct FillMaskResult {
  std::vector<MaskPrediction> masks;
  Encoding encoding;
};

struct GenerateResult {
  std::vector<int32_t> prompt_ids;
  std::vector<int32_t> token_ids;  // new tokens only
  std::string text;                // decoded new tokens
  std::string finish_reason;       // "length", "eos_token" or "stop_sequence"
  std::vector<float> logprobs;     // log-probability of each new token (after penalties/temperature)
};
// Called for every new token with its id, the text it adds (may be empty
// while a multi-byte character is incomplete) and its log-probability.
// Return false to stop.
using TokenCallback = std::function<bool(int32_t id, const std::string& text_piece, float logprob)>;

struct ForwardResult {
  std::vector<int32_t> ids;
  std::vector<float> last_hidden_state;  // [tokens, hidden]
  std::vector<float> pooler_output;      // [hidden] when the model has a pooler
  std::vector<float> logits;             // per input (classifiers) or [tokens, vocab] (LM heads)
  std::vector<float> start_logits, end_logits;
  int64_t hidden_size = 0;
};

struct LoadOptions {
  // The precision of the linear layers; nullopt: the folder's own (fp32, or
  // what `snapformer quantize` stored). A quantized folder loads only in its
  // own precision.
  std::optional<ops::Precision> precision;
};

class Pipeline {
 public:
  // Loads a model folder (or a tokenizer-only folder when tokenizer_only).
  // Throws Error naming the bad file.
  static std::shared_ptr<Pipeline> load(const std::string& directory, bool tokenizer_only = false,
                                        const LoadOptions& options = {});

  const std::string& directory() const { return directory_; }
  const Tokenizer& tokenizer() const { return *tokenizer_; }
  bool has_model() const { return encoder_ || decoder_; }
  const ModelConfig& config() const { return config_; }
  ops::Precision precision() const { return precision_; }
  int64_t max_length() const { return max_length_; }
  bool supports(Task task) const;
  std::vector<Task> tasks() const;
  const Encoder* encoder() const { return encoder_.get(); }
  const Gpt2Model* decoder() const { return decoder_.get(); }

  // Tokenizes an input as the model would see it (special tokens added).
  Encoding encode(const TaskInput& input, const TruncationOptions& truncation = {}) const;

  Encoding tokenize(const TaskInput& input, const TruncationOptions& truncation = {}) const;
  std::vector<ClassifyResult> classify(const std::vector<TaskInput>& inputs, const TruncationOptions& truncation = {}) const;
  // The same on inputs already encoded (the server tokenizes before batching).
  std::vector<ClassifyResult> classify_encoded(const std::vector<Encoding>& encodings) const;
  QaResult answer(const TaskInput& input, const QaOptions& options = {}, const TruncationOptions& truncation = {}) const;
  std::vector<EmbedResult> embed(const std::vector<TaskInput>& inputs, Pooling pooling, bool normalize,
                                 const TruncationOptions& truncation = {}) const;
  std::vector<EmbedResult> embed_encoded(const std::vector<Encoding>& encodings, Pooling pooling, bool normalize) const;
  FillMaskResult fill_mask(const TaskInput& input, int64_t top_k = 10, const TruncationOptions& truncation = {}) const;
  GenerateResult generate(const TaskInput& input, const GenerationOptions& options,
                          const TokenCallback& on_token = nullptr) const;
  ForwardResult forward(const TaskInput& input, const TruncationOptions& truncation = {}) const;

  // How a conversation becomes a prompt (decoders): the folder's chat
  // template, or the plain one. nullptr for encoders.
  const ChatTemplate* chat_template() const { return chat_template_.get(); }

  // The pooling a model folder asks for (sentence-transformers 1_Pooling), else mean.
  Pooling default_pooling() const { return default_pooling_; }

 private:
  Pipeline() = default;
  void require(Task task) const;
  Encoding encode_with_limit(const TaskInput& input, bool truncate, int64_t limit) const;
  std::vector<Encoding> encode_all(const std::vector<TaskInput>& inputs, const TruncationOptions& truncation) const;
  PackedBatch pack(std::span<const Encoding> encodings) const;
  // classify_encoded and embed_encoded for one part of a batch (tasks/batch_parts.h).
  std::vector<ClassifyResult> classify_part(std::span<const Encoding> encodings) const;
  std::vector<EmbedResult> embed_part(std::span<const Encoding> encodings, Pooling pooling, bool normalize) const;

  std::string directory_;
  ModelConfig config_;
  ops::Precision precision_ = ops::Precision::kFp32;
  std::shared_ptr<const Tokenizer> tokenizer_;
  std::unique_ptr<Encoder> encoder_;
  std::unique_ptr<Gpt2Model> decoder_;
  int64_t max_length_ = 512;
  Pooling default_pooling_ = Pooling::kMean;
  std::unique_ptr<ChatTemplate> chat_template_;
  // oneDNN's first sgemm call, running on a thread while this loads; joined
  // when the last Pipeline holding it is destroyed (ops::warm_up_gemm_in_background).
  std::shared_ptr<void> gemm_warm_up_;
};

}  // namespace snapformer
