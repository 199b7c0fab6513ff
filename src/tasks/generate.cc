// Text generation with a decoder model: prompt, KV cache, sampler, stop rules.
#include <algorithm>
#include <cmath>

#include "tasks/generation_session.h"
#include "util/error.h"

namespace snapformer {
namespace {

// log softmax(logits)[id], computed stably.
float log_probability(const std::vector<float>& logits, int32_t id) {
  const float maximum = *std::max_element(logits.begin(), logits.end());
  double sum = 0;
  for (float v : logits) sum += std::exp(static_cast<double>(v - maximum));
  return static_cast<float>(logits[static_cast<std::size_t>(id)] - maximum - std::log(sum));
}

std::vector<int32_t> prompt_ids(const Pipeline& pipeline, const TaskInput& input) {
  std::vector<int32_t> ids =
      input.input_ids ? pipeline.encode(input).ids : pipeline.tokenizer().encode(input.text).ids;  // GPT-2 adds no specials
  if (ids.empty()) {
    const int64_t bos = pipeline.config().bos_token_id;
    if (bos < 0) throw Error("empty prompt and the model has no bos_token_id");
    ids.push_back(static_cast<int32_t>(bos));
  }
  const int64_t positions = pipeline.config().max_positions;
  if (static_cast<int64_t>(ids.size()) >= positions)
    throw InputTooLongError("prompt has " + std::to_string(ids.size()) + " tokens; the model has " +
                            std::to_string(positions) + " positions and needs room for new tokens");
  return ids;
}

const Pipeline& require_decoder(const Pipeline& pipeline) {
  if (!pipeline.supports(Task::kGenerate))
    throw Error("task 'generate' is not supported by " + pipeline.config().architecture + " (" + pipeline.directory() + ")");
  return pipeline;
}

}  // namespace

GenerationSession::GenerationSession(const Pipeline& pipeline, const TaskInput& input, const GenerationOptions& options,
                                     TokenCallback on_token)
    : pipeline_(require_decoder(pipeline)), options_(options), on_token_(std::move(on_token)), sampler_(options) {
  validate(options_);
  result_.prompt_ids = prompt_ids(pipeline_, input);
  const int64_t prompt_length = static_cast<int64_t>(result_.prompt_ids.size());
  cache_ = pipeline_.decoder()->new_cache(std::min(pipeline_.config().max_positions, prompt_length + options_.max_new_tokens));
  history_ = result_.prompt_ids;
  pending_ = result_.prompt_ids;
  result_.finish_reason = "length";
  finished_ = options_.max_new_tokens == 0;
}

void GenerationSession::accept(std::vector<float> logits) {
  const int32_t next = sampler_.next(logits, history_);
  history_.push_back(next);
  result_.token_ids.push_back(next);
  result_.logprobs.push_back(log_probability(logits, next));

  // Text so far; hold back a trailing incomplete UTF-8 character.
  std::string text = pipeline_.tokenizer().decode(result_.token_ids, true);
  bool stopped = false;
  for (const std::string& stop : options_.stop) {
    const auto at = stop.empty() ? std::string::npos : text.find(stop);
    if (at != std::string::npos) {
      text.resize(at);
      stopped = true;
    }
  }
  std::string piece;
  const bool incomplete = text.size() >= 3 && text.compare(text.size() - 3, 3, "\xEF\xBF\xBD") == 0 && !stopped;
  if (!incomplete && text.size() >= emitted_.size() && text.compare(0, emitted_.size(), emitted_) == 0) {
    piece = text.substr(emitted_.size());
    emitted_ = text;
  }
  result_.text = text;
  pending_.assign(1, next);
  const bool eos = options_.stop_at_eos && next == pipeline_.config().eos_token_id;
  if (on_token_ && !on_token_(next, piece, result_.logprobs.back())) finished_ = true;
  if (stopped) {
    result_.finish_reason = "stop_sequence";
    finished_ = true;
  } else if (eos) {
    result_.finish_reason = "eos_token";
    finished_ = true;
  }
  if (static_cast<int64_t>(result_.token_ids.size()) >= options_.max_new_tokens) finished_ = true;
  if (cache_.length >= cache_.capacity) finished_ = true;  // out of positions
}

GenerateResult Pipeline::generate(const TaskInput& input, const GenerationOptions& options,
                                  const TokenCallback& on_token) const {
  require(Task::kGenerate);
  GenerationSession session(*this, input, options, on_token);
  const int64_t h = config_.hidden_size;
  while (!session.finished()) {
    const Gpt2Model::Step step = session.step();
    const std::vector<float> hidden = decoder_->forward({step});
    session.accept(decoder_->logits(hidden.data() + (step.count - 1) * h, 1));
  }
  return session.result();
}

}  // namespace snapformer
