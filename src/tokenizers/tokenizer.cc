#include "tokenizers/tokenizer.h"

#include <algorithm>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tokenizers/unicode.h"
#include "util/error.h"
#include "util/utf8.h"

namespace snapformer {
namespace fs = std::filesystem;
namespace {

Vocabulary vocabulary_from_object(const Json& vocab, const std::string& where) {
  if (!vocab.is_object()) throw Error(where + ": model.vocab must be an object of token -> id");
  Vocabulary out;
  out.reserve(vocab.size());
  for (const auto& [token, id] : vocab.items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > 10'000'000)
      throw Error(where + ": model.vocab id of '" + token + "' must be a non-negative integer");
    out.add(token, id.get<int32_t>());
  }
  return out;
}

// Fills `storage` with the merge strings and returns views into it.
MergeList merges_from_json(const Json& merges, const std::string& where, std::deque<std::string>& storage) {
  if (!merges.is_array()) throw Error(where + ": model.merges must be an array");
  MergeList out;
  out.reserve(merges.size());
  for (const auto& merge : merges) {
    if (merge.is_string()) {  // "left right"
      const std::string& text = storage.emplace_back(merge.get<std::string>());
      const auto space = text.find(' ');
      if (space == std::string::npos || space == 0 || space + 1 >= text.size())
        throw Error(where + ": merge '" + text + "' is not two tokens separated by a space");
      const std::string_view view(text);
      out.emplace_back(view.substr(0, space), view.substr(space + 1));
    } else if (merge.is_array() && merge.size() == 2 && merge[0].is_string() && merge[1].is_string()) {
      out.emplace_back(storage.emplace_back(merge[0].get<std::string>()), storage.emplace_back(merge[1].get<std::string>()));
    } else {
      throw Error(where + ": model.merges entries must be \"a b\" strings or [a, b] pairs");
    }
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> read_merges_txt(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error(path + ": cannot open");
  std::vector<std::pair<std::string, std::string>> out;
  std::string line;
  bool first = true;
  while (std::getline(in, line)) {
    if (first && line.rfind("#version", 0) == 0) {
      first = false;
      continue;
    }
    first = false;
    if (line.empty()) continue;
    const auto space = line.find(' ');
    if (space == std::string::npos) throw Error(path + ": line '" + line + "' is not a merge");
    out.emplace_back(line.substr(0, space), line.substr(space + 1));
  }
  return out;
}

std::string string_field(const Json& object, const char* field, const std::string& fallback) {
  return object.contains(field) && object[field].is_string() ? object[field].get<std::string>() : fallback;
}

// "[CLS]" from a BertProcessing/RobertaProcessing ["[CLS]", 101] pair.
std::pair<std::string, int32_t> token_pair(const Json& spec, const char* field, const std::string& where) {
  if (!spec.contains(field) || !spec[field].is_array() || spec[field].size() != 2 || !spec[field][0].is_string() ||
      !spec[field][1].is_number_integer())
    throw Error(where + ": post_processor." + field + " must be [token, id]");
  return {spec[field][0].get<std::string>(), spec[field][1].get<int32_t>()};
}

}  // namespace

std::shared_ptr<const Tokenizer> Tokenizer::from_json(const Json& json_in, const std::string& where) {
  if (!json_in.is_object()) throw Error(where + ": not a JSON object");
  if (!json_in.contains("model") || !json_in["model"].is_object()) throw Error(where + ": missing 'model' object");
  Json json = json_in;
  ModelTables tables;
  Json& model = json["model"];
  if (model.contains("vocab")) {
    tables.has_vocab = true;
    tables.vocabulary = vocabulary_from_object(model["vocab"], where);
    model.erase("vocab");
  }
  if (model.contains("merges")) {
    tables.has_merges = true;
    tables.merges = merges_from_json(model["merges"], where, tables.merge_storage);
    model.erase("merges");
  }
  return build(json, std::move(tables), where);
}

std::shared_ptr<const Tokenizer> Tokenizer::build(const Json& json, ModelTables tables, const std::string& where) {
  if (!json.is_object()) throw Error(where + ": not a JSON object");
  if (!json.contains("model") || !json["model"].is_object()) throw Error(where + ": missing 'model' object");
  std::shared_ptr<Tokenizer> tokenizer(new Tokenizer());
  const Json& model = json["model"];
  // The hub's files often omit model.type: infer it from the fields present.
  std::string type = string_field(model, "type", "");
  if (type.empty()) type = tables.has_merges ? "BPE" : tables.has_vocab ? "WordPiece" : "";
  if ((type == "WordPiece" || type == "BPE") && !tables.has_vocab) throw Error(where + ": model.vocab is missing");
  if (type == "WordPiece") {
    const Json max_chars = model.value("max_input_chars_per_word", Json(100));
    if (!max_chars.is_number_integer() || max_chars.get<int64_t>() <= 0) throw Error(where + ": model.max_input_chars_per_word must be a positive integer");
    tokenizer->model_ = std::make_unique<WordPieceModel>(std::move(tables.vocabulary), string_field(model, "unk_token", "[UNK]"),
                                                         string_field(model, "continuing_subword_prefix", "##"),
                                                         max_chars.get<std::size_t>());
  } else if (type == "BPE") {
    tokenizer->model_ = std::make_unique<ByteLevelBpeModel>(std::move(tables.vocabulary), tables.merges, where);
  } else {
    throw Error(where + ": unsupported tokenizer model type '" + (type.empty() ? "unknown" : type) + "'");
  }

  if (json.contains("added_tokens")) {
    if (!json["added_tokens"].is_array()) throw Error(where + ": added_tokens must be an array");
    for (const auto& entry : json["added_tokens"]) {
      if (!entry.is_object() || !entry.contains("content") || !entry["content"].is_string() || !entry.contains("id") ||
          !entry["id"].is_number_integer() || entry["id"].get<int64_t>() < 0)
        throw Error(where + ": added_tokens entries need 'id' and 'content'");
      AddedToken token;
      token.content = entry["content"].get<std::string>();
      if (token.content.empty() || !utf8::is_valid(token.content)) throw Error(where + ": added token content is empty or invalid UTF-8");
      token.id = entry["id"].get<int32_t>();
      token.special = entry.value("special", false);
      token.lstrip = entry.value("lstrip", false);
      token.rstrip = entry.value("rstrip", false);
      tokenizer->added_tokens_.push_back(token);
    }
  }

  tokenizer->normalizer_ = make_normalizer(json.value("normalizer", Json()), where);
  tokenizer->pre_tokenizer_ = make_pre_tokenizer(json.value("pre_tokenizer", Json()), where);

  const Json post = json.value("post_processor", Json());
  const std::string post_type = post.is_object() ? string_field(post, "type", "") : "";
  auto special = [](const std::string& token, int32_t id, int32_t type_id) {
    return TemplatePiece{false, 0, token, id, type_id};
  };
  auto sequence = [](int which, int32_t type_id) { return TemplatePiece{true, which, "", 0, type_id}; };
  if (post_type == "TemplateProcessing") {
    const Json& specials = post.value("special_tokens", Json::object());
    auto parse_template = [&](const char* field) {
      std::vector<TemplatePiece> pieces;
      if (!post.contains(field) || !post[field].is_array()) throw Error(where + ": post_processor." + field + " missing");
      for (const auto& piece : post[field]) {
        if (piece.contains("Sequence")) {
          const Json& s = piece["Sequence"];
          pieces.push_back(sequence(string_field(s, "id", "A") == "B" ? 1 : 0, s.value("type_id", 0)));
        } else if (piece.contains("SpecialToken")) {
          const Json& s = piece["SpecialToken"];
          const std::string name = string_field(s, "id", "");
          if (!specials.contains(name) || !specials[name].contains("ids") || !specials[name]["ids"].is_array() ||
              specials[name]["ids"].size() != 1)
            throw Error(where + ": post_processor special token '" + name + "' is not defined");
          pieces.push_back(special(name, specials[name]["ids"][0].get<int32_t>(), s.value("type_id", 0)));
        } else {
          throw Error(where + ": post_processor." + field + " has an unknown piece");
        }
      }
      return pieces;
    };
    tokenizer->single_template_ = parse_template("single");
    tokenizer->pair_template_ = parse_template("pair");
  } else if (post_type == "BertProcessing" || post_type == "RobertaProcessing") {
    const auto [cls, cls_id] = token_pair(post, "cls", where);
    const auto [sep, sep_id] = token_pair(post, "sep", where);
    const bool roberta = post_type == "RobertaProcessing";
    tokenizer->single_template_ = {special(cls, cls_id, 0), sequence(0, 0), special(sep, sep_id, 0)};
    if (roberta) {
      tokenizer->pair_template_ = {special(cls, cls_id, 0), sequence(0, 0), special(sep, sep_id, 0),
                                   special(sep, sep_id, 0), sequence(1, 0), special(sep, sep_id, 0)};
      tokenizer->trim_offsets_ = post.value("trim_offsets", true);
    } else {
      tokenizer->pair_template_ = {special(cls, cls_id, 0), sequence(0, 0), special(sep, sep_id, 0),
                                   sequence(1, 1), special(sep, sep_id, 1)};
    }
  } else if (post_type == "ByteLevel") {
    tokenizer->trim_offsets_ = post.value("trim_offsets", false);
  } else if (!post_type.empty()) {
    throw Error(where + ": unsupported post_processor type '" + post_type + "'");
  }

  const Json decoder = json.value("decoder", Json());
  const std::string decoder_type = decoder.is_object() ? string_field(decoder, "type", "") : "";
  if (decoder_type == "WordPiece") {
    tokenizer->decoder_ = DecoderKind::kWordPiece;
    tokenizer->decoder_prefix_ = string_field(decoder, "prefix", "##");
    tokenizer->decoder_cleanup_ = decoder.value("cleanup", true);
  } else if (decoder_type == "ByteLevel") {
    tokenizer->decoder_ = DecoderKind::kByteLevel;
  } else if (decoder_type.empty()) {
    tokenizer->decoder_ = type == "BPE" ? DecoderKind::kByteLevel : DecoderKind::kWordPiece;
  } else {
    throw Error(where + ": unsupported decoder type '" + decoder_type + "'");
  }
  tokenizer->finish_loading(where);
  return tokenizer;
}

void Tokenizer::finish_loading(const std::string& where) {
  Vocabulary& vocabulary = model_->mutable_vocabulary();
  for (const AddedToken& token : added_tokens_)
    if (!vocabulary.find(token.content) || vocabulary.token(token.id) != token.content) vocabulary.add(token.content, token.id);
  special_ids_.assign(vocabulary.size(), 0);
  for (const AddedToken& token : added_tokens_)
    if (token.special) special_ids_[static_cast<std::size_t>(token.id)] = 1;
  for (auto* pieces : {&single_template_, &pair_template_})
    for (const TemplatePiece& piece : *pieces)
      if (!piece.is_sequence && (piece.id < 0 || static_cast<std::size_t>(piece.id) >= vocabulary.size()))
        throw Error(where + ": post_processor token '" + piece.token + "' has an id outside the vocabulary");
  for (AddedToken& token : added_tokens_) token.characters = utf8::decode(token.content);
  std::stable_sort(added_tokens_.begin(), added_tokens_.end(),
                   [](const AddedToken& a, const AddedToken& b) { return a.content.size() > b.content.size(); });
  for (const char* name : {"[MASK]", "<mask>"})
    if (auto id = vocabulary.find(name)) mask_id_ = id;
  for (const char* name : {"[PAD]", "<pad>"})
    if (auto id = vocabulary.find(name)) pad_id_ = id;
}

std::shared_ptr<const Tokenizer> Tokenizer::from_folder(const std::string& directory) {
  const fs::path dir(directory);
  if (fs::exists(dir / "tokenizer.json")) return load_tokenizer_json((dir / "tokenizer.json").string());
  Json config = Json::object();
  if (fs::exists(dir / "tokenizer_config.json")) config = read_json_file((dir / "tokenizer_config.json").string());
  Json json = Json::object();
  if (fs::exists(dir / "vocab.txt")) {
    // A BERT WordPiece folder: one token per line, the id is the line number.
    const std::string path = (dir / "vocab.txt").string();
    std::ifstream in(path);
    if (!in) throw Error(path + ": cannot open");
    Json vocab = Json::object();
    std::string line;
    int32_t id = 0;
    while (std::getline(in, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (!vocab.contains(line)) vocab[line] = id;
      ++id;
    }
    const bool lower = config.value("do_lower_case", true);
    json["model"] = {{"type", "WordPiece"}, {"vocab", vocab}, {"unk_token", "[UNK]"}};
    json["normalizer"] = {{"type", "BertNormalizer"}, {"lowercase", lower}};
    json["pre_tokenizer"] = {{"type", "BertPreTokenizer"}};
    json["added_tokens"] = Json::array();
    for (const char* name : {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"})
      if (vocab.contains(name)) json["added_tokens"].push_back({{"id", vocab[name]}, {"content", name}, {"special", true}});
    if (!vocab.contains("[CLS]") || !vocab.contains("[SEP]")) throw Error(path + ": vocabulary lacks [CLS] or [SEP]");
    json["post_processor"] = {{"type", "BertProcessing"}, {"cls", {"[CLS]", vocab["[CLS]"]}}, {"sep", {"[SEP]", vocab["[SEP]"]}}};
    json["decoder"] = {{"type", "WordPiece"}};
    return from_json(json, path);
  }
  if (fs::exists(dir / "vocab.json") && fs::exists(dir / "merges.txt")) {
    const std::string path = (dir / "vocab.json").string();
    Json vocab = read_json_file(path);
    Json merges = Json::array();
    for (const auto& [left, right] : read_merges_txt((dir / "merges.txt").string())) merges.push_back(left + " " + right);
    json["model"] = {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}};
    json["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", false}};
    json["decoder"] = {{"type", "ByteLevel"}};
    json["added_tokens"] = Json::array();
    const bool roberta = vocab.contains("<s>") && vocab.contains("</s>");
    if (roberta) {
      for (const char* name : {"<s>", "<pad>", "</s>", "<unk>", "<mask>"})
        if (vocab.contains(name))
          json["added_tokens"].push_back(
              {{"id", vocab[name]}, {"content", name}, {"special", true}, {"lstrip", std::string(name) == "<mask>"}});
      json["post_processor"] = {{"type", "RobertaProcessing"}, {"cls", {"<s>", vocab["<s>"]}}, {"sep", {"</s>", vocab["</s>"]}}};
    } else {
      if (vocab.contains("<|endoftext|>"))
        json["added_tokens"].push_back({{"id", vocab["<|endoftext|>"]}, {"content", "<|endoftext|>"}, {"special", true}});
      json["post_processor"] = {{"type", "ByteLevel"}, {"trim_offsets", false}};
    }
    return from_json(json, path);
  }
  throw Error(directory + ": no tokenizer.json, vocab.txt or vocab.json + merges.txt");
}

std::size_t encoding_bytes(const Encoding& encoding) {
  std::size_t bytes = sizeof(Encoding) + encoding.size() * (4 + sizeof(std::string) + sizeof(Offsets) + 4 + 1 + 2);
  for (const std::string& token : encoding.tokens) bytes += token.capacity() > 15 ? token.capacity() : 0;
  return bytes;
}

Encoding Tokenizer::encode_sequence(const std::string& text, int8_t sequence) const {
  if (!cache_) return encode_sequence_uncached(text, sequence);
  // This tokenizer's identity, the sequence (0/1: type ids differ), the text.
  std::string key(sizeof(this) + 1, '\0');
  const Tokenizer* self = this;
  std::memcpy(key.data(), &self, sizeof self);
  key[sizeof self] = static_cast<char>('0' + sequence);
  key += text;
  if (auto cached = cache_->get(key)) return std::move(*cached);
  Encoding encoding = encode_sequence_uncached(text, sequence);
  cache_->put(key, encoding);
  return encoding;
}

Encoding Tokenizer::encode_sequence_uncached(const std::string& text, int8_t sequence) const {
  const std::size_t bad = utf8::find_invalid(text);
  if (bad != std::string::npos) throw Error("input is not valid UTF-8 (byte " + std::to_string(bad) + ")");
  const std::u32string chars = utf8::decode(text);
  const std::size_t n = chars.size();
  Encoding encoding;
  std::vector<WordRange> words;
  std::vector<WordToken> word_tokens;
  const Vocabulary& vocabulary = model_->vocabulary();

  auto encode_segment = [&](std::size_t begin, std::size_t end) {
    if (begin >= end) return;
    NormalizedText normalized = NormalizedText::identity(std::u32string_view(chars).substr(begin, end - begin),
                                                         static_cast<uint32_t>(begin));
    if (normalizer_) normalizer_->normalize(normalized);
    words.clear();
    pre_tokenizer_.split(normalized, 0, normalized.chars.size(), words);
    for (const auto& [word_begin, word_end] : words) {
      word_tokens.clear();
      model_->tokenize(std::u32string_view(normalized.chars).substr(word_begin, word_end - word_begin), word_tokens);
      for (const WordToken& t : word_tokens) {
        const Offsets offsets{normalized.origin[word_begin + t.begin], normalized.origin[word_begin + t.end - 1] + 1};
        encoding.push(t.id, std::string(vocabulary.token(t.id)), offsets, 0, sequence, false);
      }
    }
  };

  // Added tokens are matched in the raw text, leftmost first, longest first.
  std::size_t segment_start = 0, i = 0;
  while (i < n) {
    const AddedToken* match = nullptr;
    std::size_t match_length = 0;
    for (const AddedToken& token : added_tokens_) {
      const std::u32string& c = token.characters;
      if (c.size() <= n - i && std::u32string_view(chars).substr(i, c.size()) == c) {
        match = &token;
        match_length = c.size();
        break;
      }
    }
    if (match == nullptr) {
      ++i;
      continue;
    }
    std::size_t begin = i, end = i + match_length;
    if (match->lstrip)
      while (begin > segment_start && unicode::is_whitespace(chars[begin - 1])) --begin;
    if (match->rstrip)
      while (end < n && unicode::is_whitespace(chars[end])) ++end;
    encode_segment(segment_start, begin);
    encoding.push(match->id, match->content, Offsets{static_cast<uint32_t>(begin), static_cast<uint32_t>(end)}, 0,
                  sequence, false);
    segment_start = i = end;
  }
  encode_segment(segment_start, n);
  return encoding;
}

void Tokenizer::trim_byte_level_offsets(Encoding& encoding) const {
  static const std::string space = utf8::encode(std::u32string(1, byte_to_unicode(' ')));  // "Ġ"
  for (std::size_t i = 0; i < encoding.size(); ++i) {
    const std::string& token = encoding.tokens[i];
    std::size_t leading = 0, trailing = 0;
    while (token.compare(leading * space.size(), space.size(), space) == 0 && (leading + 1) * space.size() <= token.size())
      ++leading;
    while ((trailing + 1) * space.size() <= token.size() &&
           token.compare(token.size() - (trailing + 1) * space.size(), space.size(), space) == 0)
      ++trailing;
    Offsets& o = encoding.offsets[i];
    if (leading > 0) o.begin = std::min<uint32_t>(o.begin + static_cast<uint32_t>(leading), o.end);
    if (trailing > 0 && o.end >= trailing) o.end = std::max<uint32_t>(o.end - static_cast<uint32_t>(trailing), o.begin);
  }
}

Encoding Tokenizer::post_process(Encoding first, const Encoding* second_in, bool add_special_tokens) const {
  Encoding second = second_in ? *second_in : Encoding();
  if (trim_offsets_) {
    trim_byte_level_offsets(first);
    if (second_in) trim_byte_level_offsets(second);
  }
  const auto& pieces = second_in ? pair_template_ : single_template_;
  if (!add_special_tokens || pieces.empty()) {
    if (second_in) {
      for (auto& t : second.type_ids) t = 1;
      first.append(second);
    }
    return first;
  }
  Encoding out;
  for (const TemplatePiece& piece : pieces) {
    if (!piece.is_sequence) {
      out.push(piece.id, piece.token, Offsets{0, 0}, piece.type_id, -1, true);
      continue;
    }
    Encoding part = piece.sequence == 0 ? first : second;
    for (auto& t : part.type_ids) t = piece.type_id;
    out.append(part);
  }
  return out;
}

Encoding Tokenizer::encode(const std::string& text, bool add_special_tokens) const {
  return post_process(encode_sequence(text, 0), nullptr, add_special_tokens);
}

Encoding Tokenizer::encode_truncated(const std::string& text, std::size_t max_length) const {
  Encoding encoding = encode_sequence(text, 0);
  const std::size_t specials = num_special_tokens(false);
  if (max_length < specials) throw Error("max_length " + std::to_string(max_length) + " leaves no room for the text");
  encoding.truncate(max_length - specials);
  return post_process(std::move(encoding), nullptr, true);
}

Encoding Tokenizer::encode_pair(const std::string& first_text, const std::string& second_text, bool add_special_tokens,
                                std::size_t max_length, TruncationStrategy strategy) const {
  Encoding first = encode_sequence(first_text, 0), second = encode_sequence(second_text, 1);
  if (max_length > 0) {
    const std::size_t specials = add_special_tokens ? num_special_tokens(true) : 0;
    if (max_length < specials) throw InputTooLongError("max_length " + std::to_string(max_length) + " leaves no room for the texts");
    const std::size_t budget = max_length - specials;
    std::size_t a = first.size(), b = second.size();
    if (a + b > budget) {
      switch (strategy) {
        case TruncationStrategy::kLongestFirst:
          // Remove one token at a time from the longer text (the second on ties).
          while (a + b > budget) (a > b ? a : b) -= 1;
          break;
        case TruncationStrategy::kOnlyFirst:
          if (b > budget) throw InputTooLongError("the second text alone is longer than max_length " + std::to_string(max_length));
          a = budget - b;
          break;
        case TruncationStrategy::kOnlySecond:
          if (a > budget) throw InputTooLongError("the first text alone is longer than max_length " + std::to_string(max_length));
          b = budget - a;
          break;
      }
    }
    first.truncate(a);
    second.truncate(b);
  }
  return post_process(std::move(first), &second, add_special_tokens);
}

std::size_t Tokenizer::num_special_tokens(bool pair) const {
  std::size_t count = 0;
  for (const TemplatePiece& piece : pair ? pair_template_ : single_template_) count += piece.is_sequence ? 0 : 1;
  return count;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
  std::vector<std::string> tokens;
  for (int32_t id : ids) {
    if (skip_special_tokens && is_special(id)) continue;
    tokens.push_back(std::string(model_->vocabulary().token(id)));
  }
  std::string out;
  if (decoder_ == DecoderKind::kByteLevel) {
    std::string bytes;
    for (const std::string& token : tokens) {
      for (char32_t c : utf8::decode(token)) {
        const int b = unicode_to_byte(c);
        if (b >= 0) bytes.push_back(static_cast<char>(b));
        else utf8::append(bytes, c);
      }
    }
    return utf8::decode_lossy(bytes);
  }
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    std::string token = tokens[i];
    if (i > 0) {
      if (token.rfind(decoder_prefix_, 0) == 0) token.erase(0, decoder_prefix_.size());
      else token.insert(0, " ");
    }
    if (decoder_cleanup_) {
      static const std::pair<const char*, const char*> kCleanup[] = {
          {" .", "."},    {" ?", "?"},     {" !", "!"},   {" ,", ","},   {" ' ", "'"},   {" n't", "n't"},
          {" 'm", "'m"},  {" do not", " don't"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
      for (const auto& [from, to] : kCleanup) {
        const std::string f(from), t(to);
        for (std::size_t pos = token.find(f); pos != std::string::npos; pos = token.find(f, pos + t.size()))
          token.replace(pos, f.size(), t);
      }
    }
    out += token;
  }
  return out;
}

std::optional<int32_t> Tokenizer::token_to_id(const std::string& token) const { return model_->vocabulary().find(token); }
std::string Tokenizer::id_to_token(int32_t id) const { return std::string(model_->vocabulary().token(id)); }
std::size_t Tokenizer::vocab_size() const { return model_->vocabulary().size(); }
bool Tokenizer::is_special(int32_t id) const {
  return id >= 0 && static_cast<std::size_t>(id) < special_ids_.size() && special_ids_[static_cast<std::size_t>(id)] != 0;
}

}  // namespace snapformer
