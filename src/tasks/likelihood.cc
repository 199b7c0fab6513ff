#include "tasks/likelihood.h"

#include <algorithm>
#include <cmath>

#include "util/error.h"

namespace snapformer {

SequenceLikelihood sequence_likelihood(const Gpt2Model& model, const std::vector<int32_t>& ids) {
  const auto n = static_cast<int64_t>(ids.size());
  SequenceLikelihood result;
  if (n < 2) return result;
  if (n > model.config().max_positions)
    throw InputTooLongError("sequence of " + std::to_string(n) + " tokens is longer than the model's " +
                            std::to_string(model.config().max_positions) + " positions");
  auto cache = model.new_cache(n);
  const auto hidden = model.forward({{&cache, ids.data(), n}});
  const auto logits = model.logits(hidden.data(), n - 1);
  const int64_t vocab = model.config().vocab_size;
  for (int64_t t = 0; t + 1 < n; ++t) {
    const float* row = logits.data() + t * vocab;
    const double maximum = *std::max_element(row, row + vocab);
    double sum = 0;
    for (int64_t v = 0; v < vocab; ++v) sum += std::exp(static_cast<double>(row[v]) - maximum);
    result.nll_sum -= static_cast<double>(row[ids[static_cast<std::size_t>(t + 1)]]) - maximum - std::log(sum);
  }
  result.predicted = n - 1;
  return result;
}

}  // namespace snapformer
