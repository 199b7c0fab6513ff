// ThreadPool::parallel_for: every index exactly once, loops from several
// threads at once, chunks handed out on demand (a slowed thread's share
// goes to the others), SerialScope's loops on the calling thread alone, and
// loops beside a loop of long chunks on their callers' threads.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "util/thread_pool.h"

namespace snapformer {
namespace {

TEST(ThreadPool, EveryIndexExactlyOnce) {
  for (int threads : {1, 2, 3, 5}) {
    ThreadPool pool(threads);
    for (int64_t n : {int64_t{0}, int64_t{1}, int64_t{2}, int64_t{7}, int64_t{64}, int64_t{1001}}) {
      std::vector<std::atomic<int>> visits(static_cast<std::size_t>(n));
      pool.parallel_for(n, [&](int64_t begin, int64_t end) {
        ASSERT_LT(begin, end);
        for (int64_t i = begin; i < end; ++i) visits[static_cast<std::size_t>(i)].fetch_add(1);
      });
      for (int64_t i = 0; i < n; ++i)
        ASSERT_EQ(visits[static_cast<std::size_t>(i)].load(), 1) << "threads " << threads << " n " << n << " i " << i;
    }
  }
}

TEST(ThreadPool, LoopsFromSeveralThreadsAtOnce) {
  ThreadPool pool(3);
  std::atomic<int64_t> total{0};
  std::vector<std::thread> callers;
  for (int c = 0; c < 4; ++c)
    callers.emplace_back([&] {
      for (int loop = 0; loop < 200; ++loop)
        pool.parallel_for(37, [&](int64_t begin, int64_t end) { total.fetch_add(end - begin); });
    });
  for (std::thread& t : callers) t.join();
  EXPECT_EQ(total.load(), int64_t{4} * 200 * 37);
}

// With a fixed split each of 2 threads would run 4 of 8 indices whatever
// happened; handed out on demand, the thread that is not held up by index 0
// runs the rest meanwhile.
TEST(ThreadPool, ASlowedThreadLeavesItsShareToTheOthers) {
  ThreadPool pool(2);
  std::mutex mutex;
  std::map<std::thread::id, int> ran;
  std::thread::id slowed;
  pool.parallel_for(8, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      {
        std::lock_guard<std::mutex> lock(mutex);
        ++ran[std::this_thread::get_id()];
        if (i == 0) slowed = std::this_thread::get_id();
      }
      if (i == 0) std::this_thread::sleep_for(std::chrono::milliseconds(300));
    }
  });
  int others = 0;
  for (const auto& [id, count] : ran)
    if (id != slowed) others += count;
  EXPECT_GE(others, 6) << "the thread not held up by index 0 ran only " << others << " of 8";
}

// How many threads run a loop of 64 indices that take 2 ms each.
std::size_t threads_sharing_a_loop(ThreadPool& pool) {
  std::mutex mutex;
  std::map<std::thread::id, int> ran;
  pool.parallel_for(64, [&](int64_t begin, int64_t end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    std::lock_guard<std::mutex> lock(mutex);
    ran[std::this_thread::get_id()] += static_cast<int>(end - begin);
  });
  return ran.size();
}

// Whether a loop of n indices runs as one call body(0, n) on the calling thread.
bool runs_whole_on_this_thread(ThreadPool& pool, int64_t n) {
  const auto caller = std::this_thread::get_id();
  std::atomic<int> calls{0}, whole_here{0};
  pool.parallel_for(n, [&](int64_t begin, int64_t end) {
    calls++;
    whole_here += begin == 0 && end == n && std::this_thread::get_id() == caller;
  });
  return calls.load() == 1 && whole_here.load() == 1;
}

// Inside a SerialScope a loop runs whole on the calling thread, and size()
// says so; scopes nest, and the pool is itself again after the outer one.
TEST(ThreadPool, SerialScopeRunsLoopsOnTheCallingThread) {
  ThreadPool pool(3);
  {
    ThreadPool::SerialScope serial;
    EXPECT_EQ(pool.size(), 1);
    {
      ThreadPool::SerialScope nested;
      EXPECT_EQ(pool.size(), 1);
    }
    EXPECT_EQ(pool.size(), 1) << "the outer scope still holds";
    EXPECT_TRUE(runs_whole_on_this_thread(pool, 1000));
  }
  EXPECT_EQ(pool.size(), 3);
  EXPECT_GT(threads_sharing_a_loop(pool), 1u) << "after the scope the loop is shared again";
}

// While a loop of long chunks holds the pool (a batch's parts), a loop that
// another thread starts does not wait for it: it runs whole on its own
// thread. (A loop of short chunks beside it still waits its turn: covered by
// LoopsFromSeveralThreadsAtOnce.)
TEST(ThreadPool, ALoopBesideLongChunksRunsOnItsCallersThread) {
  ThreadPool pool(2);
  std::atomic<int> started{0};
  std::thread batch([&] {
    pool.parallel_for_long_chunks(2, [&](int64_t, int64_t) {
      started++;
      std::this_thread::sleep_for(std::chrono::milliseconds(400));
    });
  });
  while (started.load() < 2) std::this_thread::yield();
  const auto t0 = std::chrono::steady_clock::now();
  const bool whole_here = runs_whole_on_this_thread(pool, 10);
  const auto waited = std::chrono::steady_clock::now() - t0;
  batch.join();
  EXPECT_TRUE(whole_here);
  EXPECT_LT(waited, std::chrono::milliseconds(200)) << "the loop waited for the long chunks";
  EXPECT_GT(threads_sharing_a_loop(pool), 1u) << "afterwards loops share the pool again";
}

}  // namespace
}  // namespace snapformer
