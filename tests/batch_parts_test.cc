// Batch parts (tasks/batch_parts.h): where a batch is cut, that the parts'
// results come back in order and equal the whole batch's, that each part
// runs on one thread (its kernels' loops serial), and that a part's error
// reaches the caller.
#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <stdexcept>
#include <thread>

#include "ops/threads.h"
#include "tasks/batch_parts.h"
#include "tasks/pipeline.h"
#include "test_util.h"

namespace snapformer {
namespace {

std::vector<Encoding> of_lengths(const std::vector<int>& lengths) {
  std::vector<Encoding> encodings(lengths.size());
  for (std::size_t i = 0; i < lengths.size(); ++i)
    for (int t = 0; t < lengths[i]; ++t) encodings[i].push(static_cast<int32_t>(i), "", {}, 0, 0, false);
  return encodings;
}

// The pool at `threads` for one test, then back as it was.
class PoolOf {
 public:
  explicit PoolOf(int threads) : previous_(ops::num_threads()) { ops::set_num_threads(threads); }
  ~PoolOf() { ops::set_num_threads(previous_); }

 private:
  int previous_;
};

TEST(BatchParts, ManyShortInputsBecomeEvenPartsFourPerThread) {
  const auto bounds = batch_part_bounds(of_lengths(std::vector<int>(48, 10)), 2);
  ASSERT_EQ(bounds.size(), 9u);  // 8 parts
  for (std::size_t p = 0; p + 1 < bounds.size(); ++p) EXPECT_EQ(bounds[p + 1] - bounds[p], 6u) << "part " << p;
}

TEST(BatchParts, StaysWholeWhereTheKernelsSplitBetter) {
  const std::vector<std::size_t> whole3{0, 3};
  EXPECT_EQ(batch_part_bounds(of_lengths({100, 100, 100}), 1), whole3) << "one thread";
  EXPECT_EQ(batch_part_bounds(of_lengths({20, 20, 20}), 2), whole3) << "parts under kMinPartTokens";
  EXPECT_EQ(batch_part_bounds(of_lengths({500, 12, 12}), 2), whole3) << "one input holds one thread past the rest";
  EXPECT_EQ(batch_part_bounds(of_lengths({128, 128, 128}), 2), whole3) << "3 equal parts keep 2 threads even";
  EXPECT_EQ(batch_part_bounds(of_lengths({128}), 4), (std::vector<std::size_t>{0, 1}));
  EXPECT_EQ(batch_part_bounds(of_lengths({128, 128, 128, 128}), 2), (std::vector<std::size_t>{0, 1, 2, 3, 4}));
}

// Whatever the lengths: parts of whole inputs, in order, none empty, at most
// four per thread, each of kMinPartTokens on average.
TEST(BatchParts, EveryInputInExactlyOnePart) {
  std::mt19937 rng(5);
  for (int trial = 0; trial < 2000; ++trial) {
    const int threads = 1 + static_cast<int>(rng() % 4);
    std::vector<int> lengths(1 + rng() % 64);
    int64_t total = 0;
    for (int& l : lengths) total += l = 1 + static_cast<int>(rng() % (rng() % 2 ? 16 : 200));
    const auto bounds = batch_part_bounds(of_lengths(lengths), threads);
    ASSERT_GE(bounds.size(), 2u);
    ASSERT_EQ(bounds.front(), 0u);
    ASSERT_EQ(bounds.back(), lengths.size());
    for (std::size_t p = 0; p + 1 < bounds.size(); ++p) ASSERT_LT(bounds[p], bounds[p + 1]);
    const std::size_t parts = bounds.size() - 1;
    ASSERT_LE(parts, static_cast<std::size_t>(4 * threads));
    if (parts > 1) {
      ASSERT_GE(total, static_cast<int64_t>(parts) * kMinPartTokens);
    }
  }
}

TEST(BatchParts, ResultsInOrderEachPartOnOneThread) {
  PoolOf pool(2);
  const std::vector<Encoding> encodings = of_lengths(std::vector<int>(40, 16));
  std::atomic<int> calls{0}, pool_sizes_seen_above_one{0};
  const std::vector<int32_t> firsts = run_in_parts<int32_t>(encodings, [&](std::span<const Encoding> part) {
    calls++;
    if (ThreadPool::global().size() != 1) pool_sizes_seen_above_one++;
    // A kernel's loop inside a part: on this thread, whole.
    const auto caller = std::this_thread::get_id();
    ThreadPool::global().parallel_for(100, [&](int64_t begin, int64_t end) {
      EXPECT_EQ(std::this_thread::get_id(), caller);
      EXPECT_EQ(begin, 0);
      EXPECT_EQ(end, 100);
    });
    std::vector<int32_t> out;
    for (const Encoding& e : part) out.push_back(e.ids[0]);
    return out;
  });
  EXPECT_EQ(calls.load(), 8);
  EXPECT_EQ(pool_sizes_seen_above_one.load(), 0);
  ASSERT_EQ(firsts.size(), encodings.size());
  for (std::size_t i = 0; i < firsts.size(); ++i) EXPECT_EQ(firsts[i], static_cast<int32_t>(i));
  EXPECT_EQ(ThreadPool::global().size(), 2) << "the scope ended with the parts";
}

TEST(BatchParts, APartsErrorReachesTheCallerAfterTheOthersFinish) {
  PoolOf pool(2);
  const std::vector<Encoding> encodings = of_lengths(std::vector<int>(40, 16));
  std::atomic<int> finished{0};
  EXPECT_THROW(run_in_parts<int>(encodings,
                                 [&](std::span<const Encoding> part) {
                                   if (part.front().ids[0] == 10) throw std::runtime_error("part failed");
                                   finished++;
                                   return std::vector<int>(part.size());
                                 }),
               std::runtime_error);
  EXPECT_EQ(finished.load(), 7);
}

// The lang-id demo model at 2 threads: a batch of 60 texts classified in
// parts gives each text the label and scores it gets alone.
TEST(BatchParts, ClassifyingInPartsMatchesEachInputAlone) {
  PoolOf pool(2);
  const auto pipeline = Pipeline::load(testing::repo_model("lang-id-bert"));
  std::vector<TaskInput> inputs;
  std::ifstream in(testing::data_path("demo/lang-id-test-head120.jsonl"));
  for (std::string line; inputs.size() < 60 && std::getline(in, line);)
    inputs.push_back(TaskInput{Json::parse(line)["text"].get<std::string>()});
  std::vector<Encoding> encodings;
  for (const TaskInput& input : inputs) encodings.push_back(pipeline->encode(input));
  ASSERT_GT(batch_part_bounds(encodings, 2).size(), 2u) << "the batch must be cut for this test to mean anything";
  const std::vector<ClassifyResult> together = pipeline->classify_encoded(encodings);
  ASSERT_EQ(together.size(), inputs.size());
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const ClassifyResult alone = pipeline->classify_encoded({encodings[i]}).front();
    EXPECT_EQ(together[i].label, alone.label) << "input " << i;
    ASSERT_EQ(together[i].logits.size(), alone.logits.size());
    for (std::size_t c = 0; c < alone.logits.size(); ++c)
      EXPECT_NEAR(together[i].logits[c], alone.logits[c], 1e-4f) << "input " << i << " class " << c;
  }
}

}  // namespace
}  // namespace snapformer
