// The tokenization models: WordPiece (BERT) and byte-level BPE (GPT-2,
// RoBERTa). Each turns one pre-tokenized word into tokens.
//
// Thread-safety: immutable after construction; tokenize() is const and
// reentrant.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "tokenizers/vocabulary.h"

namespace snapformer {

// BPE merges in rank order: (left, right) token strings.
using MergeList = std::vector<std::pair<std::string_view, std::string_view>>;

// One token of a word; [begin, end) are character indices within the word.
struct WordToken {
  int32_t id;
  uint32_t begin;
  uint32_t end;
};

class TokenModel {
 public:
  virtual ~TokenModel() = default;
  virtual void tokenize(std::u32string_view word, std::vector<WordToken>& out) const = 0;
  const Vocabulary& vocabulary() const { return vocabulary_; }
  Vocabulary& mutable_vocabulary() { return vocabulary_; }

 protected:
  Vocabulary vocabulary_;
};

class WordPieceModel final : public TokenModel {
 public:
  WordPieceModel(Vocabulary vocabulary, std::string unk_token, std::string continuing_prefix,
                 std::size_t max_input_chars_per_word);
  void tokenize(std::u32string_view word, std::vector<WordToken>& out) const override;

 private:
  int32_t unk_id_;
  std::string continuing_prefix_;
  std::size_t max_chars_;
};

// Byte-level BPE: a word's UTF-8 bytes are mapped to printable characters
// (GPT-2's bytes_to_unicode), then merged by rank.
class ByteLevelBpeModel final : public TokenModel {
 public:
  // `merges` are pairs of token strings in rank order. Throws Error if a merge
  // names tokens missing from the vocabulary.
  ByteLevelBpeModel(Vocabulary vocabulary, const MergeList& merges, const std::string& where);
  void tokenize(std::u32string_view word, std::vector<WordToken>& out) const override;

 private:
  struct Merge {
    int32_t rank;
    int32_t result;
  };
  static uint64_t pair_key(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
  }
  std::unordered_map<uint64_t, Merge> merges_;
  int32_t byte_ids_[256];  // id of the single-byte token for every byte, -1 if absent
};

// GPT-2's reversible byte <-> printable character map.
char32_t byte_to_unicode(uint8_t byte);
// Inverse of byte_to_unicode; returns -1 for characters outside the map.
int unicode_to_byte(char32_t c);

}  // namespace snapformer
