// Normalizers from tokenizer.json: BertNormalizer, Lowercase, NFD,
// StripAccents and Sequence of them. Each rewrites a NormalizedText and keeps
// the origin of every character.
//
// Thread-safety: immutable after construction; normalize() is const.
#pragma once

#include <memory>
#include <vector>

#include "tokenizers/normalized_text.h"
#include "util/json_file.h"

namespace snapformer {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual void normalize(NormalizedText& text) const = 0;
};

// Builds the normalizer described by tokenizer.json's "normalizer" (null -> nullptr).
// Throws Error naming the unsupported type.
std::unique_ptr<Normalizer> make_normalizer(const Json& spec, const std::string& where);

// BERT's normalizer with explicit options (used when a folder has only vocab.txt).
std::unique_ptr<Normalizer> make_bert_normalizer(bool clean_text, bool handle_chinese_chars, bool strip_accents,
                                                 bool lowercase);

}  // namespace snapformer
