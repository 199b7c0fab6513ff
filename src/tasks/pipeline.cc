#include "tasks/pipeline.h"

#include "models/ultrafastbert.h"

#include <algorithm>
#include <filesystem>

#include "ops/linear.h"
#include "util/error.h"
#include "util/json_file.h"

namespace snapformer {
namespace fs = std::filesystem;

const char* task_name(Task task) {
  switch (task) {
    case Task::kTokenize: return "tokenize";
    case Task::kClassify: return "classify";
    case Task::kQuestionAnswering: return "qa";
    case Task::kEmbed: return "embed";
    case Task::kFillMask: return "fill-mask";
    case Task::kGenerate: return "generate";
    case Task::kForward: return "forward";
  }
  return "?";
}

namespace {
constexpr Task kAllTasks[] = {Task::kTokenize, Task::kClassify, Task::kQuestionAnswering, Task::kEmbed,
                              Task::kFillMask, Task::kGenerate, Task::kForward};
}  // namespace

namespace {

// True for float32 GPT-2 folders: their Conv1D layers run on oneDNN's sgemm
// from the first token on, so its one-time kernel generation is worth
// starting before the tokenizer loads. (Encoders use sgemm only above 24
// tokens; warming up there would take a core from short, cold requests.)
// A config that cannot be read is left for load_model_config to report.
bool will_use_sgemm(const std::string& directory, const LoadOptions& options) {
  if (options.precision && *options.precision != ops::Precision::kFp32) return false;
  try {
    const Json config = read_json_file((fs::path(directory) / "config.json").string());
    return config.is_object() && config.value("model_type", "") == "gpt2" &&
           !config.contains("snapformer_dtype");
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace

Task parse_task(const std::string& name) {
  for (Task t : kAllTasks)
    if (name == task_name(t)) return t;
  throw Error("unknown task '" + name + "' (expected tokenize, classify, qa, embed, fill-mask, generate or forward)");
}

std::shared_ptr<Pipeline> Pipeline::load(const std::string& directory, bool tokenizer_only,
                                         const LoadOptions& options) {
  if (!fs::is_directory(directory)) throw Error(directory + ": not a model folder (no such directory)");
  std::shared_ptr<Pipeline> p(new Pipeline());
  p->directory_ = directory;
  if (!tokenizer_only && will_use_sgemm(directory, options)) p->gemm_warm_up_ = ops::warm_up_gemm_in_background();
  p->tokenizer_ = Tokenizer::from_folder(directory);
  int64_t tokenizer_limit = 0;
  const fs::path tokenizer_config_file = fs::path(directory) / "tokenizer_config.json";
  const Json tokenizer_config =
      fs::exists(tokenizer_config_file) ? read_json_file(tokenizer_config_file.string()) : Json::object();
  if (tokenizer_config.is_object() && tokenizer_config.contains("model_max_length") &&
      tokenizer_config["model_max_length"].is_number_integer())
    tokenizer_limit = tokenizer_config["model_max_length"].get<int64_t>();
  const bool has_config = fs::exists(fs::path(directory) / "config.json");
  if (tokenizer_only || !has_config) {
    if (!tokenizer_only) throw Error(directory + ": missing config.json");
    p->max_length_ = tokenizer_limit > 0 && tokenizer_limit < (1 << 24) ? tokenizer_limit : 0;
    return p;
  }
  p->config_ = load_model_config(directory);
  const ops::Precision stored = p->config_.stored_precision;
  p->precision_ = options.precision.value_or(stored);
  if (stored != ops::Precision::kFp32 && p->precision_ != stored) {
    throw Error(directory + ": the folder stores " + ops::precision_name(stored) +
                " weights (written by snapformer quantize); load it with --dtype " + ops::precision_name(stored));
  }
  if (p->config_.is_decoder()) {
    p->decoder_ = std::make_unique<Gpt2Model>(directory, p->config_, p->precision_);
    p->chat_template_ = std::make_unique<ChatTemplate>(ChatTemplate::from_folder(directory, tokenizer_config));
  } else if (p->config_.family == ModelFamily::kCrammedBert) {
    p->encoder_ = std::make_unique<UltraFastBertModel>(directory, p->config_, p->precision_);
  } else {
    p->encoder_ = std::make_unique<EncoderModel>(directory, p->config_, p->precision_);
  }
  p->max_length_ = p->config_.max_sequence_length();
  if (tokenizer_limit > 0 && tokenizer_limit < p->max_length_) p->max_length_ = tokenizer_limit;
  const fs::path pooling = fs::path(directory) / "1_Pooling" / "config.json";
  if (fs::exists(pooling)) {
    const Json json = read_json_file(pooling.string());
    if (json.value("pooling_mode_cls_token", false)) p->default_pooling_ = Pooling::kCls;
  }
  return p;
}

bool Pipeline::supports(Task task) const {
  switch (task) {
    case Task::kTokenize: return true;
    case Task::kClassify: return encoder_ && config_.head == HeadKind::kSequenceClassification;
    case Task::kQuestionAnswering: return encoder_ && config_.head == HeadKind::kQuestionAnswering;
    case Task::kEmbed: return encoder_ != nullptr;
    case Task::kFillMask: return encoder_ && config_.head == HeadKind::kMaskedLm;
    case Task::kGenerate: return decoder_ != nullptr;
    case Task::kForward: return has_model();
  }
  return false;
}

std::vector<Task> Pipeline::tasks() const {
  std::vector<Task> out;
  for (Task t : kAllTasks)
    if (supports(t)) out.push_back(t);
  return out;
}

void Pipeline::require(Task task) const {
  if (supports(task)) return;
  const std::string what = has_model() ? config_.architecture.empty() ? config_.model_type : config_.architecture
                                       : "a tokenizer-only folder";
  throw Error(std::string("task '") + task_name(task) + "' is not supported by " + what + " (" + directory_ + ")");
}

Encoding Pipeline::encode(const TaskInput& input, const TruncationOptions& truncation) const {
  int64_t limit = max_length_;
  if (truncation.max_length > 0) limit = limit > 0 ? std::min(limit, truncation.max_length) : truncation.max_length;
  return encode_with_limit(input, truncation.truncate, limit);
}

Encoding Pipeline::encode_with_limit(const TaskInput& input, bool truncate, int64_t limit) const {
  Encoding encoding;
  if (input.input_ids) {
    const auto& ids = *input.input_ids;
    if (input.attention_mask && input.attention_mask->size() != ids.size())
      throw Error("attention_mask has " + std::to_string(input.attention_mask->size()) + " entries but input_ids has " +
                  std::to_string(ids.size()));
    if (input.token_type_ids && input.token_type_ids->size() != ids.size())
      throw Error("token_type_ids has " + std::to_string(input.token_type_ids->size()) + " entries but input_ids has " +
                  std::to_string(ids.size()));
    for (std::size_t i = 0; i < ids.size(); ++i) {
      if (input.attention_mask && (*input.attention_mask)[i] == 0) continue;  // packed: padding is dropped
      if (ids[i] < 0 || static_cast<std::size_t>(ids[i]) >= tokenizer_->vocab_size())
        throw Error("input_ids[" + std::to_string(i) + "] = " + std::to_string(ids[i]) + " is outside the vocabulary");
      encoding.push(ids[i], tokenizer_->id_to_token(ids[i]), Offsets{0, 0},
                    input.token_type_ids ? (*input.token_type_ids)[i] : 0, 0, tokenizer_->is_special(ids[i]));
    }
  } else if (input.question || input.context) {
    if (!input.question || !input.context) throw Error("question answering needs both 'question' and 'context'");
    encoding = tokenizer_->encode_pair(*input.question, *input.context, true,
                                       truncate && limit > 0 ? static_cast<std::size_t>(limit) : 0,
                                       TruncationStrategy::kOnlySecond);
  } else if (input.text_pair) {
    encoding = tokenizer_->encode_pair(input.text, *input.text_pair, true,
                                       truncate && limit > 0 ? static_cast<std::size_t>(limit) : 0);
  } else if (truncate && limit > 0) {
    encoding = tokenizer_->encode_truncated(input.text, static_cast<std::size_t>(limit));
  } else {
    encoding = tokenizer_->encode(input.text);
  }
  if (limit > 0 && static_cast<int64_t>(encoding.size()) > limit) {
    if (!truncate)
      throw InputTooLongError("input has " + std::to_string(encoding.size()) + " tokens; the maximum is " +
                              std::to_string(limit) + " (use truncation to cut it)");
    encoding.truncate(static_cast<std::size_t>(limit));
  }
  return encoding;
}

Encoding Pipeline::tokenize(const TaskInput& input, const TruncationOptions& truncation) const {
  if (has_model() || truncation.truncate) return encode(input, truncation);
  // A tokenizer-only folder has no model limit: report every token.
  return encode_with_limit(input, false, 0);
}

std::vector<Encoding> Pipeline::encode_all(const std::vector<TaskInput>& inputs, const TruncationOptions& truncation) const {
  std::vector<Encoding> encodings;
  encodings.reserve(inputs.size());
  for (const TaskInput& input : inputs) encodings.push_back(encode(input, truncation));
  return encodings;
}

PackedBatch Pipeline::pack(std::span<const Encoding> encodings) const {
  PackedBatch batch;
  for (const Encoding& e : encodings) {
    if (e.ids.empty()) throw Error("input has no tokens");
    batch.add(e.ids, e.type_ids);
  }
  return batch;
}

}  // namespace snapformer
