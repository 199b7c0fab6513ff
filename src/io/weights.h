// Weights: every tensor of a model folder, found by name, as float32.
//
// Opens `model.safetensors`, or every shard listed in
// `model.safetensors.index.json`, by memory mapping. F32 tensors are returned
// in place (a pointer into the mapping: no copy, nothing proportional to the
// model size at start-up); F16 and BF16 tensors are converted to float32 once,
// on first request, into buffers the Weights object owns.
//
// Names: Hugging Face checkpoints store the body either with the model prefix
// (`bert.encoder...`, `transformer.h...`) or without it (a bare BertModel);
// find() tries each candidate name in order so models need not care.
//
// Ownership: returned FloatTensor views live as long as the Weights object.
// Thread-safety: not thread-safe while loading; models call it only while
// they are being constructed.
#pragma once

#include <cstdint>
#include <atomic>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "io/safetensors.h"
#include "util/uninitialized_allocator.h"

namespace snapformer {

// A read-only float32 view with a shape.
struct FloatTensor {
  const float* data = nullptr;
  std::vector<int64_t> shape;

  int64_t size() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
  int64_t dim(std::size_t i) const { return shape.at(i); }
};

std::string shape_string(const std::vector<int64_t>& shape);

// Each name with `suffix` appended: candidate tensor names from base names.
std::vector<std::string> with_suffix(const std::vector<std::string>& names, const std::string& suffix);

// A tensor exactly as stored (any dtype), in place in the mapping.
struct RawTensor {
  std::string name;  // the candidate that matched
  std::string where;  // "FILE: tensor 'NAME'", for error messages
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const std::uint8_t* data = nullptr;
  std::size_t bytes = 0;
};

// The weight files of a model folder: `model.safetensors`, or every shard
// named in `model.safetensors.index.json` (sorted, each once). Throws Error
// naming the folder or the index if neither is usable. Maps nothing.
std::vector<std::string> weight_file_paths(const std::string& directory);

class Weights {
 public:
  // Opens the weights of the model folder `directory`. Throws Error naming
  // the missing or bad file.
  explicit Weights(const std::string& directory);

  // True if any candidate name exists.
  bool contains(const std::vector<std::string>& candidates) const;

  // The first candidate that exists, as float32, checked against
  // `expected_shape` (empty = any shape). Throws Error naming the tensor if
  // none exists or the shape differs.
  FloatTensor get(const std::vector<std::string>& candidates, const std::vector<int64_t>& expected_shape = {});

  // Like get() but returns nullopt when no candidate exists.
  std::optional<FloatTensor> get_optional(const std::vector<std::string>& candidates,
                                          const std::vector<int64_t>& expected_shape = {});

  // The first candidate that exists, as stored (no conversion, nothing
  // recorded for prefaulting), or nullopt. For weights that the model
  // converts itself (bf16, int8).
  std::optional<RawTensor> find_raw(const std::vector<std::string>& candidates) const;

  // The tensor as float32 in a new buffer the caller owns (F32 copied,
  // F16/BF16 converted, in blocks over the global thread pool: not to be
  // called from inside one of its loops). Throws Error for other dtypes.
  static FloatBuffer to_floats(const RawTensor& tensor);

  // Every tensor of every file, as stored.
  std::vector<RawTensor> all_tensors() const;

  // Tells the kernel that the tensor's pages are not needed any more (they
  // were converted), so they leave the process's resident memory. Reading
  // them again later is still safe: the mapping stays.
  static void release(const RawTensor& tensor);

  // Starts a background thread that maps the pages of every F32 tensor
  // requested so far, in request order (models request tensors in the order
  // forward() uses them), so the first forward pass does not stop on a page
  // fault for every 64 KB of weights. Returns at once; the destructor stops
  // and joins the thread. Costs nothing when the pages are already mapped.
  void prefault_in_background();

  ~Weights();
  Weights(const Weights&) = delete;
  Weights& operator=(const Weights&) = delete;

  // Storage dtype of the first tensor (for reporting).
  std::string storage_dtype() const;
  const std::string& directory() const { return directory_; }

 private:
  struct Located {
    const SafetensorsFile* file;
    const TensorInfo* info;
  };
  std::optional<Located> locate(const std::string& name) const;

  std::string directory_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::deque<FloatBuffer> converted_;  // owned float32 copies of F16/BF16 tensors
  std::vector<std::pair<const std::uint8_t*, std::size_t>> in_place_;  // F32 tensors used from the mapping
  std::thread prefault_thread_;
  std::atomic<bool> stop_prefault_{false};
};

// Converts IEEE half and bfloat16 values to float32.
float half_to_float(std::uint16_t h);
inline float bfloat16_to_float(std::uint16_t b) {
  const std::uint32_t bits = static_cast<std::uint32_t>(b) << 16;
  float f;
  __builtin_memcpy(&f, &bits, 4);
  return f;
}

}  // namespace snapformer
