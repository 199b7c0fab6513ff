// Log-likelihood of a token sequence under a causal language model: the
// measure behind perplexity (used to compare precision modes on the demo
// GPT-2, and by anyone scoring text).
#pragma once

#include <cstdint>
#include <vector>

#include "models/gpt2.h"

namespace snapformer {

struct SequenceLikelihood {
  double nll_sum = 0;       // Σ_t -log p(ids[t+1] | ids[..t]), natural log, softmax over the full vocabulary
  int64_t predicted = 0;    // ids.size() - 1
};

// One forward pass over `ids` (at most the model's positions). Thread-safe.
SequenceLikelihood sequence_likelihood(const Gpt2Model& model, const std::vector<int32_t>& ids);

}  // namespace snapformer
