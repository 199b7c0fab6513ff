// ThreadPool: a fixed set of worker threads for data-parallel loops.
//
// parallel_for(n, body) runs body(begin, end) over disjoint chunks of [0, n)
// on the pool and the calling thread, and returns when all are done. Chunks
// are handed out as the threads ask for them (`chunks_per_thread` per thread
// on average, at least one index each), not fixed in advance: a thread that
// starts late or is slowed (a vCPU taken away by the hypervisor, a core busy
// with the server's I/O) leaves its share to the others instead of holding up
// the loop. Loops that stream memory bound by bandwidth (a decoding step's
// weights) ask for 1: long contiguous runs per thread read faster, and a late
// thread's whole run still goes to whoever is free first.
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
  static constexpr int kChunksPerThread = 4;
  static constexpr int kOneRunPerThread = 1;  // for bandwidth-bound loops (above)
  void parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& body,
                    int chunks_per_thread = kChunksPerThread);

  // The process-wide pool used by the kernels; resized by set_threads().
  static ThreadPool& global();
  static void set_threads(int threads);  // <= 0: all cores

 private:
  void worker();
  void run_chunks();

  std::vector<std::thread> workers_;
  std::mutex loop_mutex_;  // one loop at a time
  std::mutex mutex_;
  std::condition_variable start_, done_;
  const std::function<void(int64_t, int64_t)>* body_ = nullptr;
  int64_t n_ = 0;
  int64_t grain_ = 1;                    // indices per chunk of the current loop
  std::atomic<int64_t> next_{0};         // first index not yet handed out
  std::atomic<uint64_t> generation_{0};  // bumped for every loop (and to stop)
  std::atomic<int> pending_{0};          // workers still running the current loop
  std::atomic<bool> stop_{false};
};

}  // namespace snapformer
