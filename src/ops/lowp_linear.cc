// The bf16 and int8 paths of Linear::apply (see precision.h).
//
// Both split the output columns into one contiguous slice per pool thread and
// run one GEMM per slice. int8 weights in VNNI panels (packed at load on
// CPUs with VNNI) go through the panel kernel at every row count
// (int8_panels.h); plain [out, in] int8 weights, read in place, through the
// own kernel (AVX2) up to small_int8_gemm_rows() rows and oneDNN's integer
// GEMM above (u8·s8 -> s32). bf16 runs a oneDNN matmul primitive with a
// run-time row count on the plain [out, in] weights.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <unordered_map>
#include <map>
#include <mutex>
#include <tuple>
#include <vector>

#include "ops/int8_panels.h"
#include "ops/linear.h"
#include "ops/onednn.h"
#include "ops/quantize.h"
#include "ops/small_gemm_int8.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace snapformer::ops {

namespace {

using dnnl::memory;

// Column slices: one per pool thread, multiples of 16 columns (one AVX-512
// vector of float32 outputs), never fewer than 64 columns each.
struct Slices {
  int64_t count = 1;
  int64_t width = 0;
};

Slices column_slices(int64_t out) {
  const int64_t threads = ThreadPool::global().size();
  Slices s;
  s.count = std::max<int64_t>(1, std::min<int64_t>(threads, out / 64));
  s.width = ((out + s.count - 1) / s.count + 15) / 16 * 16;
  s.count = (out + s.width - 1) / s.width;
  return s;
}

// Runs body(c0, c1) for every column slice on the pool.
template <typename Body>
void for_each_slice(int64_t out, const Body& body) {
  const Slices s = column_slices(out);
  if (s.count == 1) return body(int64_t{0}, out);
  ThreadPool::global().parallel_for(s.count, [&](int64_t first, int64_t last) {
    for (int64_t i = first; i < last; ++i) body(i * s.width, std::min(out, (i + 1) * s.width));
  });
}

// Rows are converted on the pool when there are enough of them to pay for it.
template <typename Body>
void for_each_row_block(int64_t rows, int64_t cols, const Body& body) {
  if (rows < 4 || rows * cols < (1 << 16)) return body(int64_t{0}, rows);
  ThreadPool::global().parallel_for(rows, [&](int64_t r0, int64_t r1) { body(r0, r1); });
}

// One bf16 matmul primitive per (in, slice width, output stride, bias)
// shape, created on first use and shared by all threads (oneDNN primitives
// may execute concurrently).
class Bf16Primitives {
 public:
  const dnnl::matmul& get(int64_t in, int64_t width, int64_t stride, bool bias) {
    const auto key = std::make_tuple(in, width, stride, bias);
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = cache_.find(key);
    if (it == cache_.end()) it = cache_.emplace(key, create(in, width, stride, bias)).first;
    return it->second;
  }

  static dnnl::matmul create(int64_t in, int64_t width, int64_t stride, bool bias) {
    const memory::dim rows = DNNL_RUNTIME_DIM_VAL;
    const memory::desc src({rows, in}, memory::data_type::bf16, memory::format_tag::ab);
    // Weights [out, in] row-major are the matmul's [in, out] in "ba" order.
    const memory::desc weights({in, width}, memory::data_type::bf16, memory::format_tag::ba);
    const memory::desc dst({rows, width}, memory::data_type::f32, memory::dims{stride, 1});
    const memory::desc bias_desc = bias ? memory::desc({1, width}, memory::data_type::f32, memory::format_tag::ab)
                                        : memory::desc();
    const dnnl::matmul::desc desc(src, weights, bias_desc, dst);
    return dnnl::matmul(dnnl::matmul::primitive_desc(desc, cpu_engine()));
  }

 private:
  std::mutex mutex_;
  std::map<std::tuple<int64_t, int64_t, int64_t, bool>, dnnl::matmul> cache_;
};

Bf16Primitives& bf16_primitives() {
  static Bf16Primitives primitives;
  return primitives;
}

}  // namespace

void apply_bf16(const Linear& linear, const float* x, int64_t rows, float* y, std::optional<Activation> then) {
  const int64_t in = linear.in, out = linear.out;
  // Scratch of the calling thread, reused across calls. The pool's threads
  // reach it through this pointer (a thread_local name would be their own).
  thread_local std::vector<std::uint16_t> scratch;
  scratch.resize(static_cast<std::size_t>(rows * in));
  std::uint16_t* const x_bf16 = scratch.data();
  for_each_row_block(rows, in, [&](int64_t r0, int64_t r1) {
    floats_to_bfloat16(x + r0 * in, (r1 - r0) * in, x_bf16 + r0 * in);
  });
  for_each_slice(out, [&](int64_t c0, int64_t c1) {
    use_one_openmp_thread();
    const int64_t width = c1 - c0;
    const dnnl::matmul& matmul = bf16_primitives().get(in, width, out, linear.bias != nullptr);
    const auto& engine = cpu_engine();
    memory src({{rows, in}, memory::data_type::bf16, memory::format_tag::ab}, engine, x_bf16);
    memory weights({{in, width}, memory::data_type::bf16, memory::format_tag::ba}, engine,
                   const_cast<std::uint16_t*>(linear.weight_bf16 + c0 * in));
    memory dst({{rows, width}, memory::data_type::f32, memory::dims{out, 1}}, engine, y + c0);
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, weights}, {DNNL_ARG_DST, dst}};
    if (linear.bias != nullptr) {
      args.emplace(DNNL_ARG_BIAS, memory({{1, width}, memory::data_type::f32, memory::format_tag::ab}, engine,
                                         const_cast<float*>(linear.bias + c0)));
    }
    dnnl::stream& stream = thread_stream();
    matmul.execute(stream, args);
    stream.wait();
    activate_columns(then, y, rows, out, c0, c1, ActivationAccuracy::kBeforeRounding);
  });
}

namespace {

// A layer's input as the int8 kernels take it: each row quantized to uint8
// (scale and zero point per row), in the calling thread's scratch, reused
// across calls (the pool's threads reach it through these pointers: a
// thread_local name would be their own). Valid until the thread's next
// quantize_input.
struct QuantizedInput {
  const std::uint8_t* q;
  const float* scale;
  const std::int32_t* zero;
  int64_t rows, in;
};

// The activation levels the kernel takes (8 bits, or 7 where VPMADDUBSW
// would saturate). Panels: their kernel at any row count. Plain weights:
// few rows, the in-place kernel; more, oneDNN's GEMM.
int input_levels(const Linear& linear, int64_t rows) {
  if (linear.weight_int8_panels != nullptr) return 255;
  if (rows <= small_int8_gemm_rows()) return small_int8_gemm_levels(rows);
  return integer_gemm_has_vnni() ? 255 : 127;
}

QuantizedInput quantize_input(const float* x, int64_t rows, int64_t in, int levels) {
  thread_local std::vector<std::uint8_t> q_scratch;
  thread_local std::vector<float> scale_scratch;
  thread_local std::vector<std::int32_t> zero_scratch;
  // 3 bytes of slack: the panel kernel reads rows in 4-byte groups.
  q_scratch.resize(static_cast<std::size_t>(rows * in + 3));
  scale_scratch.resize(static_cast<std::size_t>(rows));
  zero_scratch.resize(static_cast<std::size_t>(rows));
  std::uint8_t* const x_q = q_scratch.data();
  float* const x_scale = scale_scratch.data();
  std::int32_t* const x_zero = zero_scratch.data();
  for_each_row_block(rows, in, [&](int64_t r0, int64_t r1) {
    quantize_rows_uint8(x + r0 * in, r1 - r0, in, levels, x_q + r0 * in, x_scale + r0, x_zero + r0);
  });
  return {x_q, x_scale, x_zero, rows, in};
}

// Columns [c0, c1) of y = linear(x) (then `then`), from x quantized at
// input_levels(linear, rows). `acc`: int32 sums, rows x out, for the
// kernels that do not dequantize as they write (plain weights).
void int8_columns(const Linear& linear, const QuantizedInput& x, int64_t c0, int64_t c1, std::int32_t* acc, float* y,
                  std::optional<Activation> then) {
  use_one_openmp_thread();
  const int64_t rows = x.rows, in = x.in, out = linear.out;
  if (linear.weight_int8_panels != nullptr) {
    const Int8Dequantize dequantize{x.scale, x.zero, linear.weight_scale, linear.weight_sum, linear.bias};
    gemm_u8s8_panels(x.q, rows, in, in, linear.weight_int8_panels, c0, c1, dequantize, y, out);
  } else {
    if (rows <= small_int8_gemm_rows()) {
      small_gemm_u8s8(x.q, rows, in, linear.weight_int8, c0, c1, acc, out);
    } else {
      const std::int32_t no_offset = 0;
      // Row-major C[rows, c1-c0] = A[rows, in] · B[c0..c1, in]ᵀ in int32.
      const dnnl_status_t status =
          dnnl_gemm_u8s8s32('N', 'T', 'F', rows, c1 - c0, in, 1.0f, x.q, in, 0, linear.weight_int8 + c0 * in, in, 0,
                            0.0f, acc + c0, out, &no_offset);
      if (status != dnnl_success) {  // only invalid arguments fail: a programming error, not bad input
        std::fprintf(stderr, "snapformer: oneDNN int8 GEMM failed (status %d)\n", static_cast<int>(status));
        std::abort();
      }
    }
    dequantize_columns(acc, rows, c0, c1, out, x.scale, x.zero, linear.weight_scale, linear.weight_sum, linear.bias,
                       y);
  }
  activate_columns(then, y, rows, out, c0, c1, ActivationAccuracy::kBeforeRounding);
}

// ys[i] = linears[i](x), then `then`, from one quantization of their input:
// every layer's column slices as the tasks of one loop over the pool.
void int8_layers(std::span<const Linear* const> linears, const QuantizedInput& x, std::span<float* const> ys,
                 std::optional<Activation> then) {
  // The calling thread's scratch, reused across calls; the pool's threads
  // reach it through these references (a thread_local name would be their own).
  thread_local std::vector<std::vector<std::int32_t>> sums_of_caller;  // per layer, plain weights only
  struct Task {
    std::size_t layer;
    int64_t c0, c1;
  };
  thread_local std::vector<Task> tasks_of_caller;
  std::vector<std::vector<std::int32_t>>& sums = sums_of_caller;
  std::vector<Task>& tasks = tasks_of_caller;
  sums.resize(linears.size());
  tasks.clear();
  for (std::size_t i = 0; i < linears.size(); ++i) {
    const Linear& linear = *linears[i];
    if (linear.weight_int8_panels == nullptr) sums[i].resize(static_cast<std::size_t>(x.rows * linear.out));
    const Slices s = column_slices(linear.out);
    for (int64_t slice = 0; slice < s.count; ++slice)
      tasks.push_back({i, slice * s.width, std::min(linear.out, (slice + 1) * s.width)});
  }
  ThreadPool::global().parallel_for(static_cast<int64_t>(tasks.size()), [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const Task& task = tasks[static_cast<std::size_t>(t)];
      int8_columns(*linears[task.layer], x, task.c0, task.c1, sums[task.layer].data(), ys[task.layer], then);
    }
  });
}

}  // namespace

void apply_int8(const Linear& linear, const float* x, int64_t rows, float* y, std::optional<Activation> then) {
  const Linear* const layer[] = {&linear};
  float* const output[] = {y};
  int8_layers(layer, quantize_input(x, rows, linear.in, input_levels(linear, rows)), output, then);
}

void apply_int8_to_same_input(std::span<const Linear* const> linears, const float* x, int64_t rows,
                              std::span<float* const> ys) {
  const Linear& first = *linears.front();
  const int levels = input_levels(first, rows);
  for (const Linear* linear : linears) {
    if (linear->in != first.in || input_levels(*linear, rows) != levels) {  // inputs quantized differently
      for (std::size_t i = 0; i < linears.size(); ++i) apply_int8(*linears[i], x, rows, ys[i], std::nullopt);
      return;
    }
  }
  int8_layers(linears, quantize_input(x, rows, first.in, levels), ys, std::nullopt);
}

void check_precision_supported(Precision precision) {
  if (precision != Precision::kBf16) return;
  try {
    (void)Bf16Primitives::create(64, 64, 64, true);
  } catch (const dnnl::error& e) {
    throw Error(std::string("--dtype bf16 is not supported on this CPU (oneDNN needs AVX-512): ") + e.what());
  }
}

}  // namespace snapformer::ops
