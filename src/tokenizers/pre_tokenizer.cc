#include "tokenizers/pre_tokenizer.h"

#include "tokenizers/unicode.h"
#include "util/error.h"

namespace snapformer {
namespace {

bool is_other_class(char32_t c) {
  return !unicode::is_whitespace(c) && !unicode::is_letter(c) && !unicode::is_number(c);
}

// Length of a contraction ('s 't 'm 'd 're 've 'll) at text[i], or 0.
std::size_t contraction_length(std::u32string_view text, std::size_t i) {
  if (text[i] != U'\'' || i + 1 >= text.size()) return 0;
  const char32_t a = text[i + 1];
  if (a == U's' || a == U't' || a == U'm' || a == U'd') return 2;
  if (i + 2 >= text.size()) return 0;
  const char32_t b = text[i + 2];
  if ((a == U'r' && b == U'e') || (a == U'v' && b == U'e') || (a == U'l' && b == U'l')) return 3;
  return 0;
}

}  // namespace

void split_gpt2_pattern(std::u32string_view text, std::size_t offset, std::vector<WordRange>& words) {
  const std::size_t n = text.size();
  std::size_t i = 0;
  while (i < n) {
    if (const std::size_t len = contraction_length(text, i)) {
      words.emplace_back(offset + i, offset + i + len);
      i += len;
      continue;
    }
    // " ?X+" for X in letters, numbers, other: an optional literal space then a run.
    const std::size_t j = (text[i] == U' ' && i + 1 < n) ? i + 1 : i;
    bool (*in_class)(char32_t) = nullptr;
    if (unicode::is_letter(text[j])) in_class = unicode::is_letter;
    else if (unicode::is_number(text[j])) in_class = unicode::is_number;
    else if (is_other_class(text[j])) in_class = is_other_class;
    if (in_class != nullptr) {
      std::size_t k = j;
      while (k < n && in_class(text[k])) ++k;
      words.emplace_back(offset + i, offset + k);
      i = k;
      continue;
    }
    // Whitespace: "\s+(?!\S)" leaves the last space of a run for the next word; else "\s+".
    std::size_t k = i;
    while (k < n && unicode::is_whitespace(text[k])) ++k;
    if (k < n && k - i > 1) --k;
    words.emplace_back(offset + i, offset + k);
    i = k;
  }
}

void PreTokenizer::split(const NormalizedText& text, std::size_t begin, std::size_t end,
                         std::vector<WordRange>& words) const {
  const std::u32string_view chars(text.chars);
  if (kind == PreTokenizerKind::kByteLevel) {
    split_gpt2_pattern(chars.substr(begin, end - begin), begin, words);
    return;
  }
  std::size_t word_start = begin;
  for (std::size_t i = begin; i < end; ++i) {
    const char32_t c = chars[i];
    if (unicode::is_whitespace(c)) {
      if (i > word_start) words.emplace_back(word_start, i);
      word_start = i + 1;
    } else if (kind == PreTokenizerKind::kBert && unicode::is_bert_punctuation(c)) {
      if (i > word_start) words.emplace_back(word_start, i);
      words.emplace_back(i, i + 1);
      word_start = i + 1;
    }
  }
  if (end > word_start) words.emplace_back(word_start, end);
}

PreTokenizer make_pre_tokenizer(const Json& spec, const std::string& where) {
  PreTokenizer pre;
  if (spec.is_null()) {
    pre.kind = PreTokenizerKind::kWhitespaceSplit;
    return pre;
  }
  if (!spec.is_object() || !spec.contains("type") || !spec["type"].is_string())
    throw Error(where + ": pre_tokenizer must be an object with a 'type'");
  const std::string type = spec["type"].get<std::string>();
  if (type == "BertPreTokenizer") {
    pre.kind = PreTokenizerKind::kBert;
  } else if (type == "WhitespaceSplit") {
    pre.kind = PreTokenizerKind::kWhitespaceSplit;
  } else if (type == "ByteLevel") {
    pre.kind = PreTokenizerKind::kByteLevel;
    pre.add_prefix_space = spec.value("add_prefix_space", false);
    if (!spec.value("use_regex", true)) throw Error(where + ": ByteLevel pre_tokenizer with use_regex=false is not supported");
  } else {
    throw Error(where + ": unsupported pre_tokenizer type '" + type + "'");
  }
  return pre;
}

}  // namespace snapformer
