#include "tasks/batch_parts.h"

#include <algorithm>

namespace snapformer {

namespace {
// Parts per thread: more than one, so a thread slowed down (a vCPU taken
// away, a core busy with the server's I/O) leaves parts to the others.
// bench/load.sh's int8 row at 2 threads: 2, 4 and 8 parts alike within the
// VM's noise, all ahead of one.
constexpr int64_t kPartsPerThread = 4;
}  // namespace

std::vector<std::size_t> batch_part_bounds(std::span<const Encoding> encodings, int threads) {
  const std::size_t n = encodings.size();
  int64_t total = 0;
  for (const Encoding& e : encodings) total += static_cast<int64_t>(e.size());
  const int64_t parts = std::min({static_cast<int64_t>(n), kPartsPerThread * threads, total / kMinPartTokens});
  if (threads <= 1 || parts <= 1) return {0, n};
  // Cut after the input where the running total passes the next p/parts of it.
  std::vector<std::size_t> bounds{0};
  std::vector<int64_t> tokens;  // of each part
  int64_t seen = 0, at_last_cut = 0;
  for (std::size_t i = 0; i < n; ++i) {
    seen += static_cast<int64_t>(encodings[i].size());
    const auto cuts = static_cast<int64_t>(bounds.size());
    if (i + 1 == n || (cuts < parts && seen * parts >= total * cuts)) {
      bounds.push_back(i + 1);
      tokens.push_back(seen - at_last_cut);
      at_last_cut = seen;
    }
  }
  // The parts as the pool hands them out, in order, each to the thread free
  // first: if the last thread then finishes more than a tenth after an even
  // split of the tokens would, the per-kernel split is the faster one.
  std::vector<int64_t> busy(static_cast<std::size_t>(threads), 0);
  for (const int64_t t : tokens) *std::min_element(busy.begin(), busy.end()) += t;
  const int64_t finish = *std::max_element(busy.begin(), busy.end());
  if (finish * 10 * threads > total * 11) return {0, n};
  return bounds;
}

}  // namespace snapformer
