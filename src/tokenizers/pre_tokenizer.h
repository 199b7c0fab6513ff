// Pre-tokenizers from tokenizer.json: split normalized text into words.
// A word is a half-open range of NormalizedText character indices.
//
// Thread-safety: immutable after construction; split() is const.
#pragma once

#include <memory>
#include <utility>
#include <vector>

#include "tokenizers/normalized_text.h"
#include "util/json_file.h"

namespace snapformer {

using WordRange = std::pair<std::size_t, std::size_t>;

enum class PreTokenizerKind {
  kBert,             // split on whitespace (dropped) and punctuation (kept alone)
  kWhitespaceSplit,  // split on whitespace only
  kByteLevel,        // GPT-2's regex; the model then works on UTF-8 bytes
};

struct PreTokenizer {
  PreTokenizerKind kind = PreTokenizerKind::kBert;
  bool add_prefix_space = false;  // ByteLevel only

  // Appends the words of text.chars[begin, end) to `words`.
  void split(const NormalizedText& text, std::size_t begin, std::size_t end, std::vector<WordRange>& words) const;
};

PreTokenizer make_pre_tokenizer(const Json& spec, const std::string& where);

// GPT-2's pattern  's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// written out by hand (leftmost alternative wins, as in the regex engine).
void split_gpt2_pattern(std::u32string_view text, std::size_t offset, std::vector<WordRange>& words);

}  // namespace snapformer
