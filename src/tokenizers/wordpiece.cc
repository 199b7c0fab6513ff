#include "tokenizers/token_model.h"
#include "util/error.h"
#include "util/utf8.h"

namespace snapformer {

WordPieceModel::WordPieceModel(Vocabulary vocabulary, std::string unk_token, std::string continuing_prefix,
                               std::size_t max_input_chars_per_word)
    : continuing_prefix_(std::move(continuing_prefix)), max_chars_(max_input_chars_per_word) {
  vocabulary_ = std::move(vocabulary);
  const auto unk = vocabulary_.find(unk_token);
  if (!unk) throw Error("WordPiece: unk_token '" + unk_token + "' is not in the vocabulary");
  unk_id_ = *unk;
}

void WordPieceModel::tokenize(std::u32string_view word, std::vector<WordToken>& out) const {
  const uint32_t length = static_cast<uint32_t>(word.size());
  if (word.size() > max_chars_) {
    out.push_back({unk_id_, 0, length});
    return;
  }
  const std::size_t first = out.size();
  std::string candidate;
  uint32_t start = 0;
  while (start < length) {
    uint32_t end = length;
    bool found = false;
    while (start < end) {  // greedy longest match first
      candidate = start > 0 ? continuing_prefix_ : std::string();
      candidate += utf8::encode(word.substr(start, end - start));
      if (const auto id = vocabulary_.find(candidate)) {
        out.push_back({*id, start, end});
        found = true;
        break;
      }
      --end;
    }
    if (!found) {  // any unmatchable piece makes the whole word unknown
      out.resize(first);
      out.push_back({unk_id_, 0, length});
      return;
    }
    start = end;
  }
}

}  // namespace snapformer
