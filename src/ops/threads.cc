#include "ops/threads.h"

#include <cblas.h>

#include <algorithm>
#include <thread>

namespace snapformer::ops {

void set_num_threads(int threads) {
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  openblas_set_num_threads(threads);
}

int num_threads() { return openblas_get_num_threads(); }

}  // namespace snapformer::ops
