// NormalizedText: text after normalization, with the position in the
// original text that every character came from, so that token offsets can
// always be reported against what the user sent.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace snapformer {

struct NormalizedText {
  std::u32string chars;
  std::vector<uint32_t> origin;  // origin[i]: index of the original code point chars[i] came from

  static NormalizedText identity(std::u32string_view original, uint32_t first_index = 0) {
    NormalizedText text;
    text.chars.assign(original.begin(), original.end());
    text.origin.resize(original.size());
    for (std::size_t i = 0; i < original.size(); ++i) text.origin[i] = first_index + static_cast<uint32_t>(i);
    return text;
  }
  void push(char32_t c, uint32_t from) {
    chars.push_back(c);
    origin.push_back(from);
  }
};

// A half-open range of original code point offsets.
struct Offsets {
  uint32_t begin = 0;
  uint32_t end = 0;
  bool operator==(const Offsets&) const = default;
};

}  // namespace snapformer
