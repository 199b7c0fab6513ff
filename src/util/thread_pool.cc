#include "util/thread_pool.h"

#include <algorithm>
#include <memory>

namespace snapformer {
namespace {
std::mutex global_mutex;
std::unique_ptr<ThreadPool> global_pool;
int all_cores() { return static_cast<int>(std::max(1u, std::thread::hardware_concurrency())); }
}  // namespace

ThreadPool::ThreadPool(int threads) {
  for (int i = 1; i < std::max(1, threads); ++i) workers_.emplace_back([this, i] { worker(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
    generation_.fetch_add(1, std::memory_order_release);  // wakes spinning workers too
  }
  start_.notify_all();
  for (auto& t : workers_) t.join();
}

namespace {
// Spin this many rounds (~50 us) for the next loop or for the workers to
// finish before blocking: on a VM, a condition-variable wake-up costs 50-100 us,
// as much as a whole GEMM of a short input.
constexpr int kSpinRounds = 20000;
inline void pause() { __builtin_ia32_pause(); }
}  // namespace

void ThreadPool::worker(int index) {
  uint64_t seen = 0;
  for (;;) {
    for (int spin = 0; spin < kSpinRounds && generation_.load(std::memory_order_acquire) == seen; ++spin) pause();
    if (generation_.load(std::memory_order_acquire) == seen) {
      std::unique_lock<std::mutex> lock(mutex_);
      start_.wait(lock, [&] { return stop_.load() || generation_.load(std::memory_order_acquire) != seen; });
    }
    if (stop_.load()) return;
    seen = generation_.load(std::memory_order_acquire);
    const auto* body = body_;
    const int64_t n = n_;
    const int parts = size();
    const int64_t begin = n * index / parts, end = n * (index + 1) / parts;
    if (begin < end) (*body)(begin, end);
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      std::lock_guard<std::mutex> lock(mutex_);
      done_.notify_one();
    }
  }
}

void ThreadPool::parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& body) {
  if (n <= 0) return;
  if (workers_.empty() || n == 1) {
    body(0, n);
    return;
  }
  std::lock_guard<std::mutex> loop(loop_mutex_);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    body_ = &body;
    n_ = n;
    pending_.store(static_cast<int>(workers_.size()), std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_release);
  }
  start_.notify_all();
  const int64_t end = n / size();
  if (end > 0) body(0, end);
  for (int spin = 0; spin < kSpinRounds && pending_.load(std::memory_order_acquire) > 0; ++spin) pause();
  if (pending_.load(std::memory_order_acquire) > 0) {
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [&] { return pending_.load(std::memory_order_acquire) == 0; });
  }
}

ThreadPool& ThreadPool::global() {
  std::lock_guard<std::mutex> lock(global_mutex);
  if (!global_pool) global_pool = std::make_unique<ThreadPool>(all_cores());
  return *global_pool;
}

void ThreadPool::set_threads(int threads) {
  std::lock_guard<std::mutex> lock(global_mutex);
  global_pool = std::make_unique<ThreadPool>(threads <= 0 ? all_cores() : threads);
}

}  // namespace snapformer
