// TokenSampler and the generation stop rules.
#include <set>

#include "runtime/sampling.h"
#include "tasks/pipeline.h"
#include "test_util.h"
#include "util/error.h"

namespace snapformer {
namespace {

std::vector<float> logits() { return {1.0f, 3.0f, 2.9f, -1.0f, 0.5f}; }

TEST(Sampling, GreedyPicksTheFirstMaximum) {
  GenerationOptions o;
  TokenSampler s(o);
  auto l = logits();
  EXPECT_EQ(s.next(l, {}), 1);
  std::vector<float> tie = {2.0f, 5.0f, 5.0f};
  EXPECT_EQ(s.next(tie, {}), 1);
}

TEST(Sampling, RepetitionPenaltyDemotesSeenTokens) {
  GenerationOptions o;
  o.repetition_penalty = 1.5f;
  TokenSampler s(o);
  auto l = logits();
  EXPECT_EQ(s.next(l, {1}), 2);  // 3.0 / 1.5 = 2.0 < 2.9
  EXPECT_FLOAT_EQ(l[1], 2.0f);
}

TEST(Sampling, TopKOneAndTinyTopPAreGreedy) {
  for (int variant = 0; variant < 2; ++variant) {
    GenerationOptions o;
    o.do_sample = true;
    o.seed = 3;
    if (variant == 0) o.top_k = 1;
    else o.top_p = 0.01f;
    TokenSampler s(o);
    for (int i = 0; i < 20; ++i) {
      auto l = logits();
      EXPECT_EQ(s.next(l, {}), 1);
    }
  }
}

TEST(Sampling, TopKLimitsTheCandidates) {
  GenerationOptions o;
  o.do_sample = true;
  o.top_k = 2;
  o.seed = 11;
  TokenSampler s(o);
  std::set<int32_t> seen;
  for (int i = 0; i < 200; ++i) {
    auto l = logits();
    seen.insert(s.next(l, {}));
  }
  EXPECT_EQ(seen, (std::set<int32_t>{1, 2}));
}

TEST(Sampling, SameSeedSameSequence) {
  GenerationOptions o;
  o.do_sample = true;
  o.temperature = 2.0f;
  o.seed = 1234;
  TokenSampler a(o), b(o);
  std::vector<int32_t> xs, ys;
  for (int i = 0; i < 50; ++i) {
    auto l1 = logits(), l2 = logits();
    xs.push_back(a.next(l1, {}));
    ys.push_back(b.next(l2, {}));
  }
  EXPECT_EQ(xs, ys);
  EXPECT_GT(std::set<int32_t>(xs.begin(), xs.end()).size(), 2u);  // temperature 2 spreads the choices
}

TEST(Sampling, InvalidOptionsAreRejected) {
  GenerationOptions o;
  o.temperature = 0;
  EXPECT_THROW(validate(o), Error);
  o = {};
  o.top_p = 1.5f;
  EXPECT_THROW(validate(o), Error);
  o = {};
  o.max_new_tokens = -1;
  EXPECT_THROW(validate(o), Error);
}

TEST(Generation, StopSequenceAndEosEndTheText) {
  const auto pipeline = Pipeline::load(std::string(SNAPFORMER_TEST_DATA) + "/../../models/fortune-gpt2");
  GenerationOptions o;
  o.max_new_tokens = 40;
  const GenerateResult full = pipeline->generate(TaskInput{.text = "The meaning of life is"}, o);
  ASSERT_GE(full.text.size(), 4u);
  o.stop = {full.text.substr(2, 2)};
  const GenerateResult stopped = pipeline->generate(TaskInput{.text = "The meaning of life is"}, o);
  EXPECT_EQ(stopped.finish_reason, "stop_sequence");
  EXPECT_EQ(stopped.text, full.text.substr(0, full.text.find(o.stop[0])));
  EXPECT_TRUE(full.finish_reason == "eos_token" || full.finish_reason == "length");
  if (full.finish_reason == "eos_token") {
    EXPECT_EQ(full.token_ids.back(), 50256);
  }
  // Streaming pieces add up to the text.
  std::string streamed;
  o.stop.clear();
  pipeline->generate(TaskInput{.text = "The meaning of life is"}, o, [&](int32_t, const std::string& piece, float) {
    streamed += piece;
    return true;
  });
  EXPECT_EQ(streamed, full.text);
}

}  // namespace
}  // namespace snapformer
