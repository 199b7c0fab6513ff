#include "io/weights.h"

#include <cpuid.h>
#include <immintrin.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <set>

#include "util/error.h"
#include "util/json_file.h"
#include "util/thread_pool.h"

namespace snapformer {

namespace fs = std::filesystem;

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

float half_to_float(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000) << 16;
  std::uint32_t exponent = (h >> 10) & 0x1F;
  std::uint32_t mantissa = h & 0x3FF;
  std::uint32_t bits;
  if (exponent == 0) {
    if (mantissa == 0) {
      bits = sign;
    } else {  // subnormal: renormalize
      exponent = 127 - 15 + 1;
      while ((mantissa & 0x400) == 0) {
        mantissa <<= 1;
        --exponent;
      }
      mantissa &= 0x3FF;
      bits = sign | (exponent << 23) | (mantissa << 13);
    }
  } else if (exponent == 31) {
    bits = sign | 0x7F800000u | (mantissa << 13);
  } else {
    bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

std::vector<std::string> weight_file_paths(const std::string& directory) {
  const fs::path single = fs::path(directory) / "model.safetensors";
  const fs::path index = fs::path(directory) / "model.safetensors.index.json";
  if (fs::exists(single)) return {single.string()};
  if (!fs::exists(index))
    throw Error(directory + ": no model.safetensors or model.safetensors.index.json (only safetensors weights are supported)");
  const Json json = read_json_file(index.string());
  if (!json.contains("weight_map") || !json["weight_map"].is_object())
    throw Error(index.string() + ": missing 'weight_map' object");
  std::set<std::string> shards;
  for (const auto& [name, file] : json["weight_map"].items()) {
    if (!file.is_string()) throw Error(index.string() + ": weight_map entry for '" + name + "' must be a file name");
    const std::string shard = file.get<std::string>();
    if (shard.find('/') != std::string::npos || shard.find("..") != std::string::npos)
      throw Error(index.string() + ": shard name '" + shard + "' must be a plain file name");
    shards.insert(shard);
  }
  if (shards.empty()) throw Error(index.string() + ": weight_map is empty");
  std::vector<std::string> paths;
  for (const std::string& shard : shards) paths.push_back((fs::path(directory) / shard).string());
  return paths;
}

Weights::Weights(const std::string& directory) : directory_(directory) {
  for (const std::string& path : weight_file_paths(directory)) files_.push_back(std::make_unique<SafetensorsFile>(path));
}

std::optional<Weights::Located> Weights::locate(const std::string& name) const {
  for (const auto& file : files_)
    if (const TensorInfo* info = file->find(name)) return Located{file.get(), info};
  return std::nullopt;
}

bool Weights::contains(const std::vector<std::string>& candidates) const {
  for (const std::string& name : candidates)
    if (locate(name)) return true;
  return false;
}

std::optional<FloatTensor> Weights::get_optional(const std::vector<std::string>& candidates,
                                                 const std::vector<int64_t>& expected_shape) {
  const auto raw = find_raw(candidates);
  if (!raw) return std::nullopt;
  if (!expected_shape.empty() && raw->shape != expected_shape)
    throw Error(raw->where + " has shape " + shape_string(raw->shape) + ", expected " + shape_string(expected_shape));
  FloatTensor tensor;
  tensor.shape = raw->shape;
  if (raw->dtype == DType::F32 && reinterpret_cast<std::uintptr_t>(raw->data) % alignof(float) == 0) {
    tensor.data = reinterpret_cast<const float*>(raw->data);  // zero-copy
    in_place_.emplace_back(raw->data, raw->bytes);
  } else {
    tensor.data = converted_.emplace_back(to_floats(*raw)).data();  // F16/BF16, or unaligned F32
  }
  return tensor;
}

std::vector<std::string> with_suffix(const std::vector<std::string>& names, const std::string& suffix) {
  std::vector<std::string> out;
  for (const auto& n : names) out.push_back(n + suffix);
  return out;
}

namespace {
RawTensor raw_tensor(const SafetensorsFile& file, const TensorInfo& info) {
  RawTensor raw;
  raw.name = info.name;
  raw.where = file.path() + ": tensor '" + info.name + "'";
  raw.dtype = info.dtype;
  raw.shape = info.shape;
  raw.data = file.tensor_data(info);
  raw.bytes = info.end - info.begin;
  return raw;
}
}  // namespace

std::optional<RawTensor> Weights::find_raw(const std::vector<std::string>& candidates) const {
  for (const std::string& name : candidates)
    if (const auto located = locate(name)) return raw_tensor(*located->file, *located->info);
  return std::nullopt;
}

std::vector<RawTensor> Weights::all_tensors() const {
  std::vector<RawTensor> all;
  for (const auto& file : files_)
    for (const auto& [name, info] : file->header().tensors) all.push_back(raw_tensor(*file, info));
  return all;
}

namespace {

// F16 -> F32 with F16C, 8 values per instruction, for the whole blocks of 8:
// the same floats as half_to_float (a signaling NaN comes back quiet; weights
// hold none). Returns the values done.
__attribute__((target("avx2,f16c"))) std::size_t halves_to_floats_f16c(const std::uint8_t* from, std::size_t count,
                                                                        float* to) {
  std::size_t i = 0;
  for (; i + 8 <= count; i += 8)
    _mm256_storeu_ps(to + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(from + 2 * i))));
  return i;
}

// F16C is CPUID leaf 1, ECX bit 29 (Clang's __builtin_cpu_supports does not
// know the name); every AVX2 CPU has it, the check is for odd virtual CPUs.
bool cpu_has_f16c() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  return __get_cpuid(1, &eax, &ebx, &ecx, &edx) != 0 && (ecx & (1u << 29)) != 0;
}

void halves_to_floats(const std::uint8_t* from, std::size_t count, float* to) {
  static const bool f16c = __builtin_cpu_supports("avx2") && cpu_has_f16c();
  for (std::size_t i = f16c ? halves_to_floats_f16c(from, count, to) : 0; i < count; ++i) {
    std::uint16_t v;
    std::memcpy(&v, from + 2 * i, 2);
    to[i] = half_to_float(v);
  }
}

void bfloats_to_floats(const std::uint8_t* from, std::size_t count, float* to) {
  for (std::size_t i = 0; i < count; ++i) {
    std::uint16_t v;
    std::memcpy(&v, from + 2 * i, 2);
    to[i] = bfloat16_to_float(v);
  }
}

}  // namespace

// F16/BF16 folders are converted at load: in blocks over the thread pool (a
// scalar pass took bert-base's 110 M half weights ~0.4 s, ten times its
// float32 load).
FloatBuffer Weights::to_floats(const RawTensor& tensor) {
  const std::size_t count = tensor.bytes / dtype_size(tensor.dtype);
  FloatBuffer values(count);  // uninitialized: each page faulted in by the thread converting into it
  switch (tensor.dtype) {
    case DType::F32:
      std::memcpy(values.data(), tensor.data, count * sizeof(float));
      break;
    case DType::F16:
    case DType::BF16: {
      constexpr std::size_t kBlock = std::size_t{1} << 16;
      const bool half = tensor.dtype == DType::F16;
      ThreadPool::global().parallel_for(static_cast<int64_t>((count + kBlock - 1) / kBlock), [&](int64_t b0, int64_t b1) {
        const std::size_t first = static_cast<std::size_t>(b0) * kBlock,
                          last = std::min(count, static_cast<std::size_t>(b1) * kBlock);
        if (half) halves_to_floats(tensor.data + 2 * first, last - first, values.data() + first);
        else bfloats_to_floats(tensor.data + 2 * first, last - first, values.data() + first);
      });
      break;
    }
    default:
      throw Error(tensor.where + " has dtype " + dtype_name(tensor.dtype) + "; weights must be F32, F16 or BF16");
  }
  return values;
}

void Weights::release(const RawTensor& tensor) {
  // Only whole pages inside the tensor: its neighbours may still be in use.
  const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto begin = (reinterpret_cast<std::uintptr_t>(tensor.data) + page - 1) & ~(page - 1);
  const auto end = (reinterpret_cast<std::uintptr_t>(tensor.data) + tensor.bytes) & ~(page - 1);
  if (end > begin) (void)::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

FloatTensor Weights::get(const std::vector<std::string>& candidates, const std::vector<int64_t>& expected_shape) {
  auto tensor = get_optional(candidates, expected_shape);
  if (!tensor) {
    std::string names;
    for (const auto& c : candidates) names += (names.empty() ? "'" : " or '") + c + "'";
    throw Error(directory_ + ": missing tensor " + names);
  }
  return *tensor;
}

Weights::~Weights() {
  stop_prefault_ = true;
  if (prefault_thread_.joinable()) prefault_thread_.join();
}

void Weights::prefault_in_background() {
  if (prefault_thread_.joinable() || in_place_.empty()) return;
  prefault_thread_ = std::thread([this, ranges = in_place_] {
    constexpr std::size_t kChunk = 2u << 20;
    const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
    for (const auto& [start, size] : ranges) {
      auto begin = reinterpret_cast<std::uintptr_t>(start) & ~(page - 1);
      const auto end = reinterpret_cast<std::uintptr_t>(start) + size;
      for (; begin < end && !stop_prefault_; begin += kChunk) {
        const std::size_t length = std::min<std::size_t>(kChunk, end - begin);
        // MADV_POPULATE_READ (Linux 5.14) maps pages without touching them one by one.
        if (::madvise(reinterpret_cast<void*>(begin), length, 22 /* MADV_POPULATE_READ */) != 0) {
          for (std::uintptr_t p = begin; p < begin + length; p += page) (void)*reinterpret_cast<const volatile char*>(p);
        }
      }
    }
  });
}

std::string Weights::storage_dtype() const {
  for (const auto& file : files_)
    for (const auto& [name, info] : file->header().tensors) return dtype_name(info.dtype);
  return "none";
}

}  // namespace snapformer
