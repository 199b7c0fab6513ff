#include <climits>

#include "tokenizers/token_model.h"
#include "util/error.h"
#include "util/utf8.h"

namespace snapformer {
namespace {

struct ByteMap {
  char32_t to_unicode[256];
  std::unordered_map<char32_t, int> to_byte;
  ByteMap() {
    // Printable bytes map to themselves; the other 68 map to U+0100 upwards.
    int next = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      to_unicode[b] = printable ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + next++);
      to_byte[to_unicode[b]] = b;
    }
  }
};

const ByteMap& byte_map() {
  static const ByteMap map;
  return map;
}

}  // namespace

char32_t byte_to_unicode(uint8_t byte) { return byte_map().to_unicode[byte]; }

int unicode_to_byte(char32_t c) {
  const auto& map = byte_map().to_byte;
  auto it = map.find(c);
  return it == map.end() ? -1 : it->second;
}

ByteLevelBpeModel::ByteLevelBpeModel(Vocabulary vocabulary, const MergeList& merges, const std::string& where) {
  vocabulary_ = std::move(vocabulary);
  for (int b = 0; b < 256; ++b) {
    std::string symbol;
    utf8::append(symbol, byte_to_unicode(static_cast<uint8_t>(b)));
    const auto id = vocabulary_.find(symbol);
    byte_ids_[b] = id ? *id : -1;
  }
  int32_t rank = 0;
  merges_.reserve(merges.size());
  std::string merged;
  for (const auto& [left, right] : merges) {
    merged.assign(left).append(right);
    const auto l = vocabulary_.find(left), r = vocabulary_.find(right), m = vocabulary_.find(merged);
    if (!l || !r || !m)
      throw Error(where + ": merge '" + std::string(left) + " " + std::string(right) +
                  "' uses a token missing from the vocabulary");
    merges_.emplace(pair_key(*l, *r), Merge{rank++, *m});  // emplace keeps the first (best) rank
  }
}

void ByteLevelBpeModel::tokenize(std::u32string_view word, std::vector<WordToken>& out) const {
  // One symbol per byte, remembering which character of the word it belongs to.
  struct Symbol {
    int32_t id;
    uint32_t begin, end;  // character range within the word
  };
  std::vector<Symbol> symbols;
  std::string bytes;
  for (uint32_t c = 0; c < word.size(); ++c) {
    bytes.clear();
    utf8::append(bytes, word[c]);
    for (unsigned char b : bytes) {
      if (byte_ids_[b] < 0) continue;  // vocabulary without this byte: drop it (no unk in byte-level BPE)
      symbols.push_back({byte_ids_[b], c, c + 1});
    }
  }
  // Merge the lowest-ranked adjacent pair until none applies. Words are short,
  // so the quadratic scan is cheaper than a heap here.
  while (symbols.size() > 1) {
    int32_t best_rank = INT32_MAX;
    std::size_t best = 0;
    int32_t best_result = -1;
    for (std::size_t i = 0; i + 1 < symbols.size(); ++i) {
      auto it = merges_.find(pair_key(symbols[i].id, symbols[i + 1].id));
      if (it != merges_.end() && it->second.rank < best_rank) {
        best_rank = it->second.rank;
        best = i;
        best_result = it->second.result;
      }
    }
    if (best_result < 0) break;
    symbols[best] = {best_result, symbols[best].begin, symbols[best + 1].end};
    symbols.erase(symbols.begin() + static_cast<std::ptrdiff_t>(best) + 1);
  }
  for (const Symbol& s : symbols) out.push_back({s.id, s.begin, s.end});
}

}  // namespace snapformer
