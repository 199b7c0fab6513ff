// Tokenizer: Hugging Face tokenizers rebuilt from tokenizer.json (or from
// vocab.txt / vocab.json + merges.txt when a folder has none).
//
// Pipeline for one text: added/special tokens are matched in the raw text;
// the pieces between them are normalized (keeping every character's origin),
// pre-tokenized into words, and each word is split by the model (WordPiece or
// byte-level BPE); finally the post-processor adds [CLS]/[SEP] or <s>/</s>.
// Offsets are code point offsets into the input text, as the goldens give them.
//
// Thread-safety: immutable after loading; every method is const and may be
// called from many threads at once.
#pragma once

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tokenizers/encoding.h"
#include "tokenizers/normalizer.h"
#include "tokenizers/pre_tokenizer.h"
#include "tokenizers/token_model.h"
#include "util/lru_cache.h"

namespace snapformer {

enum class TruncationStrategy { kLongestFirst, kOnlyFirst, kOnlySecond };

struct AddedToken {
  std::string content;
  std::u32string characters;  // content as code points, for matching
  int32_t id = 0;
  bool special = false;
  bool lstrip = false;  // also absorb whitespace on the left of a match
  bool rstrip = false;  // ... and on the right
};

// Encodings of single texts (before special tokens are added), by text.
using EncodingCache = LruCache<Encoding>;
std::size_t encoding_bytes(const Encoding& encoding);

class Tokenizer {
 public:
  // Loads the tokenizer of a model folder. Throws Error naming the file.
  static std::shared_ptr<const Tokenizer> from_folder(const std::string& directory);
  // Builds from a parsed tokenizer.json; `where` labels errors.
  static std::shared_ptr<const Tokenizer> from_json(const Json& json, const std::string& where);

  // Encodes one text (valid UTF-8; throws Error otherwise).
  Encoding encode(const std::string& text, bool add_special_tokens = true) const;
  // Encodes a text pair; if max_length > 0 the pair is truncated to fit.
  Encoding encode_pair(const std::string& first, const std::string& second, bool add_special_tokens = true,
                       std::size_t max_length = 0,
                       TruncationStrategy strategy = TruncationStrategy::kLongestFirst) const;
  // Encodes one text truncated to max_length tokens (special tokens included).
  Encoding encode_truncated(const std::string& text, std::size_t max_length) const;

  std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens = true) const;

  // Remembers the encoding of every text (each side of a pair separately, so
  // a question-answering context is tokenized once for all its questions).
  // One cache may serve several tokenizers (keys are per tokenizer). Call
  // before the tokenizer is used from several threads; nullptr turns it off.
  void use_cache(std::shared_ptr<EncodingCache> cache) const { cache_ = std::move(cache); }
  const EncodingCache* cache() const { return cache_.get(); }

  std::optional<int32_t> token_to_id(const std::string& token) const;
  std::string id_to_token(int32_t id) const;
  std::size_t vocab_size() const;
  bool is_special(int32_t id) const;
  // Number of special tokens the post-processor adds to a single text or a pair.
  std::size_t num_special_tokens(bool pair) const;

  std::optional<int32_t> mask_token_id() const { return mask_id_; }
  std::optional<int32_t> pad_token_id() const { return pad_id_; }
  bool is_byte_level() const { return pre_tokenizer_.kind == PreTokenizerKind::kByteLevel; }

 private:
  struct TemplatePiece {
    bool is_sequence;   // true: the A or B text; false: a special token
    int sequence;       // 0 (A) or 1 (B) when is_sequence
    std::string token;  // the special token when !is_sequence
    int32_t id = 0;
    int32_t type_id = 0;
  };

  // The two large tables of tokenizer.json, read apart from the rest so the
  // fast loader can fill them straight from the file.
  struct ModelTables {
    bool has_vocab = false, has_merges = false;
    Vocabulary vocabulary;
    MergeList merges;  // views into merge_storage or into the caller's parsed document
    std::deque<std::string> merge_storage;
  };
  // `json` is tokenizer.json without model.vocab and model.merges.
  static std::shared_ptr<const Tokenizer> build(const Json& json, ModelTables tables, const std::string& where);
  static std::shared_ptr<const Tokenizer> load_tokenizer_json(const std::string& path);

  Tokenizer() = default;
  void finish_loading(const std::string& where);
  Encoding encode_sequence(const std::string& text, int8_t sequence) const;
  Encoding encode_sequence_uncached(const std::string& text, int8_t sequence) const;
  Encoding post_process(Encoding first, const Encoding* second, bool add_special_tokens) const;
  void trim_byte_level_offsets(Encoding& encoding) const;

  std::unique_ptr<Normalizer> normalizer_;
  PreTokenizer pre_tokenizer_;
  std::unique_ptr<TokenModel> model_;
  std::vector<AddedToken> added_tokens_;  // longest first, for leftmost-longest matching
  std::vector<TemplatePiece> single_template_, pair_template_;
  mutable std::shared_ptr<EncodingCache> cache_;  // set by use_cache() before sharing
  bool trim_offsets_ = false;  // byte-level: drop leading/trailing spaces from offsets
  enum class DecoderKind { kWordPiece, kByteLevel } decoder_ = DecoderKind::kWordPiece;
  std::string decoder_prefix_ = "##";
  bool decoder_cleanup_ = true;
  std::vector<uint8_t> special_ids_;  // indexed by id
  std::optional<int32_t> mask_id_, pad_id_;
};

}  // namespace snapformer
