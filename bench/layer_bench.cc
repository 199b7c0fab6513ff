// snapformer_bench_layers: one transformer layer's GEMM at a time, through
// ops::Linear (so the kernel is the one a model picks for that row count,
// precision and layout), its weights cycled through enough copies that every
// call reads them from memory as a forward pass does, beside a plain read of
// the same bytes on the same threads (four streams each). The layer figures
// of docs/BENCHMARKS.md (kernels against the memory they read) come from here.
//
//   snapformer_bench_layers [--threads N] [--rows 1,6,8,32,128] [--dtypes fp32,int8]
//                           [--reps N] [--only TEXT]
//
// Layers: bert-base's [out, in] weights (768x768: query, key, value and
// attention output; 768x3072 intermediate; 3072x768 output), GPT-2's [in,
// out] Conv1D weights (768x2304, 768x768, 768x3072, 3072x768) and its LM head
// ([50257, 768]: the token embeddings), named "model in->out". int8 quantizes
// them all to [out, in], and packs them into VNNI panels where the int8
// kernels take VNNI (int8_panels.h), as loading does. --only keeps the layers whose name
// contains TEXT. Prints a markdown table: median and best microseconds per
// call, multiply-adds per second and weight bytes per second at the median,
// the plain read's median, and the ratio.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <string>
#include <vector>

#include "ops/cpu.h"
#include "ops/int8_panels.h"
#include "ops/linear.h"
#include "ops/precision.h"
#include "ops/quantize.h"
#include "ops/threads.h"
#include "util/error.h"
#include "util/thread_pool.h"

using namespace snapformer;

namespace {

struct LayerShape {
  const char* model;
  int64_t in, out;
  bool input_major;  // GPT-2's Conv1D stores [in, out]
};

constexpr LayerShape kLayers[] = {
    {"bert", 768, 768, false},  {"bert", 768, 3072, false}, {"bert", 3072, 768, false},
    {"gpt2", 768, 2304, true},  {"gpt2", 768, 768, true},   {"gpt2", 768, 3072, true},
    {"gpt2", 3072, 768, true},  {"gpt2", 768, 50257, false},  // the last: the LM head (the token embeddings)
};

// The copies of one layer's weights together span this many bytes: far more
// than any last-level cache, so each call reads its copy from memory.
constexpr std::size_t kCycledBytes = std::size_t{256} << 20;

// One layer in one precision, `copies` times over, and a Linear per copy.
struct CycledLayer {
  std::vector<float> fp32;
  std::vector<std::int8_t> int8;
  std::vector<float> scale;
  std::vector<std::int32_t> row_sum;
  std::vector<float> bias;
  std::vector<ops::Linear> copies;
  std::size_t bytes_per_copy = 0;

  // The first int8 copy, 64-byte aligned as a model's weights are (a mapped
  // file's tensors): vector storage is only 16-byte aligned, and a 64-byte
  // load across two cache lines costs two.
  std::int8_t* int8_first = nullptr;

  // Moves keep the buffers (and so the pointers into them); copies would not.
  CycledLayer() = default;
  CycledLayer(CycledLayer&&) = default;
  CycledLayer(const CycledLayer&) = delete;

  std::int8_t* int8_copy(std::size_t copy) const { return int8_first + copy * bytes_per_copy; }

  const void* weights_of(std::size_t copy) const {
    return fp32.empty() ? static_cast<const void*>(int8_copy(copy))
                        : static_cast<const void*>(fp32.data() + copy * bytes_per_copy / sizeof(float));
  }
};

CycledLayer make_layer(const LayerShape& shape, ops::Precision precision) {
  const std::size_t weights = static_cast<std::size_t>(shape.in * shape.out);
  std::vector<float> one(weights);
  for (std::size_t i = 0; i < weights; ++i)  // any spread of values: speed does not depend on them
    one[i] = static_cast<float>((i * 2654435761u) % 1000) * 1e-4f - 0.05f;
  CycledLayer layer;
  layer.bias.assign(static_cast<std::size_t>(shape.out), 0.01f);
  const bool int8 = precision == ops::Precision::kInt8;
  layer.bytes_per_copy = weights * (int8 ? 1 : sizeof(float));
  const std::size_t copies = std::max<std::size_t>(4, kCycledBytes / layer.bytes_per_copy);
  const bool panels = int8 && ops::int8_uses_vnni();
  if (panels) layer.bytes_per_copy = static_cast<std::size_t>(ops::int8_panel_bytes(shape.out, shape.in));
  if (int8) {
    std::vector<std::int8_t> q(weights);
    layer.scale.resize(static_cast<std::size_t>(shape.out));
    layer.row_sum.resize(static_cast<std::size_t>(shape.out));
    ops::quantize_weight_int8(one.data(), shape.out, shape.in, shape.input_major, q.data(), layer.scale.data(),
                              layer.row_sum.data());
    if (panels) {
      std::vector<std::int8_t> packed(layer.bytes_per_copy);
      ops::pack_int8_panels(q.data(), shape.out, shape.in, packed.data());
      q = std::move(packed);
    }
    layer.int8.resize(copies * layer.bytes_per_copy + 64);
    const auto misalignment = reinterpret_cast<std::uintptr_t>(layer.int8.data()) % 64;
    layer.int8_first = layer.int8.data() + (64 - misalignment) % 64;
    for (std::size_t c = 0; c < copies; ++c)
      std::memcpy(layer.int8_copy(c), q.data(), layer.bytes_per_copy);
  } else {
    layer.fp32.resize(copies * weights);
    for (std::size_t c = 0; c < copies; ++c)
      std::memcpy(layer.fp32.data() + c * weights, one.data(), weights * sizeof(float));
  }
  for (std::size_t c = 0; c < copies; ++c) {
    ops::Linear l;
    l.in = shape.in;
    l.out = shape.out;
    l.bias = layer.bias.data();
    l.precision = precision;
    if (int8) {
      (panels ? l.weight_int8_panels : l.weight_int8) = layer.int8_copy(c);
      l.weight_scale = layer.scale.data();
      l.weight_sum = layer.row_sum.data();
    } else {
      l.weight = layer.fp32.data() + c * weights;
      l.input_major = shape.input_major;
    }
    layer.copies.push_back(l);
  }
  return layer;
}

// Sum of n 64-bit words as integers (the bytes may be int8 weights; as floats
// they could be NaNs or denormals), read as four sequential streams far
// apart (the quarters of the range in lockstep, each prefetched 512 bytes
// ahead): on this project's Zen 3 VM one stream reads ~25% slower, and the
// one-row kernels read this way (small_gemm.cc). AVX2 clone where the CPU
// has it.
__attribute__((target_clones("avx2", "default"))) std::uint64_t sum_words(const std::uint64_t* words, int64_t n) {
  const int64_t quarter = n / 4;
  std::uint64_t sums[4] = {0, 0, 0, 0};
  for (int64_t i = 0; i < quarter; ++i) {
    for (int s = 0; s < 4; ++s) {
      if (i % 8 == 0) __builtin_prefetch(words + s * quarter + i + 64);
      sums[s] += words[s * quarter + i];
    }
  }
  std::uint64_t total = sums[0] + sums[1] + sums[2] + sums[3];
  for (int64_t i = 4 * quarter; i < n; ++i) total += words[i];
  return total;
}

// Reads `bytes` from `data` on the pool's threads, one contiguous run each.
std::uint64_t plain_read(const void* data, std::size_t bytes) {
  const auto* words = static_cast<const std::uint64_t*>(data);
  ThreadPool& pool = ThreadPool::global();
  const int64_t parts = pool.size(), n = static_cast<int64_t>(bytes / sizeof(std::uint64_t));
  const int64_t per_part = (n + parts - 1) / parts;
  std::vector<std::uint64_t> partial(static_cast<std::size_t>(parts));
  pool.parallel_for(parts, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t first = std::min(n, p * per_part);
      partial[static_cast<std::size_t>(p)] = sum_words(words + first, std::min(n, first + per_part) - first);
    }
  }, ThreadPool::kOneRunPerThread);
  std::uint64_t total = 0;
  for (const std::uint64_t p : partial) total += p;
  return total;
}

double microseconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
}

double median_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// A positive whole number from flag's value, or an error naming both.
int64_t parse_count(const std::string& flag, const std::string& text) {
  std::size_t used = 0;
  long long value = 0;
  try {
    value = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || value < 1) throw std::runtime_error(flag + ": '" + text + "' is not a positive number");
  return value;
}

std::vector<std::string> split_list(const std::string& list) {
  std::vector<std::string> items;
  for (std::size_t at = 0; at <= list.size();) {
    const std::size_t comma = std::min(list.find(',', at), list.size());
    if (comma > at) items.push_back(list.substr(at, comma - at));
    at = comma + 1;
  }
  return items;
}

int run(int argc, char** argv) {
  int threads = 1, reps = 30;
  std::string rows_list = "1,6,8,32,128", dtypes = "fp32,int8", only;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 < argc && flag == "--threads") threads = static_cast<int>(parse_count(flag, argv[++i]));
    else if (i + 1 < argc && flag == "--rows") rows_list = argv[++i];
    else if (i + 1 < argc && flag == "--dtypes") dtypes = argv[++i];
    else if (i + 1 < argc && flag == "--reps") reps = static_cast<int>(parse_count(flag, argv[++i]));
    else if (i + 1 < argc && flag == "--only") only = argv[++i];
    else {
      std::fprintf(stderr,
                   "usage: snapformer_bench_layers [--threads N] [--rows 1,6,8,32,128] [--dtypes fp32,int8] "
                   "[--reps N] [--only TEXT]\n");
      return 2;
    }
  }
  ops::set_num_threads(threads);
  std::vector<int64_t> row_counts;
  for (const std::string& r : split_list(rows_list)) row_counts.push_back(parse_count("--rows", r));
  volatile std::uint64_t sink = 0;  // keeps the plain reads from being optimized away

  std::printf("| layer | dtype | rows | threads | median us | best us | G multiply-adds/s | weight GB/s "
              "| plain read us | median / read |\n|---|---|---|---|---|---|---|---|---|---|\n");
  for (const std::string& dtype : split_list(dtypes)) {
    const ops::Precision precision = ops::parse_precision(dtype);
    try {
      ops::check_precision_supported(precision);
    } catch (const Error& e) {
      std::fprintf(stderr, "snapformer_bench_layers: skipping %s: %s\n", dtype.c_str(), e.what());
      continue;
    }
    for (const LayerShape& shape : kLayers) {
      const std::string name = std::string(shape.model) + " " + std::to_string(shape.in) + "->" +
                               std::to_string(shape.out);
      if (name.find(only) == std::string::npos) continue;
      const CycledLayer layer = make_layer(shape, precision);
      for (const int64_t rows : row_counts) {
        std::vector<float> x(static_cast<std::size_t>(rows * shape.in)), y(static_cast<std::size_t>(rows * shape.out));
        for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 97) * 0.01f - 0.4f;
        layer.copies[0].apply(x.data(), rows, y.data());  // first-call set-up (oneDNN's JIT) outside the timings
        std::vector<double> gemm_us, read_us;
        // The GEMM and the read alternate call by call, each on a copy the
        // other has not touched lately, so a slow moment of the machine
        // weighs on both.
        for (int rep = 0; rep < reps; ++rep) {
          const std::size_t copy = (2 * static_cast<std::size_t>(rep)) % layer.copies.size();
          auto t0 = std::chrono::steady_clock::now();
          layer.copies[copy].apply(x.data(), rows, y.data());
          gemm_us.push_back(microseconds_since(t0));
          const std::size_t other = (copy + 1) % layer.copies.size();
          t0 = std::chrono::steady_clock::now();
          sink = sink + plain_read(layer.weights_of(other), layer.bytes_per_copy);
          read_us.push_back(microseconds_since(t0));
        }
        const double median = median_of(gemm_us), best = *std::min_element(gemm_us.begin(), gemm_us.end());
        const double read = median_of(read_us);
        const double mult_adds = static_cast<double>(rows) * static_cast<double>(shape.in * shape.out);
        std::printf("| %s | %s | %lld | %d | %.0f | %.0f | %.1f | %.1f | %.0f | %.2f |\n", name.c_str(), dtype.c_str(),
                    static_cast<long long>(rows), threads, median, best, mult_adds / median / 1e3,
                    static_cast<double>(layer.bytes_per_copy) / median / 1e3, read, median / read);
      }
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {  // a malformed number or dtype in the flags, or out of memory
    std::fprintf(stderr, "snapformer_bench_layers: %s\n", e.what());
    return 2;
  }
}
