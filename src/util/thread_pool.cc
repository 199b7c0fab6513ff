#include "util/thread_pool.h"

#include <algorithm>
#include <memory>

namespace snapformer {
namespace {
std::mutex global_mutex;
std::unique_ptr<ThreadPool> global_pool;
int all_cores() { return static_cast<int>(std::max(1u, std::thread::hardware_concurrency())); }
thread_local bool serial_here = false;  // a SerialScope lives on this thread
}  // namespace

ThreadPool::SerialScope::SerialScope() : was_serial_(serial_here) { serial_here = true; }
ThreadPool::SerialScope::~SerialScope() { serial_here = was_serial_; }

int ThreadPool::size() const { return serial_here ? 1 : static_cast<int>(workers_.size()) + 1; }

ThreadPool::ThreadPool(int threads) {
  for (int i = 1; i < std::max(1, threads); ++i) workers_.emplace_back([this] { worker(); });
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

void ThreadPool::worker() {
  uint64_t seen = 0;
  for (;;) {
    for (int spin = 0; spin < kSpinRounds && generation_.load(std::memory_order_acquire) == seen; ++spin) pause();
    if (generation_.load(std::memory_order_acquire) == seen) {
      std::unique_lock<std::mutex> lock(mutex_);
      start_.wait(lock, [&] { return stop_.load() || generation_.load(std::memory_order_acquire) != seen; });
    }
    if (stop_.load()) return;
    seen = generation_.load(std::memory_order_acquire);
    run_chunks();
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      std::lock_guard<std::mutex> lock(mutex_);
      done_.notify_one();
    }
  }
}

// kChunksPerThread (4): enough that a thread slowed down for part of a loop
// leaves work to the others, few enough that each chunk (a block of output
// columns, of rows, of heads) stays large.
void ThreadPool::parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& body, int chunks_per_thread) {
  run_loop(n, body, chunks_per_thread, false);
}

void ThreadPool::parallel_for_long_chunks(int64_t n, const std::function<void(int64_t, int64_t)>& body) {
  // One index per chunk: each thread takes the next when it is free.
  run_loop(n, body, static_cast<int>(std::min<int64_t>(n, int64_t{1} << 20)), true);
}

void ThreadPool::run_loop(int64_t n, const std::function<void(int64_t, int64_t)>& body, int chunks_per_thread,
                          bool long_chunks) {
  if (n <= 0) return;
  if (workers_.empty() || n == 1 || serial_here) {
    body(0, n);
    return;
  }
  std::unique_lock<std::mutex> loop(loop_mutex_, std::try_to_lock);
  if (!loop.owns_lock()) {
    // The running loop holds the pool for a whole batch: not worth waiting for.
    if (long_chunks_.load(std::memory_order_acquire)) {
      body(0, n);
      return;
    }
    loop.lock();
  }
  long_chunks_.store(long_chunks, std::memory_order_release);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    body_ = &body;
    n_ = n;
    grain_ = std::max<int64_t>(1, n / (int64_t{std::max(1, chunks_per_thread)} * size()));
    next_.store(0, std::memory_order_relaxed);
    pending_.store(static_cast<int>(workers_.size()), std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_release);
  }
  start_.notify_all();
  run_chunks();
  for (int spin = 0; spin < kSpinRounds && pending_.load(std::memory_order_acquire) > 0; ++spin) pause();
  if (pending_.load(std::memory_order_acquire) > 0) {
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [&] { return pending_.load(std::memory_order_acquire) == 0; });
  }
  long_chunks_.store(false, std::memory_order_release);
}

// Takes chunks of the current loop until none is left. The loop's fields were
// published before generation_ was bumped (release), and every participant
// read generation_ (acquire) before calling this.
void ThreadPool::run_chunks() {
  const auto& body = *body_;
  const int64_t n = n_, grain = grain_;
  for (;;) {
    const int64_t begin = next_.fetch_add(grain, std::memory_order_relaxed);
    if (begin >= n) return;
    body(begin, std::min(n, begin + grain));
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
