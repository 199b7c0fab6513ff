// The safetensors format: an 8-byte little-endian header length N, N bytes of
// JSON describing each tensor (dtype, shape, data_offsets relative to the data
// section), then the data section.
//
// parse_safetensors_header() validates everything a reader relies on before
// any tensor byte is touched: header length within the file, valid JSON,
// known dtypes, shape products matching byte sizes, offsets inside the data
// section and not overlapping. It is pure (no I/O) so it can be fuzzed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "io/mapped_file.h"

namespace snapformer {

enum class DType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL };

const char* dtype_name(DType dtype);
std::size_t dtype_size(DType dtype);

struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  std::size_t begin = 0;  // byte offsets relative to the data section
  std::size_t end = 0;

  int64_t element_count() const;
};

struct SafetensorsHeader {
  std::size_t data_start = 0;  // absolute offset of the data section in the file
  std::map<std::string, TensorInfo> tensors;
  std::map<std::string, std::string> metadata;
};

// Parses and validates the header of a safetensors file held in `bytes`.
// `label` (usually the path) starts every error message.
SafetensorsHeader parse_safetensors_header(const std::uint8_t* bytes, std::size_t size, const std::string& label);

// A mapped safetensors file. Thread-safety: immutable, safe to share.
class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::string& path);

  const SafetensorsHeader& header() const { return header_; }
  const TensorInfo* find(const std::string& name) const;
  const std::uint8_t* tensor_data(const TensorInfo& info) const { return file_.data() + header_.data_start + info.begin; }
  const std::string& path() const { return file_.path(); }

 private:
  MappedFile file_;
  SafetensorsHeader header_;
};

}  // namespace snapformer
