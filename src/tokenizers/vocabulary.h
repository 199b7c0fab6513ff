// Vocabulary: token string <-> id, shared by the tokenizer models.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace snapformer {

class Vocabulary {
 public:
  void add(const std::string& token, int32_t id) {
    token_to_id_[token] = id;
    if (id >= static_cast<int32_t>(id_to_token_.size())) id_to_token_.resize(static_cast<std::size_t>(id) + 1);
    id_to_token_[static_cast<std::size_t>(id)] = token;
  }
  std::optional<int32_t> find(const std::string& token) const {
    auto it = token_to_id_.find(token);
    if (it == token_to_id_.end()) return std::nullopt;
    return it->second;
  }
  // Empty string for ids without a token.
  const std::string& token(int32_t id) const {
    static const std::string kEmpty;
    return id >= 0 && static_cast<std::size_t>(id) < id_to_token_.size() ? id_to_token_[static_cast<std::size_t>(id)] : kEmpty;
  }
  std::size_t size() const { return id_to_token_.size(); }

 private:
  std::unordered_map<std::string, int32_t> token_to_id_;
  std::vector<std::string> id_to_token_;
};

}  // namespace snapformer
