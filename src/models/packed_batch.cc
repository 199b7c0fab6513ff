#include "models/packed_batch.h"

#include <string>

#include "util/error.h"

namespace snapformer {

void PackedBatch::check(int64_t max_length, int64_t vocab_size) const {
  for (int64_t s = 0; s < sequences(); ++s) {
    if (length(s) == 0) throw Error("input " + std::to_string(s) + " has no tokens");
    if (length(s) > max_length)
      throw InputTooLongError("input " + std::to_string(s) + " has " + std::to_string(length(s)) +
                              " tokens; the model accepts at most " + std::to_string(max_length));
  }
  for (int32_t id : ids)
    if (id < 0 || id >= vocab_size)
      throw Error("token id " + std::to_string(id) + " is outside the vocabulary of " + std::to_string(vocab_size));
}

}  // namespace snapformer
