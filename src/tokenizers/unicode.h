// Unicode character classes with the exact definitions the Hugging Face
// tokenizers library (Rust) uses, backed by utf8proc's tables.
#pragma once

#include <string>

namespace snapformer::unicode {

// Rust char::is_whitespace (the White_Space property). Includes \t \n \r.
bool is_whitespace(char32_t c);
// BertNormalizer's "control": general category Cc, Cf, Co (and not \t \n \r).
bool is_control(char32_t c);
// BertPreTokenizer's punctuation: ASCII punctuation or categories P*.
bool is_bert_punctuation(char32_t c);
// The CJK ideograph blocks BertNormalizer surrounds with spaces.
bool is_chinese_char(char32_t c);
bool is_letter(char32_t c);          // \p{L}
bool is_number(char32_t c);          // \p{N}
bool is_nonspacing_mark(char32_t c); // Mn, removed by StripAccents

// Full lowercase mapping of one character (Rust char::to_lowercase), appended to `out`.
void append_lowercase(char32_t c, std::u32string& out);
// Canonical decomposition of one character, appended to `out` (no reordering).
void append_canonical_decomposition(char32_t c, std::u32string& out);
// Canonical combining class (0 for starters).
int combining_class(char32_t c);

}  // namespace snapformer::unicode
