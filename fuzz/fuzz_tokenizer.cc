// libFuzzer target: every tokenizer (WordPiece and byte-level BPE) must
// handle any byte string: invalid UTF-8 is an Error, anything else encodes
// with offsets inside the text and decodes without crashing.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tokenizers/tokenizer.h"
#include "util/error.h"
#include "util/utf8.h"

namespace {

const std::vector<std::shared_ptr<const snapformer::Tokenizer>>& tokenizers() {
  static const auto all = [] {
    std::vector<std::shared_ptr<const snapformer::Tokenizer>> out;
    for (const char* name : {"bert-base-uncased", "bert-base-cased", "gpt2", "roberta-base"})
      out.push_back(snapformer::Tokenizer::from_folder(std::string(SNAPFORMER_TEST_DATA) + "/reference/tokenizers/" + name));
    return out;
  }();
  return all;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const bool valid = snapformer::utf8::is_valid(text);
  const std::size_t characters = valid ? snapformer::utf8::decode(text).size() : 0;
  for (const auto& tokenizer : tokenizers()) {
    try {
      const snapformer::Encoding e = tokenizer->encode(text);
      if (!valid) __builtin_trap();
      for (const auto& o : e.offsets)
        if (o.begin > o.end || o.end > characters) __builtin_trap();
      (void)tokenizer->decode(e.ids, true);
      const std::size_t half = size / 2;
      (void)tokenizer->encode_pair(text.substr(0, half), text.substr(half), true, 16);
    } catch (const snapformer::Error&) {
      // invalid UTF-8, or a split point inside a character
    }
  }
  return 0;
}
