// libFuzzer target: values read back from a shared cache (Redis) are
// untrusted bytes. decode_cached_response must return nullopt for anything
// it does not accept, never crash or read out of bounds, and what it accepts
// must encode back to the same bytes.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "cache/cached_response.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view value(reinterpret_cast<const char*>(data), size);
  // The key is read from the value itself, so that valid values are reachable.
  std::string key;
  if (size >= 9) {
    const std::size_t length = static_cast<std::size_t>(data[5]) | static_cast<std::size_t>(data[6]) << 8;
    if (9 + length <= size) key.assign(reinterpret_cast<const char*>(data) + 9, length);
  }
  if (const auto response = snapformer::decode_cached_response(value, key)) {
    if (snapformer::encode_cached_response(key, *response) != value) __builtin_trap();
  }
  return 0;
}
