#include "ops/linear.h"

#include <oneapi/dnnl/dnnl.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "ops/onednn.h"
#include "ops/panel_gemm.h"
#include "ops/small_gemm.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace snapformer::ops {

namespace {

// Joins the warm-up thread when its last owner lets go.
struct WarmUpThread {
  std::thread thread;
  ~WarmUpThread() {
    if (thread.joinable()) thread.join();
  }
};

}  // namespace

std::shared_ptr<void> warm_up_gemm_in_background() {
  static std::mutex mutex;
  static bool started = false;
  static std::weak_ptr<WarmUpThread> running;
  const std::lock_guard<std::mutex> lock(mutex);
  if (auto owner = running.lock()) return owner;
  if (started) return nullptr;
  started = true;
  auto owner = std::make_shared<WarmUpThread>();
  owner->thread = std::thread([] {
    // Large enough to reach the JIT'ed kernels (a 1x1x1 call does not), in
    // both weight layouts: [in, out] (GPT-2's Conv1D) and [out, in].
    constexpr int64_t m = 2, n = 16, k = 16;
    std::vector<float> a(m * k, 0.0f), b(k * n, 0.0f), c(m * n);
    gemm(false, false, m, n, k, 1.0f, a.data(), k, b.data(), n, 0.0f, c.data(), n);
    gemm(false, true, m, n, k, 1.0f, a.data(), k, b.data(), k, 0.0f, c.data(), n);
  });
  running = owner;
  return owner;
}

void gemm(bool transpose_a, bool transpose_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
          const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (m == 0 || n == 0) return;
  // oneDNN's sgemm picks AVX-512 kernels where OpenBLAS 0.3.21 uses its AVX2
  // (Haswell) ones: ~1.5x faster at 128 rows on this CPU (docs/BENCHMARKS.md).
  // It runs on the calling thread only (one OpenMP thread), because the work
  // is already split over snapformer's own thread pool.
  use_one_openmp_thread();
  const dnnl_status_t status =
      dnnl_sgemm(transpose_a ? 'T' : 'N', transpose_b ? 'T' : 'N', m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  if (status != dnnl_success)
    throw Error("oneDNN sgemm failed (status " + std::to_string(static_cast<int>(status)) + ") for " +
                std::to_string(m) + "x" + std::to_string(k) + " by " + std::to_string(k) + "x" + std::to_string(n));
}

void apply_to_same_input(std::span<const Linear* const> linears, const float* x, int64_t rows,
                         std::span<float* const> ys) {
  if (rows == 0 || linears.empty()) return;
  const bool int8 = std::all_of(linears.begin(), linears.end(),
                                [](const Linear* l) { return l->precision == Precision::kInt8; });
  if (int8) return apply_int8_to_same_input(linears, x, rows, ys);
  for (std::size_t i = 0; i < linears.size(); ++i) linears[i]->apply(x, rows, ys[i]);
}

void Linear::apply(const float* x, int64_t rows, float* y, std::optional<Activation> then) const {
  if (rows == 0) return;
  if (precision == Precision::kInt8) return apply_int8(*this, x, rows, y, then);
  if (precision == Precision::kBf16) return apply_bf16(*this, x, rows, y, then);
  if (!input_major && panel_gemm_nt_suits(rows)) {
    // Tens to hundreds of tokens on AVX2: the weights in place, the
    // activations transposed into panels (20-30% ahead of sgemm at 16-64 rows).
    panel_gemm_nt(x, rows, in, weight, out, bias, y, then);
    return;
  }
  if (rows <= kSmallGemmRows && !input_major) {
    // Few tokens: stream the weights in place instead of letting BLAS pack them.
    small_gemm_nt(x, rows, in, weight, out, bias, y, then);
    return;
  }
  if (rows <= kSmallGemmNnRows && input_major) {
    // GPT-2's prompts: sgemm packs the [in, out] weights on every call (a
    // 6-token 768x3072 layer took 3-4x a 1-row one); this reads them in place.
    // Its decoding steps too: as fast as sgemm's matrix-vector path on one
    // thread, and faster on several (each thread reads one slab of rows).
    small_gemm_nn(x, rows, in, weight, out, bias, y, then);
    return;
  }
  if (bias != nullptr) {
    for (int64_t r = 0; r < rows; ++r) std::memcpy(y + r * out, bias, static_cast<std::size_t>(out) * sizeof(float));
  }
  const float beta = bias != nullptr ? 1.0f : 0.0f;
  // BLAS is single-threaded: split the output columns over the thread pool,
  // one contiguous run per thread (when a decoding step of [in, out] weights
  // came here, more, shorter runs made GPT-2 fp32 decoding at 2 threads 6-10%
  // slower).
  constexpr int64_t kColumns = 128;
  ThreadPool::global().parallel_for((out + kColumns - 1) / kColumns, [&](int64_t t0, int64_t t1) {
    const int64_t c0 = t0 * kColumns, c1 = std::min(out, t1 * kColumns);
    if (input_major) {
      gemm(false, false, rows, c1 - c0, in, 1.0f, x, in, weight + c0, out, beta, y + c0, out);
    } else {
      gemm(false, true, rows, c1 - c0, in, 1.0f, x, in, weight + c0 * in, in, beta, y + c0, out);
    }
    activate_columns(then, y, rows, out, c0, c1);
  }, ThreadPool::kOneRunPerThread);
}

}  // namespace snapformer::ops
