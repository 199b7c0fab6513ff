#include "io/safetensors.h"

#include <algorithm>
#include <limits>
#include <nlohmann/json.hpp>

#include "util/error.h"

namespace snapformer {
namespace {

// Real files have headers of a few hundred KB; the reference library caps at 100 MB.
constexpr std::size_t kMaxHeaderBytes = 100u << 20;

DType parse_dtype(const std::string& name, const std::string& where) {
  static const std::pair<const char*, DType> kNames[] = {
      {"F64", DType::F64}, {"F32", DType::F32}, {"F16", DType::F16}, {"BF16", DType::BF16}, {"I64", DType::I64},
      {"I32", DType::I32}, {"I16", DType::I16}, {"I8", DType::I8},   {"U8", DType::U8},     {"BOOL", DType::BOOL}};
  for (const auto& [text, dtype] : kNames)
    if (name == text) return dtype;
  throw Error(where + ": unsupported dtype '" + name + "'");
}

}  // namespace

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::F64: return "F64";
    case DType::F32: return "F32";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
    case DType::I64: return "I64";
    case DType::I32: return "I32";
    case DType::I16: return "I16";
    case DType::I8: return "I8";
    case DType::U8: return "U8";
    case DType::BOOL: return "BOOL";
  }
  return "?";
}

std::size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::F64: case DType::I64: return 8;
    case DType::F32: case DType::I32: return 4;
    case DType::F16: case DType::BF16: case DType::I16: return 2;
    case DType::I8: case DType::U8: case DType::BOOL: return 1;
  }
  return 1;
}

int64_t TensorInfo::element_count() const {
  int64_t count = 1;
  for (int64_t d : shape) count *= d;
  return count;
}

SafetensorsHeader parse_safetensors_header(const std::uint8_t* bytes, std::size_t size, const std::string& label) {
  if (size < 8) throw Error(label + ": truncated safetensors file (" + std::to_string(size) + " bytes, no header length)");
  std::uint64_t header_length = 0;
  for (int i = 7; i >= 0; --i) header_length = (header_length << 8) | bytes[i];
  if (header_length > size - 8)
    throw Error(label + ": safetensors header length " + std::to_string(header_length) + " exceeds the file size " +
                std::to_string(size));
  if (header_length > kMaxHeaderBytes) throw Error(label + ": safetensors header larger than 100 MB");

  const char* text = reinterpret_cast<const char*>(bytes + 8);
  nlohmann::json json = nlohmann::json::parse(text, text + header_length, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object()) throw Error(label + ": safetensors header is not a JSON object");

  SafetensorsHeader header;
  header.data_start = 8 + static_cast<std::size_t>(header_length);
  const std::size_t data_size = size - header.data_start;

  for (const auto& [name, entry] : json.items()) {
    const std::string where = label + ": tensor '" + name + "'";
    if (name == "__metadata__") {
      if (!entry.is_object()) throw Error(label + ": __metadata__ must be an object");
      for (const auto& [key, value] : entry.items())
        if (value.is_string()) header.metadata[key] = value.get<std::string>();
      continue;
    }
    if (!entry.is_object()) throw Error(where + ": entry is not an object");
    if (!entry.contains("dtype") || !entry["dtype"].is_string()) throw Error(where + ": missing dtype");
    if (!entry.contains("shape") || !entry["shape"].is_array()) throw Error(where + ": missing shape");
    if (!entry.contains("data_offsets") || !entry["data_offsets"].is_array() || entry["data_offsets"].size() != 2)
      throw Error(where + ": missing data_offsets");

    TensorInfo info;
    info.name = name;
    info.dtype = parse_dtype(entry["dtype"].get<std::string>(), where);
    std::uint64_t elements = 1;
    for (const auto& dim : entry["shape"]) {
      if (!dim.is_number_unsigned()) throw Error(where + ": shape must hold non-negative integers");
      const std::uint64_t d = dim.get<std::uint64_t>();
      if (d != 0 && elements > std::numeric_limits<std::uint64_t>::max() / 16 / d)
        throw Error(where + ": shape is too large");
      elements *= d;
      info.shape.push_back(static_cast<int64_t>(d));
    }
    const auto& offsets = entry["data_offsets"];
    if (!offsets[0].is_number_unsigned() || !offsets[1].is_number_unsigned())
      throw Error(where + ": data_offsets must be non-negative integers");
    const std::uint64_t begin = offsets[0].get<std::uint64_t>(), end = offsets[1].get<std::uint64_t>();
    if (begin > end) throw Error(where + ": data_offsets begin after they end");
    if (end > data_size)
      throw Error(where + ": data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                  ") out of range of the " + std::to_string(data_size) + "-byte data section");
    if (elements * dtype_size(info.dtype) != end - begin)
      throw Error(where + ": shape needs " + std::to_string(elements * dtype_size(info.dtype)) + " bytes but " +
                  std::to_string(end - begin) + " are stored");
    info.begin = static_cast<std::size_t>(begin);
    info.end = static_cast<std::size_t>(end);
    header.tensors.emplace(name, std::move(info));
  }

  std::vector<const TensorInfo*> by_offset;
  for (const auto& [name, info] : header.tensors) by_offset.push_back(&info);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const TensorInfo* a, const TensorInfo* b) { return a->begin < b->begin || (a->begin == b->begin && a->end < b->end); });
  for (std::size_t i = 1; i < by_offset.size(); ++i) {
    if (by_offset[i]->begin < by_offset[i - 1]->end)
      throw Error(label + ": tensors '" + by_offset[i - 1]->name + "' and '" + by_offset[i]->name + "' overlap");
  }
  return header;
}

SafetensorsFile::SafetensorsFile(const std::string& path)
    : file_(path), header_(parse_safetensors_header(file_.data(), file_.size(), path)) {}

const TensorInfo* SafetensorsFile::find(const std::string& name) const {
  auto it = header_.tensors.find(name);
  return it == header_.tensors.end() ? nullptr : &it->second;
}

}  // namespace snapformer
