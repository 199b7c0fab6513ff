#include "models/encoder_interface.h"

#include <cstring>
#include <numeric>
#include <string>

#include "util/error.h"

namespace snapformer {

void check_rows(const PackedBatch& batch, const std::vector<int64_t>& rows) {
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (rows[i] < 0 || rows[i] >= batch.tokens())
      throw Error("row " + std::to_string(rows[i]) + " is outside the batch's " + std::to_string(batch.tokens()) +
                  " tokens");
    if (i > 0 && rows[i] <= rows[i - 1]) throw Error("rows must be ascending without repeats");
  }
}

std::vector<float> gather_rows(const std::vector<float>& states, const std::vector<int64_t>& rows, int64_t width) {
  std::vector<float> out(rows.size() * static_cast<std::size_t>(width));
  for (std::size_t i = 0; i < rows.size(); ++i)
    std::memcpy(out.data() + static_cast<int64_t>(i) * width, states.data() + rows[i] * width,
                static_cast<std::size_t>(width) * sizeof(float));
  return out;
}

std::vector<float> Encoder::forward_rows(const PackedBatch& batch, const std::vector<int64_t>& rows) const {
  check_rows(batch, rows);
  return gather_rows(forward(batch), rows, config().hidden_size);
}

std::vector<float> Encoder::classify_batch(const PackedBatch& batch) const { return classify(forward(batch), batch); }

std::vector<float> Encoder::masked_lm_logits_batch(const PackedBatch& batch, const std::vector<int64_t>& rows) const {
  check_rows(batch, rows);
  return masked_lm_logits(forward(batch), rows);
}

std::vector<float> Encoder::pool(const std::vector<float>&, const PackedBatch&) const {
  throw Error("this model has no pooler");
}
std::vector<float> Encoder::classify(const std::vector<float>&, const PackedBatch&) const {
  throw Error("this model has no classification head");
}
void Encoder::answer_spans(const std::vector<float>&, std::vector<float>&, std::vector<float>&) const {
  throw Error("this model has no question-answering head");
}
std::vector<float> Encoder::masked_lm_logits(const std::vector<float>&, const std::vector<int64_t>&) const {
  throw Error("this model has no masked-LM head");
}

}  // namespace snapformer
