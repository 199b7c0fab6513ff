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
//
// Work split at a coarser grain than a kernel's loop (a batch cut into parts,
// each running its whole forward pass on one thread: tasks/batch_parts.h)
// runs each part inside a SerialScope: while one lives on a thread, the
// loops called there run on that thread alone, and size() says 1 there; and
// it runs the parts through parallel_for_long_chunks, beside which other
// threads' loops run on their own threads instead of waiting.
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

  // The threads a loop called from this thread runs on (1 inside a SerialScope).
  int size() const;
  static constexpr int kChunksPerThread = 4;
  static constexpr int kOneRunPerThread = 1;  // for bandwidth-bound loops (above)
  void parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& body,
                    int chunks_per_thread = kChunksPerThread);

  // parallel_for for a loop whose chunks each run for long (a batch's parts,
  // each a whole forward pass, with their kernels' loops in SerialScopes).
  // While it runs, another thread's loop does not wait for the pool (it could
  // wait a whole batch, where kernel-sized loops take turns): it runs on its
  // own thread, beside the pool's, sharing the cores, so that a generation
  // step goes on while a classification batch runs.
  void parallel_for_long_chunks(int64_t n, const std::function<void(int64_t, int64_t)>& body);

  // While one lives, the calling thread's loops run on it alone: body(0, n),
  // without the pool (and without its lock: it may be one of the pool's
  // threads, running a chunk of an outer loop). Scopes nest.
  class SerialScope {
   public:
    SerialScope();
    ~SerialScope();
    SerialScope(const SerialScope&) = delete;
    SerialScope& operator=(const SerialScope&) = delete;

   private:
    bool was_serial_;
  };

  // The process-wide pool used by the kernels; resized by set_threads().
  static ThreadPool& global();
  static void set_threads(int threads);  // <= 0: all cores

 private:
  void run_loop(int64_t n, const std::function<void(int64_t, int64_t)>& body, int chunks_per_thread,
                bool long_chunks);
  void worker();
  void run_chunks();

  std::vector<std::thread> workers_;
  std::mutex loop_mutex_;                    // one loop at a time
  std::atomic<bool> long_chunks_{false};  // the running loop is a parallel_for_long_chunks
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
