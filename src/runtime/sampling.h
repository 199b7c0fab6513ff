// Choosing the next token from logits: greedy, or sampling with
// temperature, top-k, top-p and a repetition penalty, reproducible by seed.
//
// Thread-safety: a TokenSampler holds its own random state; use one per
// sequence.
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace snapformer {

struct GenerationOptions {
  int64_t max_new_tokens = 20;
  bool do_sample = false;
  float temperature = 1.0f;
  int64_t top_k = 0;      // 0: no top-k filter
  float top_p = 1.0f;     // 1: no nucleus filter
  float repetition_penalty = 1.0f;
  std::optional<uint64_t> seed;  // unset: a random seed
  std::vector<std::string> stop;  // stop sequences (matched in the generated text)
  bool stop_at_eos = true;
};

// Throws Error naming the bad option (negative temperature, top_p outside (0, 1], ...).
void validate(const GenerationOptions& options);

class TokenSampler {
 public:
  explicit TokenSampler(const GenerationOptions& options);
  // Picks the next token. `logits` is modified (penalties, temperature).
  // `previous` are the ids seen so far (prompt and generated), for the penalty.
  int32_t next(std::vector<float>& logits, const std::vector<int32_t>& previous);

 private:
  GenerationOptions options_;
  std::mt19937_64 random_;
};

}  // namespace snapformer
