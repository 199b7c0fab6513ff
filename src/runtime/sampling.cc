#include "runtime/sampling.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <unordered_set>

#include "util/error.h"

namespace snapformer {

void validate(const GenerationOptions& o) {
  if (o.max_new_tokens < 0) throw Error("max_new_tokens must not be negative");
  if (!(o.temperature > 0.0f) || !std::isfinite(o.temperature)) throw Error("temperature must be a positive number");
  if (o.top_k < 0) throw Error("top_k must not be negative");
  if (!(o.top_p > 0.0f && o.top_p <= 1.0f)) throw Error("top_p must be in (0, 1]");
  if (!(o.repetition_penalty > 0.0f) || !std::isfinite(o.repetition_penalty))
    throw Error("repetition_penalty must be a positive number");
}

TokenSampler::TokenSampler(const GenerationOptions& options)
    : options_(options), random_(options.seed ? *options.seed : std::random_device{}()) {}

int32_t TokenSampler::next(std::vector<float>& logits, const std::vector<int32_t>& previous) {
  const int64_t vocab = static_cast<int64_t>(logits.size());
  if (options_.repetition_penalty != 1.0f) {
    // As in transformers' RepetitionPenaltyLogitsProcessor: divide positive
    // scores, multiply negative ones, once per distinct previous token.
    std::unordered_set<int32_t> seen(previous.begin(), previous.end());
    for (int32_t id : seen) {
      if (id < 0 || id >= vocab) continue;
      float& v = logits[id];
      v = v > 0 ? v / options_.repetition_penalty : v * options_.repetition_penalty;
    }
  }
  if (!options_.do_sample) {
    // Greedy: the first maximum wins ties, as torch.argmax.
    return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  }
  for (float& v : logits) v /= options_.temperature;
  std::vector<int32_t> order(static_cast<std::size_t>(vocab));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
  std::size_t keep = order.size();
  if (options_.top_k > 0) keep = std::min<std::size_t>(keep, static_cast<std::size_t>(options_.top_k));
  const float maximum = logits[order[0]];
  std::vector<double> probabilities(keep);
  double total = 0;
  for (std::size_t i = 0; i < keep; ++i) total += probabilities[i] = std::exp(static_cast<double>(logits[order[i]] - maximum));
  if (options_.top_p < 1.0f) {
    // Smallest prefix whose probability reaches top_p (at least one token).
    double cumulative = 0;
    std::size_t cut = 0;
    while (cut < keep) {
      cumulative += probabilities[cut] / total;
      ++cut;
      if (cumulative >= options_.top_p) break;
    }
    keep = cut;
    probabilities.resize(keep);
    total = std::accumulate(probabilities.begin(), probabilities.end(), 0.0);
  }
  std::uniform_real_distribution<double> uniform(0.0, total);
  double target = uniform(random_);
  for (std::size_t i = 0; i < keep; ++i) {
    target -= probabilities[i];
    if (target <= 0) return order[i];
  }
  return order[keep - 1];
}

}  // namespace snapformer
