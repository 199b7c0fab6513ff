#include "tokenizers/vocabulary.h"

namespace snapformer {

uint32_t Vocabulary::hash_of(std::string_view token) {
  uint32_t h = 2166136261u;  // FNV-1a: short keys, no setup cost
  for (unsigned char c : token) h = (h ^ c) * 16777619u;
  return h;
}

void Vocabulary::reserve(std::size_t tokens) {
  std::size_t capacity = 16;
  while (capacity < 2 * tokens) capacity *= 2;
  if (capacity <= slots_.size()) return;
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(capacity, Slot{});
  for (const Slot& s : old) {
    if (s.id < 0) continue;
    std::size_t i = s.hash & (capacity - 1);
    while (slots_[i].id >= 0) i = (i + 1) & (capacity - 1);
    slots_[i] = s;
  }
}

void Vocabulary::grow() { reserve(slots_.empty() ? 8 : slots_.size()); }

void Vocabulary::add(std::string_view token, int32_t id) {
  if (id < 0) return;
  if (2 * (used_ + 1) > slots_.size()) grow();
  const uint32_t h = hash_of(token);
  std::size_t i = h & (slots_.size() - 1);
  while (slots_[i].id >= 0 && !(slots_[i].hash == h && slots_[i].token == token)) i = (i + 1) & (slots_.size() - 1);
  std::string_view stored;
  if (slots_[i].id >= 0) {
    stored = slots_[i].token;
  } else {
    stored = storage_.emplace_back(token);
    slots_[i].hash = h;
    slots_[i].token = stored;
    ++used_;
  }
  slots_[i].id = id;
  if (static_cast<std::size_t>(id) >= id_to_token_.size()) id_to_token_.resize(static_cast<std::size_t>(id) + 1);
  id_to_token_[static_cast<std::size_t>(id)] = stored;
}

std::optional<int32_t> Vocabulary::find(std::string_view token) const {
  if (slots_.empty()) return std::nullopt;
  const uint32_t h = hash_of(token);
  for (std::size_t i = h & (slots_.size() - 1);; i = (i + 1) & (slots_.size() - 1)) {
    const Slot& s = slots_[i];
    if (s.id < 0) return std::nullopt;
    if (s.hash == h && s.token == token) return s.id;
  }
}

}  // namespace snapformer
