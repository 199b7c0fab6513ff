// CachedResponse: an HTTP answer kept by the response cache, and its compact
// binary encoding for a shared store (Redis).
//
// Encoding (all integers little-endian):
//   "SFRC" | version u8 (= 1) | key length u32 | key | status u16 |
//   content-type length u8 | content type | body length u32 | body
// The full cache key is stored inside the value so that a reader can reject a
// value written for another key (a hash collision or a foreign writer).
// decode() returns nullopt for anything that is not exactly such a value
// (other version, truncated, trailing bytes, other key): never throws.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace snapformer {

struct CachedResponse {
  int status = 200;
  std::string content_type;
  std::string body;

  std::size_t bytes() const { return sizeof(CachedResponse) + content_type.size() + body.size(); }
};

std::string encode_cached_response(const std::string& key, const CachedResponse& response);
std::optional<CachedResponse> decode_cached_response(std::string_view value, const std::string& key);

// A fixed-length name for `key` in a shared store: "snapformer:v1:" + 32 hex
// digits of a 128-bit hash (two independent 64-bit hashes of the key).
std::string store_key(const std::string& key);

}  // namespace snapformer
