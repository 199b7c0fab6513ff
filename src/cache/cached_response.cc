#include "cache/cached_response.h"

#include <cstring>

namespace snapformer {

namespace {

constexpr char kMagic[4] = {'S', 'F', 'R', 'C'};
constexpr std::uint8_t kVersion = 1;

void put_uint(std::string& out, std::uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

// Reads little-endian integers and byte runs, failing (not throwing) past the end.
class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}
  bool uint(int bytes, std::uint64_t& value) {
    if (data_.size() - at_ < static_cast<std::size_t>(bytes)) return false;
    value = 0;
    for (int i = 0; i < bytes; ++i) value |= static_cast<std::uint64_t>(static_cast<unsigned char>(data_[at_ + i])) << (8 * i);
    at_ += static_cast<std::size_t>(bytes);
    return true;
  }
  bool bytes(std::size_t count, std::string_view& out) {
    if (data_.size() - at_ < count) return false;
    out = data_.substr(at_, count);
    at_ += count;
    return true;
  }
  bool done() const { return at_ == data_.size(); }

 private:
  std::string_view data_;
  std::size_t at_ = 0;
};

std::uint64_t fnv1a(const std::string& text, std::uint64_t seed) {
  std::uint64_t hash = 1469598103934665603ull ^ seed;
  for (unsigned char c : text) hash = (hash ^ c) * 1099511628211ull;
  // Final avalanche (splitmix64) so that similar keys differ in every digit.
  hash ^= hash >> 30;
  hash *= 0xbf58476d1ce4e5b9ull;
  hash ^= hash >> 27;
  hash *= 0x94d049bb133111ebull;
  return hash ^ (hash >> 31);
}

}  // namespace

std::string encode_cached_response(const std::string& key, const CachedResponse& response) {
  std::string out;
  out.reserve(16 + key.size() + response.content_type.size() + response.body.size());
  out.append(kMagic, 4);
  put_uint(out, kVersion, 1);
  put_uint(out, key.size(), 4);
  out += key;
  put_uint(out, static_cast<std::uint64_t>(response.status), 2);
  const std::size_t type_length = std::min<std::size_t>(response.content_type.size(), 255);
  put_uint(out, type_length, 1);
  out.append(response.content_type, 0, type_length);
  put_uint(out, response.body.size(), 4);
  out += response.body;
  return out;
}

std::optional<CachedResponse> decode_cached_response(std::string_view value, const std::string& key) {
  Reader reader(value);
  std::string_view magic, stored_key, content_type, body;
  std::uint64_t version = 0, key_length = 0, status = 0, type_length = 0, body_length = 0;
  if (!reader.bytes(4, magic) || std::memcmp(magic.data(), kMagic, 4) != 0) return std::nullopt;
  if (!reader.uint(1, version) || version != kVersion) return std::nullopt;
  if (!reader.uint(4, key_length) || !reader.bytes(key_length, stored_key) || stored_key != key) return std::nullopt;
  if (!reader.uint(2, status) || status < 100 || status > 599) return std::nullopt;
  if (!reader.uint(1, type_length) || !reader.bytes(type_length, content_type)) return std::nullopt;
  if (!reader.uint(4, body_length) || !reader.bytes(body_length, body) || !reader.done()) return std::nullopt;
  return CachedResponse{static_cast<int>(status), std::string(content_type), std::string(body)};
}

std::string store_key(const std::string& key) {
  static const char* kHex = "0123456789abcdef";
  std::string out = "snapformer:v1:";
  for (std::uint64_t part : {fnv1a(key, 0), fnv1a(key, 0x9e3779b97f4a7c15ull)})
    for (int shift = 60; shift >= 0; shift -= 4) out.push_back(kHex[(part >> shift) & 0xf]);
  return out;
}

}  // namespace snapformer
