// Writes a safetensors file (https://huggingface.co/docs/safetensors): an
// 8-byte little-endian header length, the JSON header, then the tensors'
// bytes back to back with no holes, as the format requires.
//
// So that readers can use every tensor in place, the header is padded with
// spaces to 64 bytes and tensors are written in order of decreasing element
// size: each tensor then starts at a multiple of its own element size.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "io/safetensors.h"

namespace snapformer {

struct TensorToWrite {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const void* data = nullptr;  // borrowed until write_safetensors returns
  std::size_t bytes = 0;       // must equal the shape's element count x dtype size
};

// Writes `path` (replacing it). Throws Error naming the path on I/O failure
// or a tensor whose byte count does not match its shape.
void write_safetensors(const std::string& path, std::vector<TensorToWrite> tensors,
                       const std::map<std::string, std::string>& metadata);

}  // namespace snapformer
