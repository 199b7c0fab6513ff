// Text generation with a decoder model: prompt, KV cache, sampler, stop rules.
#include <algorithm>
#include <cmath>

#include "tasks/pipeline.h"
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

}  // namespace

GenerateResult Pipeline::generate(const TaskInput& input, const GenerationOptions& options,
                                  const TokenCallback& on_token) const {
  require(Task::kGenerate);
  validate(options);
  GenerateResult result;
  if (input.input_ids) {
    result.prompt_ids = encode(input).ids;
  } else {
    result.prompt_ids = tokenizer_->encode(input.text).ids;  // GPT-2 adds no special tokens
  }
  if (result.prompt_ids.empty()) {
    if (config_.bos_token_id < 0) throw Error("empty prompt and the model has no bos_token_id");
    result.prompt_ids.push_back(static_cast<int32_t>(config_.bos_token_id));
  }
  const int64_t positions = config_.max_positions;
  const int64_t prompt_length = static_cast<int64_t>(result.prompt_ids.size());
  if (prompt_length >= positions)
    throw InputTooLongError("prompt has " + std::to_string(prompt_length) + " tokens; the model has " +
                            std::to_string(positions) + " positions and needs room for new tokens");

  auto cache = decoder_->new_cache(std::min(positions, prompt_length + options.max_new_tokens));
  TokenSampler sampler(options);
  std::vector<int32_t> history = result.prompt_ids;
  std::vector<float> hidden = decoder_->forward({{&cache, result.prompt_ids.data(), prompt_length}});
  std::string emitted;
  result.finish_reason = "length";
  for (int64_t step = 0; step < options.max_new_tokens; ++step) {
    std::vector<float> logits = decoder_->logits(hidden.data() + (static_cast<int64_t>(hidden.size()) / config_.hidden_size - 1) * config_.hidden_size, 1);
    const int32_t next = sampler.next(logits, history);
    history.push_back(next);
    result.token_ids.push_back(next);
    result.logprobs.push_back(log_probability(logits, next));

    // Text so far; hold back a trailing incomplete UTF-8 character.
    std::string text = tokenizer_->decode(result.token_ids, true);
    bool stopped = false;
    for (const std::string& stop : options.stop) {
      const auto at = stop.empty() ? std::string::npos : text.find(stop);
      if (at != std::string::npos) {
        text.resize(at);
        stopped = true;
      }
    }
    std::string piece;
    const bool incomplete = text.size() >= 3 && text.compare(text.size() - 3, 3, "\xEF\xBF\xBD") == 0 && !stopped;
    if (!incomplete && text.size() >= emitted.size() && text.compare(0, emitted.size(), emitted) == 0) {
      piece = text.substr(emitted.size());
      emitted = text;
    }
    result.text = text;
    const bool eos = options.stop_at_eos && next == config_.eos_token_id;
    if (on_token && !on_token(next, piece, result.logprobs.back())) break;
    if (stopped) {
      result.finish_reason = "stop_sequence";
      break;
    }
    if (eos) {
      result.finish_reason = "eos_token";
      break;
    }
    if (step + 1 == options.max_new_tokens) break;  // no forward pass for a token nobody reads
    if (cache.length >= cache.capacity) break;      // out of positions
    hidden = decoder_->forward({{&cache, &next, 1}});
  }
  return result;
}

}  // namespace snapformer
