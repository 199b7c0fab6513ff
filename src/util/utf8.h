// UTF-8 decoding, encoding and validation.
//
// Code points are char32_t. Validation follows the Unicode standard: overlong
// forms, surrogates and values above U+10FFFF are invalid.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace snapformer::utf8 {

// Returns the byte offset of the first invalid sequence, or npos if `text` is valid UTF-8.
std::size_t find_invalid(std::string_view text);
inline bool is_valid(std::string_view text) { return find_invalid(text) == std::string_view::npos; }

// Decodes valid UTF-8 (call is_valid first; invalid bytes decode as U+FFFD).
// If `byte_starts` is given it receives the byte offset of every code point.
std::u32string decode(std::string_view text, std::vector<std::size_t>* byte_starts = nullptr);

void append(std::string& out, char32_t code_point);
std::string encode(std::u32string_view code_points);

// Decodes arbitrary bytes, replacing each maximal invalid subpart with U+FFFD
// (the W3C/Unicode "substitution of maximal subparts" rule, as Rust's
// String::from_utf8_lossy does).
std::string decode_lossy(std::string_view bytes);

}  // namespace snapformer::utf8
