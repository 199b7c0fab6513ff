#include "ops/threads.h"

#include <algorithm>
#include <thread>

#include "util/thread_pool.h"

namespace snapformer::ops {

void set_num_threads(int threads) {
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  ThreadPool::set_threads(threads);
}

int num_threads() { return ThreadPool::global().size(); }

}  // namespace snapformer::ops
