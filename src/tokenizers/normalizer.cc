#include "tokenizers/normalizer.h"

#include <algorithm>

#include "tokenizers/unicode.h"
#include "util/error.h"

namespace snapformer {
namespace {

// Rewrites every character through `map`, which appends zero or more characters.
template <typename Map>
void rewrite(NormalizedText& text, Map map) {
  NormalizedText out;
  out.chars.reserve(text.chars.size());
  out.origin.reserve(text.chars.size());
  std::u32string produced;
  for (std::size_t i = 0; i < text.chars.size(); ++i) {
    produced.clear();
    map(text.chars[i], produced);
    for (char32_t c : produced) out.push(c, text.origin[i]);
  }
  text = std::move(out);
}

// NFD: decompose every character, then order each run of combining marks by
// canonical combining class (stable), carrying the origins along.
void nfd(NormalizedText& text) {
  rewrite(text, [](char32_t c, std::u32string& out) { unicode::append_canonical_decomposition(c, out); });
  std::size_t i = 0;
  while (i < text.chars.size()) {
    if (unicode::combining_class(text.chars[i]) == 0) {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < text.chars.size() && unicode::combining_class(text.chars[j]) != 0) ++j;
    std::vector<std::pair<char32_t, uint32_t>> run;
    for (std::size_t k = i; k < j; ++k) run.emplace_back(text.chars[k], text.origin[k]);
    std::stable_sort(run.begin(), run.end(), [](const auto& a, const auto& b) {
      return unicode::combining_class(a.first) < unicode::combining_class(b.first);
    });
    for (std::size_t k = i; k < j; ++k) std::tie(text.chars[k], text.origin[k]) = run[k - i];
    i = j;
  }
}

void strip_accents(NormalizedText& text) {
  rewrite(text, [](char32_t c, std::u32string& out) {
    if (!unicode::is_nonspacing_mark(c)) out.push_back(c);
  });
}

void lowercase(NormalizedText& text) {
  rewrite(text, [](char32_t c, std::u32string& out) { unicode::append_lowercase(c, out); });
}

class BertNormalizer final : public Normalizer {
 public:
  BertNormalizer(bool clean_text, bool chinese, bool strip, bool lower)
      : clean_text_(clean_text), chinese_(chinese), strip_accents_(strip), lowercase_(lower) {}

  void normalize(NormalizedText& text) const override {
    if (clean_text_) {
      rewrite(text, [](char32_t c, std::u32string& out) {
        if (c == 0 || c == 0xFFFD || unicode::is_control(c)) return;
        out.push_back(unicode::is_whitespace(c) ? U' ' : c);
      });
    }
    if (chinese_) {
      rewrite(text, [](char32_t c, std::u32string& out) {
        if (unicode::is_chinese_char(c)) {
          out.push_back(U' ');
          out.push_back(c);
          out.push_back(U' ');
        } else {
          out.push_back(c);
        }
      });
    }
    if (strip_accents_) {
      nfd(text);
      strip_accents(text);
    }
    if (lowercase_) lowercase(text);
  }

 private:
  bool clean_text_, chinese_, strip_accents_, lowercase_;
};

class FunctionNormalizer final : public Normalizer {
 public:
  explicit FunctionNormalizer(void (*function)(NormalizedText&)) : function_(function) {}
  void normalize(NormalizedText& text) const override { function_(text); }

 private:
  void (*function_)(NormalizedText&);
};

class SequenceNormalizer final : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> steps) : steps_(std::move(steps)) {}
  void normalize(NormalizedText& text) const override {
    for (const auto& step : steps_) step->normalize(text);
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> steps_;
};

bool bool_or(const Json& spec, const char* field, bool fallback) {
  return spec.contains(field) && spec[field].is_boolean() ? spec[field].get<bool>() : fallback;
}

}  // namespace

std::unique_ptr<Normalizer> make_bert_normalizer(bool clean_text, bool handle_chinese_chars, bool strip, bool lower) {
  return std::make_unique<BertNormalizer>(clean_text, handle_chinese_chars, strip, lower);
}

std::unique_ptr<Normalizer> make_normalizer(const Json& spec, const std::string& where) {
  if (spec.is_null()) return nullptr;
  if (!spec.is_object() || !spec.contains("type") || !spec["type"].is_string())
    throw Error(where + ": normalizer must be an object with a 'type'");
  const std::string type = spec["type"].get<std::string>();
  if (type == "BertNormalizer") {
    const bool lower = bool_or(spec, "lowercase", true);
    // strip_accents: null means "follow lowercase", as in the reference implementation.
    const bool strip = bool_or(spec, "strip_accents", lower);
    return make_bert_normalizer(bool_or(spec, "clean_text", true), bool_or(spec, "handle_chinese_chars", true), strip,
                                lower);
  }
  if (type == "Lowercase") return std::make_unique<FunctionNormalizer>(lowercase);
  if (type == "NFD") return std::make_unique<FunctionNormalizer>(nfd);
  if (type == "StripAccents") return std::make_unique<FunctionNormalizer>(strip_accents);
  if (type == "Sequence") {
    if (!spec.contains("normalizers") || !spec["normalizers"].is_array())
      throw Error(where + ": Sequence normalizer needs 'normalizers'");
    std::vector<std::unique_ptr<Normalizer>> steps;
    for (const auto& step : spec["normalizers"])
      if (auto n = make_normalizer(step, where)) steps.push_back(std::move(n));
    return std::make_unique<SequenceNormalizer>(std::move(steps));
  }
  throw Error(where + ": unsupported normalizer type '" + type + "'");
}

}  // namespace snapformer
