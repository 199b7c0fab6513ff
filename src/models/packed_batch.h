// PackedBatch: several token sequences laid end to end with no padding.
// Sequence s occupies rows [starts[s], starts[s+1]) of every activation.
#pragma once

#include <cstdint>
#include <vector>

namespace snapformer {

struct PackedBatch {
  std::vector<int32_t> ids;
  std::vector<int32_t> type_ids;   // same length as ids (zeros when unused)
  std::vector<int64_t> starts{0};  // sequences() + 1 boundaries

  void add(const std::vector<int32_t>& sequence_ids, const std::vector<int32_t>& sequence_type_ids = {}) {
    ids.insert(ids.end(), sequence_ids.begin(), sequence_ids.end());
    if (sequence_type_ids.size() == sequence_ids.size())
      type_ids.insert(type_ids.end(), sequence_type_ids.begin(), sequence_type_ids.end());
    else
      type_ids.resize(ids.size(), 0);
    starts.push_back(static_cast<int64_t>(ids.size()));
  }
  int64_t sequences() const { return static_cast<int64_t>(starts.size()) - 1; }
  int64_t tokens() const { return static_cast<int64_t>(ids.size()); }
  int64_t length(int64_t s) const { return starts[s + 1] - starts[s]; }
  // The row of each sequence's first token ([CLS] / <s>): starts without the end.
  std::vector<int64_t> first_rows() const { return {starts.begin(), starts.end() - 1}; }

  // Throws Error for an empty sequence or an id outside [0, vocab_size), and
  // InputTooLongError for a sequence longer than max_length.
  void check(int64_t max_length, int64_t vocab_size) const;
};

}  // namespace snapformer
