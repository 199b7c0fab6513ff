// libFuzzer target: the safetensors header parser must reject any byte
// string with snapformer::Error, never crash, hang or read out of bounds.
#include <cstddef>
#include <cstdint>

#include "io/safetensors.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const auto header = snapformer::parse_safetensors_header(data, size, "fuzz");
    // Every accepted tensor must lie inside the buffer.
    for (const auto& [name, info] : header.tensors)
      if (header.data_start + info.end > size) __builtin_trap();
  } catch (const snapformer::Error&) {
  }
  return 0;
}
