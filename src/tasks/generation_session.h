// GenerationSession: the state of one text generation, advanced one token at
// a time by whoever runs the model, so that a scheduler can advance many
// sessions in one batched forward pass (continuous batching).
//
//   GenerationSession s(pipeline, input, options, on_token);
//   while (!s.finished()) {
//     hidden = decoder.forward({s.step()});      // feeds s.pending() into s.cache()
//     s.accept(decoder.logits(last row of hidden, 1));
//   }
//   GenerateResult r = s.result();
//
// It owns its KV cache, sampler and token history; it applies the stop rules
// (max_new_tokens, EOS, stop sequences, positions) and produces the streamed
// text pieces. Thread-safety: one thread at a time per session.
#pragma once

#include <vector>

#include "tasks/pipeline.h"

namespace snapformer {

class GenerationSession {
 public:
  // Tokenizes the prompt and allocates the cache. Throws Error /
  // InputTooLongError for a bad prompt or options.
  GenerationSession(const Pipeline& pipeline, const TaskInput& input, const GenerationOptions& options,
                    TokenCallback on_token = nullptr);

  bool finished() const { return finished_; }
  // The tokens to feed next: the prompt first, then the last sampled token.
  Gpt2Model::Step step() { return {&cache_, pending_.data(), static_cast<int64_t>(pending_.size())}; }
  // The logits of the last fed position: samples the next token, applies the
  // stop rules and calls on_token. After it, finished() may be true.
  void accept(std::vector<float> logits);
  const GenerateResult& result() const { return result_; }
  const Pipeline& pipeline() const { return pipeline_; }

 private:
  const Pipeline& pipeline_;
  GenerationOptions options_;
  TokenCallback on_token_;
  Gpt2Model::KvCache cache_;
  TokenSampler sampler_;
  std::vector<int32_t> history_, pending_;
  std::string emitted_;
  GenerateResult result_;
  bool finished_ = false;
};

}  // namespace snapformer
