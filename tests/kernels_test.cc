// The CPU kernels against plain reference loops, on every instruction set
// this CPU can execute (AVX-512, AVX2, portable), over shapes with tails.
#include <cmath>
#include <random>

#include "ops/attention.h"
#include "ops/cpu.h"
#include "ops/elementwise.h"
#include "ops/linear.h"
#include "ops/small_gemm.h"
#include "test_util.h"
#include "util/thread_pool.h"

namespace snapformer {
namespace {

std::vector<float> random_values(std::size_t n, std::mt19937& rng) {
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

class KernelIsa : public ::testing::TestWithParam<ops::Isa> {
 protected:
  void SetUp() override {
    if (!ops::cpu_supports(GetParam())) GTEST_SKIP() << "this CPU lacks " << ops::isa_name(GetParam());
    saved_ = ops::active_isa();
    ops::set_isa(GetParam());
  }
  void TearDown() override { ops::set_isa(saved_); }
  ops::Isa saved_ = ops::Isa::kPortable;
};

TEST_P(KernelIsa, SmallGemmMatchesReference) {
  std::mt19937 rng(7);
  for (int64_t m : {1, 2, 3, 4, 5, 7, 9, 16, 33})
    for (int64_t k : {1, 7, 16, 17, 48, 100})
      for (int64_t n : {1, 3, 4, 15, 16, 17, 63, 64, 65, 130}) {
        const auto x = random_values(static_cast<std::size_t>(m * k), rng);
        const auto w = random_values(static_cast<std::size_t>(n * k), rng);
        const auto bias = random_values(static_cast<std::size_t>(n), rng);
        std::vector<float> nt(static_cast<std::size_t>(m * n)), nn(nt.size());
        ops::small_gemm_nt(x.data(), m, k, w.data(), n, bias.data(), nt.data());
        ops::small_gemm_nn(x.data(), m, k, w.data(), n, bias.data(), nn.data());
        for (int64_t r = 0; r < m; ++r)
          for (int64_t c = 0; c < n; ++c) {
            double ref_nt = bias[c], ref_nn = bias[c];
            for (int64_t i = 0; i < k; ++i) {
              ref_nt += static_cast<double>(x[r * k + i]) * w[c * k + i];
              ref_nn += static_cast<double>(x[r * k + i]) * w[i * n + c];
            }
            ASSERT_NEAR(nt[r * n + c], ref_nt, 1e-4) << "nt m=" << m << " k=" << k << " n=" << n;
            ASSERT_NEAR(nn[r * n + c], ref_nn, 1e-4) << "nn m=" << m << " k=" << k << " n=" << n;
          }
      }
}

TEST_P(KernelIsa, LinearAgreesAcrossSmallAndBlasPaths) {
  std::mt19937 rng(11);
  const int64_t k = 40, n = 24;
  const auto w = random_values(static_cast<std::size_t>(n * k), rng);
  const auto bias = random_values(static_cast<std::size_t>(n), rng);
  for (bool input_major : {false, true}) {
    ops::Linear linear{w.data(), bias.data(), k, n, input_major};
    const int64_t rows = ops::kSmallGemmRows + 5;  // BLAS path
    const auto x = random_values(static_cast<std::size_t>(rows * k), rng);
    std::vector<float> all(static_cast<std::size_t>(rows * n)), few(all.size());
    linear.apply(x.data(), rows, all.data());
    for (int64_t r = 0; r < rows; r += 5) linear.apply(x.data() + r * k, std::min<int64_t>(5, rows - r), few.data() + r * n);
    for (std::size_t i = 0; i < all.size(); ++i) ASSERT_NEAR(all[i], few[i], 1e-4);
  }
}

INSTANTIATE_TEST_SUITE_P(AllIsas, KernelIsa, ::testing::Values(ops::Isa::kPortable, ops::Isa::kAvx2, ops::Isa::kAvx512),
                         [](const auto& info) { return std::string(ops::isa_name(info.param)); });

TEST(ThreadPool, CoversEveryIndexOnce) {
  ThreadPool pool(3);
  for (int64_t n : {0, 1, 2, 5, 100}) {
    std::vector<int> hits(static_cast<std::size_t>(n), 0);
    pool.parallel_for(n, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) hits[static_cast<std::size_t>(i)]++;
    });
    for (int h : hits) EXPECT_EQ(h, 1);
  }
}

}  // namespace
}  // namespace snapformer

namespace snapformer {
namespace {

TEST_P(KernelIsa, GeluErfMatchesStdErf) {
  std::vector<float> x;
  for (float v = -12.0f; v <= 12.0f; v += 0.001f) x.push_back(v);
  x.push_back(-100.0f);
  x.push_back(100.0f);
  std::vector<float> y = x;
  ops::activate(ops::Activation::kGeluErf, y.data(), static_cast<int64_t>(y.size()));
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double expected = 0.5 * x[i] * (1.0 + std::erf(x[i] / std::sqrt(2.0)));
    ASSERT_NEAR(y[i], expected, 2e-6 * std::max(1.0, std::abs(expected))) << "x = " << x[i];
  }
}

}  // namespace
}  // namespace snapformer

namespace snapformer {
namespace {

// The row-at-a-time and the two-GEMM attention give the same result, causal or not.
TEST(Attention, GemmFormMatchesRowForm) {
  std::mt19937 rng(3);
  for (bool causal : {false, true})
    for (int64_t queries : {70, 130}) {
      const int64_t keys = causal ? queries + 5 : queries, heads = 3, d = 8, stride = heads * d;
      const auto q = random_values(static_cast<std::size_t>(keys * stride), rng);
      const auto k = random_values(static_cast<std::size_t>(keys * stride), rng);
      const auto v = random_values(static_cast<std::size_t>(keys * stride), rng);
      const ops::AttentionShape shape{heads, d, stride, stride, stride, 0};
      std::vector<float> fast(static_cast<std::size_t>(queries * stride)), scratch(static_cast<std::size_t>(keys));
      ops::attend(q.data(), k.data(), v.data(), queries, keys, shape, causal, 0.3f, fast.data(), scratch.data());
      // Reference: one query at a time (below the GEMM threshold).
      std::vector<float> slow(fast.size());
      for (int64_t i = 0; i < queries; ++i) {
        const int64_t visible_keys = causal ? keys - queries + i + 1 : keys;
        ops::attend(q.data() + i * stride, k.data(), v.data(), 1, visible_keys, shape, false, 0.3f,
                    slow.data() + i * stride, scratch.data());
      }
      for (std::size_t i = 0; i < fast.size(); ++i) ASSERT_NEAR(fast[i], slow[i], 1e-5) << "causal " << causal;
    }
}

}  // namespace
}  // namespace snapformer
