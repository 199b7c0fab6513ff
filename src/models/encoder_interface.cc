#include "models/encoder_interface.h"

#include "util/error.h"

namespace snapformer {

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
