// ThreadPool: a fixed set of worker threads for data-parallel loops.
//
// parallel_for(n, body) runs body(begin, end) over disjoint chunks of [0, n)
// on the pool and the calling thread, and returns when all are done.
// Thread-safety: parallel_for may be called from several threads at once;
// calls are serialized (one loop runs on the pool at a time), so a server
// running many requests does not oversubscribe the cores.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace snapformer {

class ThreadPool {
 public:
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }
  void parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& body);

  // The process-wide pool used by the kernels; resized by set_threads().
  static ThreadPool& global();
  static void set_threads(int threads);  // <= 0: all cores

 private:
  void worker(int index);

  std::vector<std::thread> workers_;
  std::mutex loop_mutex_;  // one loop at a time
  std::mutex mutex_;
  std::condition_variable start_, done_;
  const std::function<void(int64_t, int64_t)>* body_ = nullptr;
  int64_t n_ = 0;
  std::atomic<uint64_t> generation_{0};  // bumped for every loop (and to stop)
  std::atomic<int> pending_{0};          // workers still running the current loop
  std::atomic<bool> stop_{false};
};

}  // namespace snapformer
