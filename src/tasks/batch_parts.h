// Batch parts: a batch of many inputs cut into parts that run at once, each
// part's whole forward pass on one thread.
//
// Every kernel splits its rows over the pool's threads and waits for the
// slowest at its end: about ten barriers per layer. A batch of many short
// inputs (a server's dynamic batch of 8-16-token requests) gives each kernel
// little work between barriers, and the waiting, the spinning and a thread
// preempted by the server's I/O add up. As parts, the threads meet once per
// batch. Measured (docs/BENCHMARKS.md, fourteenth session, old and new
// alternating): bench/load.sh's int8 distilbert row, 2 threads, 726-736 ->
// 863-871 requests/s; batches of long inputs (8 x 128 tokens) equal.
//
// Thread-safety: both functions may be called from any thread; run_in_parts
// runs the parts on ThreadPool::global() as one parallel_for_long_chunks (it
// waits for another thread's loop to end; a loop another thread starts
// meanwhile runs on that thread instead of waiting for the batch).
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <span>
#include <utility>
#include <vector>

#include "tokenizers/encoding.h"
#include "util/thread_pool.h"

namespace snapformer {

// Where to cut: part p is encodings [bounds[p], bounds[p + 1]), parts of
// whole inputs with about equal tokens. One part (the batch whole, its
// kernels split over the threads) when `threads` is 1, when there are too
// few tokens to give each part kMinPartTokens, or when the parts cannot
// keep every thread busy to the end (few inputs, or one much longer than
// the rest): then the per-kernel split finishes sooner.
std::vector<std::size_t> batch_part_bounds(std::span<const Encoding> encodings, int threads);

// Tokens below which a part's kernels run too few rows to use the core well.
inline constexpr int64_t kMinPartTokens = 32;

// run_part(part) for every part of batch_part_bounds(encodings, pool's
// threads), each on one of the pool's threads inside a SerialScope (its
// kernels' loops run on that thread alone), and its results concatenated
// in order: one Result per encoding, as run_part(encodings) would give. An
// exception from a part is rethrown here once every part has finished.
template <typename Result, typename RunPart>
std::vector<Result> run_in_parts(std::span<const Encoding> encodings, const RunPart& run_part) {
  ThreadPool& pool = ThreadPool::global();
  const std::vector<std::size_t> bounds = batch_part_bounds(encodings, pool.size());
  const std::size_t parts = bounds.size() - 1;
  if (parts <= 1) return run_part(encodings);
  std::vector<std::vector<Result>> results(parts);
  std::vector<std::exception_ptr> errors(parts);  // a worker thread must not throw out of the loop
  pool.parallel_for_long_chunks(static_cast<int64_t>(parts), [&](int64_t first, int64_t last) {
    ThreadPool::SerialScope serial;
    for (int64_t p = first; p < last; ++p) {
      const auto i = static_cast<std::size_t>(p);
      try {
        results[i] = run_part(encodings.subspan(bounds[i], bounds[i + 1] - bounds[i]));
      } catch (...) {
        errors[i] = std::current_exception();
      }
    }
  });
  for (const std::exception_ptr& error : errors)
    if (error) std::rethrow_exception(error);
  std::vector<Result> all;
  all.reserve(encodings.size());
  for (std::vector<Result>& part : results)
    for (Result& result : part) all.push_back(std::move(result));
  return all;
}

}  // namespace snapformer
