// Vocabulary: token string <-> id, shared by the tokenizer models.
//
// Built once at load (50k entries for GPT-2), then read-only. Lookups are an
// open-addressing hash table over string views of tokens the Vocabulary owns,
// because loading time is part of every process start.
// Thread-safety: find()/token() are const and safe to call concurrently.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace snapformer {

class Vocabulary {
 public:
  // Maps `token` to `id` (a later add of the same token wins) and `id` to `token`.
  void add(std::string_view token, int32_t id);
  std::optional<int32_t> find(std::string_view token) const;
  // The token of `id`; empty for ids without a token.
  std::string_view token(int32_t id) const {
    return id >= 0 && static_cast<std::size_t>(id) < id_to_token_.size() ? id_to_token_[static_cast<std::size_t>(id)]
                                                                          : std::string_view();
  }
  std::size_t size() const { return id_to_token_.size(); }
  void reserve(std::size_t tokens);

 private:
  struct Slot {
    uint32_t hash = 0;
    int32_t id = -1;  // -1: empty
    std::string_view token;
  };
  static uint32_t hash_of(std::string_view token);
  void grow();

  std::deque<std::string> storage_;  // deque: elements never move, so views stay valid
  std::vector<std::string_view> id_to_token_;
  std::vector<Slot> slots_;  // capacity is a power of two, at most half full
  std::size_t used_ = 0;
};

}  // namespace snapformer
