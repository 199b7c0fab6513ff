// The number of threads the kernels use: the size of ThreadPool::global().
// Default: all cores. Thread-safety: call before running models.
#pragma once

namespace snapformer::ops {

void set_num_threads(int threads);  // <= 0: all cores
int num_threads();

}  // namespace snapformer::ops
