// Encoding: the result of tokenizing one input (a text or a text pair).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tokenizers/normalized_text.h"

namespace snapformer {

struct Encoding {
  std::vector<int32_t> ids;
  std::vector<std::string> tokens;
  // Character (code point) offsets into the text of the token's own sequence;
  // {0, 0} for special tokens the post-processor added.
  std::vector<Offsets> offsets;
  std::vector<int32_t> type_ids;
  // 0 or 1 for tokens of the first or second text; -1 for added special tokens.
  std::vector<int8_t> sequence_ids;
  std::vector<uint8_t> special_tokens_mask;
  std::vector<uint8_t> attention_mask;  // all 1 unless padded

  std::size_t size() const { return ids.size(); }
  void push(int32_t id, std::string token, Offsets offsets_, int32_t type_id, int8_t sequence, bool special) {
    ids.push_back(id);
    tokens.push_back(std::move(token));
    offsets.push_back(offsets_);
    type_ids.push_back(type_id);
    sequence_ids.push_back(sequence);
    special_tokens_mask.push_back(special ? 1 : 0);
    attention_mask.push_back(1);
  }
  void append(const Encoding& other) {
    for (std::size_t i = 0; i < other.size(); ++i) {
      push(other.ids[i], other.tokens[i], other.offsets[i], other.type_ids[i], other.sequence_ids[i],
           other.special_tokens_mask[i] != 0);
      attention_mask.back() = other.attention_mask[i];
    }
  }
  void truncate(std::size_t length) {
    if (length >= size()) return;
    ids.resize(length), tokens.resize(length), offsets.resize(length), type_ids.resize(length);
    sequence_ids.resize(length), special_tokens_mask.resize(length), attention_mask.resize(length);
  }
};

}  // namespace snapformer
