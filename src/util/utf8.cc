#include "util/utf8.h"

namespace snapformer::utf8 {
namespace {

// Length of the valid sequence starting at text[i], or 0 if none; when 0,
// `maximal_subpart` receives how many bytes form the maximal invalid subpart (>= 1).
std::size_t valid_sequence_length(std::string_view text, std::size_t i, std::size_t& maximal_subpart,
                                  char32_t& code_point) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char lead = byte(i);
  maximal_subpart = 1;
  if (lead < 0x80) {
    code_point = lead;
    return 1;
  }
  std::size_t length = 0;
  unsigned char low = 0x80, high = 0xBF;  // allowed range of the second byte
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead == 0xE0) {
    length = 3, low = 0xA0;
  } else if ((lead >= 0xE1 && lead <= 0xEC) || lead == 0xEE || lead == 0xEF) {
    length = 3;
  } else if (lead == 0xED) {
    length = 3, high = 0x9F;  // no surrogates
  } else if (lead == 0xF0) {
    length = 4, low = 0x90;
  } else if (lead >= 0xF1 && lead <= 0xF3) {
    length = 4;
  } else if (lead == 0xF4) {
    length = 4, high = 0x8F;
  } else {
    return 0;
  }
  code_point = lead & (length == 2 ? 0x1F : length == 3 ? 0x0F : 0x07);
  for (std::size_t k = 1; k < length; ++k) {
    if (i + k >= text.size()) return 0;
    const unsigned char b = byte(i + k);
    const unsigned char lo = k == 1 ? low : 0x80, hi = k == 1 ? high : 0xBF;
    if (b < lo || b > hi) return 0;
    code_point = (code_point << 6) | (b & 0x3F);
    maximal_subpart = k + 1;
  }
  return length;
}

}  // namespace

std::size_t find_invalid(std::string_view text) {
  std::size_t i = 0, subpart = 0;
  char32_t cp = 0;
  while (i < text.size()) {
    const std::size_t n = valid_sequence_length(text, i, subpart, cp);
    if (n == 0) return i;
    i += n;
  }
  return std::string_view::npos;
}

std::u32string decode(std::string_view text, std::vector<std::size_t>* byte_starts) {
  std::u32string out;
  out.reserve(text.size());
  if (byte_starts) byte_starts->clear();
  std::size_t i = 0, subpart = 0;
  while (i < text.size()) {
    char32_t cp = 0;
    const std::size_t n = valid_sequence_length(text, i, subpart, cp);
    if (byte_starts) byte_starts->push_back(i);
    if (n == 0) {
      out.push_back(0xFFFD);
      i += subpart;
    } else {
      out.push_back(cp);
      i += n;
    }
  }
  return out;
}

void append(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::string encode(std::u32string_view code_points) {
  std::string out;
  out.reserve(code_points.size());
  for (char32_t cp : code_points) append(out, cp);
  return out;
}

std::string decode_lossy(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  std::size_t i = 0, subpart = 0;
  while (i < bytes.size()) {
    char32_t cp = 0;
    const std::size_t n = valid_sequence_length(bytes, i, subpart, cp);
    if (n == 0) {
      append(out, 0xFFFD);
      i += subpart;
    } else {
      out.append(bytes.substr(i, n));
      i += n;
    }
  }
  return out;
}

}  // namespace snapformer::utf8
