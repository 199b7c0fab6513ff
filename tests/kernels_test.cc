// The CPU kernels against plain reference loops, on every instruction set
// this CPU can execute (AVX-512, AVX2, portable), over shapes with tails.
#include <bit>
#include <cmath>
#include <optional>
#include <random>
#include <tuple>

#include "ops/attention.h"
#include "ops/cpu.h"
#include "ops/elementwise.h"
#include "ops/int8_panels.h"
#include "ops/linear.h"
#include "ops/panel_gemm.h"
#include "ops/quantize.h"
#include "ops/small_gemm.h"
#include "ops/small_gemm_int8.h"
#include "ops/threads.h"
#include "isa_test.h"
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

class KernelIsa : public testing::EachIsa {};

// A float GEMM kernel with the signature of small_gemm_nn and panel_gemm_nt.
using FloatGemm = void (*)(const float*, int64_t, int64_t, const float*, int64_t, const float*, float*,
                           std::optional<ops::Activation>);

// Runs `gemm` on random x, w and bias of one shape, without and with a fused
// ReLU, and compares every output with the double-precision reference; w is
// [k, n] when `input_major`, else [n, k]. Outputs start at -7 so that one the
// kernel leaves unwritten fails.
void expect_gemm_matches_reference(FloatGemm gemm, bool input_major, int64_t m, int64_t k, int64_t n, bool with_bias,
                                   std::mt19937& rng) {
  const auto x = random_values(static_cast<std::size_t>(m * k), rng);
  const auto w = random_values(static_cast<std::size_t>(k * n), rng);
  const auto bias = random_values(static_cast<std::size_t>(n), rng);
  std::vector<float> y(static_cast<std::size_t>(m * n), -7.0f), relu(y.size(), -7.0f);
  gemm(x.data(), m, k, w.data(), n, with_bias ? bias.data() : nullptr, y.data(), std::nullopt);
  gemm(x.data(), m, k, w.data(), n, with_bias ? bias.data() : nullptr, relu.data(), ops::Activation::kRelu);
  for (int64_t r = 0; r < m; ++r)
    for (int64_t c = 0; c < n; ++c) {
      double expected = with_bias ? bias[c] : 0.0;
      for (int64_t i = 0; i < k; ++i)
        expected += static_cast<double>(x[r * k + i]) * (input_major ? w[i * n + c] : w[c * k + i]);
      ASSERT_NEAR(y[r * n + c], expected, 1e-4) << "m=" << m << " k=" << k << " n=" << n << " r=" << r << " c=" << c;
      ASSERT_NEAR(relu[r * n + c], std::max(expected, 0.0), 1e-4) << "relu m=" << m << " k=" << k << " n=" << n;
    }
}

TEST_P(KernelIsa, SmallGemmMatchesReference) {
  std::mt19937 rng(7);
  for (int64_t m : {1, 2, 3, 4, 5, 7, 9, 16, 33})
    for (int64_t k : {1, 7, 16, 17, 48, 100})
      for (int64_t n : {1, 3, 4, 15, 16, 17, 63, 64, 65, 130}) {
        const auto x = random_values(static_cast<std::size_t>(m * k), rng);
        const auto w = random_values(static_cast<std::size_t>(n * k), rng);
        const auto bias = random_values(static_cast<std::size_t>(n), rng);
        std::vector<float> nt(static_cast<std::size_t>(m * n));
        ops::small_gemm_nt(x.data(), m, k, w.data(), n, bias.data(), nt.data());
        for (int64_t r = 0; r < m; ++r)
          for (int64_t c = 0; c < n; ++c) {
            double ref_nt = bias[c];
            for (int64_t i = 0; i < k; ++i) ref_nt += static_cast<double>(x[r * k + i]) * w[c * k + i];
            ASSERT_NEAR(nt[r * n + c], ref_nt, 1e-4) << "nt m=" << m << " k=" << k << " n=" << n;
          }
      }
}

// The [k, n] form (GPT-2's Conv1D weights) on every path: row blocks of 3
// and their tails, 4-6 rows in registers, k not a multiple of 4 (weight rows
// past the 4 quarters) nor of the weight blocks,
// columns past the last whole vector, several column tasks, with and
// without bias, and the fused activation; on 1 thread, and with k split over
// 2 and 3 (slabs of unequal length, empty ones where k < 3).
TEST_P(KernelIsa, SmallGemmNnMatchesReference) {
  std::mt19937 rng(8);
  const int previous_threads = ops::num_threads();
  for (int threads : {1, 2, 3}) {
    ops::set_num_threads(threads);
    for (int64_t m : {int64_t{1}, int64_t{2}, int64_t{3}, int64_t{4}, int64_t{5}, int64_t{6}, int64_t{7},
                      ops::kSmallGemmNnRows})
      for (int64_t k : {1, 2, 5, 64, 67, 130})
        for (int64_t n : {1, 8, 13, 128, 136, 300})
          for (bool with_bias : {true, false})
            ASSERT_NO_FATAL_FAILURE(expect_gemm_matches_reference(ops::small_gemm_nn, true, m, k, n, with_bias, rng))
                << "threads=" << threads;
  }
  ops::set_num_threads(previous_threads);
}

// The small-row int8 kernel (AVX2, for row-major weights) computes the exact integer sums
// over the activation range it declares and the full s8 range (extremes
// included, where a wrong form would saturate), for K tails of every length
// and column ranges that start and end off the kernel's blocks.
TEST_P(KernelIsa, SmallInt8GemmIsExact) {
  const int64_t limit = ops::small_int8_gemm_rows();
  if (limit == 0) GTEST_SKIP() << "no small-row int8 kernel on " << ops::isa_name(GetParam());
  std::mt19937 rng(13);
  std::uniform_int_distribution<int> s8(-127, 127), extreme(0, 3);
  for (int64_t rows : {int64_t{1}, int64_t{2}, int64_t{3}, int64_t{4}, int64_t{5}, int64_t{9}, int64_t{33}, limit})
    for (int64_t k : {1, 15, 16, 17, 31, 32, 33, 64, 100, 771}) {
      const int64_t out = 11;
      const int levels = ops::small_int8_gemm_levels(rows);
      std::uniform_int_distribution<int> u8(0, levels);
      std::vector<std::uint8_t> x(static_cast<std::size_t>(rows * k));
      std::vector<std::int8_t> w(static_cast<std::size_t>(out * k));
      for (auto& v : x) v = static_cast<std::uint8_t>(extreme(rng) == 0 ? levels : u8(rng));
      for (auto& v : w) v = static_cast<std::int8_t>(extreme(rng) == 0 ? 127 : s8(rng));
      const int64_t c0 = 1, c1 = out;  // 10 columns from column 1: full blocks and a tail
      std::vector<std::int32_t> acc(static_cast<std::size_t>(rows * out), -1);
      ops::small_gemm_u8s8(x.data(), rows, k, w.data(), c0, c1, acc.data(), out);
      for (int64_t r = 0; r < rows; ++r) {
        EXPECT_EQ(acc[r * out], -1) << "column 0 is outside [c0, c1) and must stay untouched";
        for (int64_t c = c0; c < c1; ++c) {
          std::int64_t expected = 0;
          for (int64_t i = 0; i < k; ++i) expected += int64_t{x[r * k + i]} * w[c * k + i];
          ASSERT_EQ(acc[r * out + c], expected) << "rows=" << rows << " k=" << k << " r=" << r << " c=" << c;
        }
      }
    }
}

// VNNI panels hold every weight once, at the place the layout names, with
// zeros in the padding, and unpack to the weights they were packed from.
TEST(Int8Panels, PackAndUnpackAreInverse) {
  std::mt19937 rng(21);
  std::uniform_int_distribution<int> s8(-127, 127);
  for (const auto& [out, in] : std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {16, 4}, {17, 5}, {33, 771}, {48, 64}}) {
    std::vector<std::int8_t> w(static_cast<std::size_t>(out * in));
    for (auto& v : w) v = static_cast<std::int8_t>(s8(rng));
    const int64_t bytes = ops::int8_panel_bytes(out, in);
    EXPECT_EQ(bytes, (out + 15) / 16 * 16 * ((in + 3) / 4 * 4));
    std::vector<std::int8_t> panels(static_cast<std::size_t>(bytes), 99), back(w.size());
    ops::pack_int8_panels(w.data(), out, in, panels.data());
    const int64_t groups = (in + 3) / 4;
    for (int64_t c = 0; c < (out + 15) / 16 * 16; ++c)
      for (int64_t i = 0; i < groups * 4; ++i) {
        const std::int8_t packed = panels[static_cast<std::size_t>((c / 16 * groups + i / 4) * 64 + c % 16 * 4 + i % 4)];
        ASSERT_EQ(packed, c < out && i < in ? w[static_cast<std::size_t>(c * in + i)] : 0)
            << "out=" << out << " in=" << in << " c=" << c << " i=" << i;
      }
    ops::unpack_int8_panels(panels.data(), out, in, back.data());
    EXPECT_EQ(back, w) << "out=" << out << " in=" << in;
  }
}

// The panel GEMM computes the exact integer sums over the full u8 and s8
// ranges (extremes included; k <= 515 keeps every sum exact in float32, so
// the identity dequantization shows them), for row counts around its 8-row
// blocks, k off its 4-byte groups, and column ranges of whole panels, of
// panels left over from its 3- and 4-panel blocks, and of part of a panel at
// the end; columns outside [c0, c1) stay untouched. Then the same sums with
// scales, zero points, channel sums and a bias, against dequantize_columns.
TEST(Int8Panels, GemmIsExact) {
  if (!ops::int8_uses_vnni()) GTEST_SKIP() << "the int8 kernels do not take VNNI here";
  std::mt19937 rng(22);
  std::uniform_int_distribution<int> s8(-127, 127), u8(0, 255), extreme(0, 3);
  std::uniform_real_distribution<float> positive(0.01f, 1.0f);
  for (int64_t rows : {1, 2, 7, 8, 9, 16, 17, 33})
    for (int64_t k : {1, 3, 4, 5, 64, 515})
      for (const auto& [out, c0, c1] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{
               {16, 0, 16}, {211, 16, 211}, {211, 0, 128}, {100, 32, 100}, {300, 0, 288}}) {
        std::vector<std::uint8_t> x(static_cast<std::size_t>(rows * k + 3));  // 3 readable bytes after the rows
        std::vector<std::int8_t> w(static_cast<std::size_t>(out * k));
        for (auto& v : x) v = static_cast<std::uint8_t>(extreme(rng) == 0 ? 255 : u8(rng));
        for (auto& v : w) v = static_cast<std::int8_t>(extreme(rng) == 0 ? (s8(rng) < 0 ? -127 : 127) : s8(rng));
        std::vector<std::int8_t> panels(static_cast<std::size_t>(ops::int8_panel_bytes(out, k)));
        ops::pack_int8_panels(w.data(), out, k, panels.data());
        std::vector<std::int32_t> sums(static_cast<std::size_t>(rows * out));
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t c = 0; c < out; ++c)
            for (int64_t i = 0; i < k; ++i) sums[r * out + c] += int32_t{x[r * k + i]} * w[c * k + i];
        const std::vector<float> ones(static_cast<std::size_t>(std::max(rows, out)), 1.0f);
        const std::vector<std::int32_t> zeros(ones.size(), 0);
        std::vector<float> y(static_cast<std::size_t>(rows * out), -1.0f);
        ops::gemm_u8s8_panels(x.data(), rows, k, k, panels.data(), c0, c1,
                              {ones.data(), zeros.data(), ones.data(), zeros.data(), nullptr}, y.data(), out);
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t c = 0; c < out; ++c)
            ASSERT_EQ(y[r * out + c], c >= c0 && c < c1 ? static_cast<float>(sums[r * out + c]) : -1.0f)
                << "rows=" << rows << " k=" << k << " out=" << out << " [" << c0 << ", " << c1 << ") r=" << r << " c=" << c;

        std::vector<float> scale(static_cast<std::size_t>(rows)), weight_scale(static_cast<std::size_t>(out)), bias(weight_scale.size());
        std::vector<std::int32_t> zero(scale.size()), row_sum(weight_scale.size());
        for (auto& v : scale) v = positive(rng);
        for (auto& v : weight_scale) v = positive(rng);
        for (auto& v : bias) v = positive(rng) - 0.5f;
        for (auto& v : zero) v = u8(rng);
        for (int64_t c = 0; c < out; ++c)
          for (int64_t i = 0; i < k; ++i) row_sum[c] += w[c * k + i];
        std::vector<float> expected(y.size());
        ops::dequantize_columns(sums.data(), rows, c0, c1, out, scale.data(), zero.data(), weight_scale.data(),
                                row_sum.data(), bias.data(), expected.data());
        ops::gemm_u8s8_panels(x.data(), rows, k, k, panels.data(), c0, c1,
                              {scale.data(), zero.data(), weight_scale.data(), row_sum.data(), bias.data()}, y.data(), out);
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t c = c0; c < c1; ++c) {
            const float e = expected[r * out + c];
            ASSERT_NEAR(y[r * out + c], e, 1e-6f * std::max(1.0f, std::abs(e)))
                << "dequantized: rows=" << rows << " k=" << k << " out=" << out << " r=" << r << " c=" << c;
          }
      }
}

// The panel kernel: 16- and 24-token panels and padded ones (m = 1..57),
// k past the 8x8 transposes' blocks, column counts off the 12-row slabs and
// the 4- and 6-row tiles, several column tasks, bias or none, the fused
// activation.
TEST_P(KernelIsa, PanelGemmMatchesReference) {
  std::mt19937 rng(12);
  for (int64_t m : {1, 5, 8, 9, 13, 16, 17, 23, 24, 25, 32, 33, 40, 41, 57})
    for (int64_t k : {1, 7, 8, 9, 67})
      for (int64_t n : {1, 5, 7, 12, 13, 49, 100})
        for (bool with_bias : {true, false})
          ASSERT_NO_FATAL_FAILURE(expect_gemm_matches_reference(ops::panel_gemm_nt, false, m, k, n, with_bias, rng));
}

TEST_P(KernelIsa, LinearAgreesAcrossSmallAndBlasPaths) {
  std::mt19937 rng(11);
  const int64_t k = 40, n = 24;
  const auto w = random_values(static_cast<std::size_t>(n * k), rng);
  const auto bias = random_values(static_cast<std::size_t>(n), rng);
  for (bool input_major : {false, true}) {
    const auto linear = ops::Linear::fp32(w.data(), bias.data(), k, n, input_major);
    // Panels (AVX2) or BLAS, then BLAS on every ISA; 5 rows take the small-row kernels.
    for (int64_t rows : {ops::kSmallGemmRows + 5, ops::kPanelGemmMaxRows + 3}) {
      const auto x = random_values(static_cast<std::size_t>(rows * k), rng);
      std::vector<float> all(static_cast<std::size_t>(rows * n)), few(all.size());
      linear.apply(x.data(), rows, all.data());
      for (int64_t r = 0; r < rows; r += 5) linear.apply(x.data() + r * k, std::min<int64_t>(5, rows - r), few.data() + r * n);
      for (std::size_t i = 0; i < all.size(); ++i) ASSERT_NEAR(all[i], few[i], 1e-4) << "rows " << rows;
    }
  }
}

// Per-token activation quantization: every ISA's code gives the bytes of the
// portable form, and they are the documented rounding of x/scale + zero.
TEST_P(KernelIsa, ActivationQuantizationIsTheSameOnEveryPath) {
  std::mt19937 rng(11);
  for (int64_t cols : {1, 7, 16, 40, 768, 771, 3072})
    for (int levels : {127, 255}) {
      const int64_t rows = 5;
      auto x = random_values(static_cast<std::size_t>(rows * cols), rng);
      for (std::size_t i = 0; i < x.size(); i += 5) x[i] = std::abs(x[i]) * 4;  // skewed rows
      for (int64_t c = 0; c < cols; ++c) x[static_cast<std::size_t>(2 * cols + c)] = 0.25f;  // all positive
      std::vector<std::uint8_t> q(x.size()), q_portable(x.size());
      std::vector<float> scale(rows), scale_portable(rows);
      std::vector<std::int32_t> zero(rows), zero_portable(rows);
      ops::quantize_rows_uint8(x.data(), rows, cols, levels, q.data(), scale.data(), zero.data());
      const ops::Isa isa = ops::active_isa();
      ops::set_isa(ops::Isa::kPortable);
      ops::quantize_rows_uint8(x.data(), rows, cols, levels, q_portable.data(), scale_portable.data(), zero_portable.data());
      ops::set_isa(isa);
      ASSERT_EQ(q, q_portable) << "cols " << cols << " levels " << levels;
      ASSERT_EQ(scale, scale_portable);
      ASSERT_EQ(zero, zero_portable);
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c) {
          const float v = x[static_cast<std::size_t>(r * cols + c)];
          const double exact = v / scale[r] + zero[r];
          const int got = q[static_cast<std::size_t>(r * cols + c)];
          EXPECT_LE(got, levels);
          EXPECT_NEAR(got, std::clamp(exact, 0.0, static_cast<double>(levels)), 0.5 + 1e-3) << r << "," << c;
        }
    }
}

SNAPFORMER_FOR_EACH_ISA(KernelIsa);

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

// activate() over [-12, 12] in steps of 0.001 and at ±100, against a double
// reference: within 2e-6 relative (the vectorized exp/erf approximations),
// or for the short forms taken before a rounding, 6e-5 absolute (their
// fits: < 5e-5) and still 1e-5 relative past the clamp (GELU(x) ~ x).
void expect_activation_matches(ops::Activation activation, double (*reference)(double),
                               ops::ActivationAccuracy accuracy = ops::ActivationAccuracy::kFloat32) {
  std::vector<float> x;
  for (float v = -12.0f; v <= 12.0f; v += 0.001f) x.push_back(v);
  x.push_back(-100.0f);
  x.push_back(100.0f);
  std::vector<float> y = x;
  ops::activate(activation, y.data(), static_cast<int64_t>(y.size()), accuracy);
  const bool short_form = accuracy == ops::ActivationAccuracy::kBeforeRounding;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double expected = reference(x[i]);
    const double bound = short_form ? std::max(6e-5, 1e-5 * std::abs(expected)) : 2e-6 * std::max(1.0, std::abs(expected));
    ASSERT_NEAR(y[i], expected, bound) << "x = " << x[i];
  }
}

double gelu_erf_reference(double v) { return 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0))); }
double gelu_tanh_reference(double v) {
  return 0.5 * v * (1.0 + std::tanh(0.7978845608028654 * (v + 0.044715 * v * v * v)));
}

TEST_P(KernelIsa, GeluErfMatchesStdErf) {
  expect_activation_matches(ops::Activation::kGeluErf, gelu_erf_reference);
  expect_activation_matches(ops::Activation::kGeluErf, gelu_erf_reference, ops::ActivationAccuracy::kBeforeRounding);
}

TEST_P(KernelIsa, GeluTanhMatchesStdTanh) {
  expect_activation_matches(ops::Activation::kGeluTanh, gelu_tanh_reference);
  expect_activation_matches(ops::Activation::kGeluTanh, gelu_tanh_reference, ops::ActivationAccuracy::kBeforeRounding);
}

TEST_P(KernelIsa, SoftmaxMatchesStdExp) {
  std::mt19937 rng(9);
  for (int64_t n : {1, 7, 16, 33, 200}) {
    auto x = random_values(static_cast<std::size_t>(n), rng);
    for (float& v : x) v *= 20;
    if (n > 3) x[2] = -std::numeric_limits<float>::infinity();  // a masked position
    std::vector<double> expected(x.size());
    const double maximum = *std::max_element(x.begin(), x.end());
    double sum = 0;
    for (std::size_t i = 0; i < x.size(); ++i) sum += expected[i] = std::exp(x[i] - maximum);
    ops::softmax(x.data(), n);
    for (std::size_t i = 0; i < x.size(); ++i) ASSERT_NEAR(x[i], expected[i] / sum, 1e-6) << "n=" << n << " i=" << i;
  }
}

// [out, in] weights as the weight converters read them: unchanged, or
// transposed to [in, out] when `input_major` (GPT-2's Conv1D).
std::vector<float> in_weight_layout(const std::vector<float>& w, int64_t out, int64_t in, bool input_major) {
  std::vector<float> stored(w.size());
  for (int64_t n = 0; n < out; ++n)
    for (int64_t k = 0; k < in; ++k) stored[input_major ? k * out + n : n * in + k] = w[n * in + k];
  return stored;
}

// Weight quantization (at load, and by `snapformer quantize`) gives the same
// bytes, scales and sums on every ISA and in both layouts as the plain
// formula: channel lengths with and without a 16-value tail, channel counts
// that do not fill the last task, an all-zero channel, and exact .5 ties
// (scale 1: they round to even).
TEST_P(KernelIsa, WeightQuantizationFollowsTheFormula) {
  std::mt19937 rng(13);
  for (const auto& [out, in] : std::vector<std::pair<int64_t, int64_t>>{{3, 8}, {37, 45}, {40, 768}}) {
    std::vector<float> w(static_cast<std::size_t>(out * in));  // [out, in]
    std::uniform_real_distribution<float> d(-2.0f, 2.0f);
    for (float& v : w) v = d(rng);
    for (int64_t k = 0; k < in; ++k) w[k] = static_cast<float>(k % 9) - 4.5f;  // ties: ±0.5 .. ±4.5
    w[0] = 127.0f;                                                          // channel 0: scale exactly 1
    for (int64_t k = 0; k < in; ++k) w[static_cast<std::size_t>(in + k)] = 0.0f;  // channel 1: all zero
    for (bool input_major : {false, true}) {
      const std::vector<float> stored = in_weight_layout(w, out, in, input_major);
      std::vector<std::int8_t> q(w.size());
      std::vector<float> scale(static_cast<std::size_t>(out));
      std::vector<std::int32_t> sum(static_cast<std::size_t>(out));
      ops::quantize_weight_int8(stored.data(), out, in, input_major, q.data(), scale.data(), sum.data());
      for (int64_t n = 0; n < out; ++n) {
        float max_abs = 0;
        for (int64_t k = 0; k < in; ++k) max_abs = std::max(max_abs, std::fabs(w[n * in + k]));
        const float s = max_abs / 127.0f, inverse = s > 0 ? 1.0f / s : 0.0f;
        ASSERT_EQ(scale[n], s) << "out=" << out << " in=" << in << " n=" << n;
        std::int32_t expected_sum = 0;
        for (int64_t k = 0; k < in; ++k) {
          const auto expected =
              static_cast<std::int8_t>(std::clamp(static_cast<int>(std::nearbyint(w[n * in + k] * inverse)), -127, 127));
          expected_sum += expected;
          ASSERT_EQ(q[n * in + k], expected) << "out=" << out << " in=" << in << " input_major=" << input_major
                                             << " n=" << n << " k=" << k;
        }
        ASSERT_EQ(sum[n], expected_sum) << "n=" << n;
      }
      EXPECT_EQ(q[1], -4);  // -3.5 rounds to even
      EXPECT_EQ(q[2], -2);  // -2.5 rounds to even
    }
  }
}

// bf16 weights at load: float_to_bfloat16 of every weight, in both layouts,
// on every ISA, for ordinary values, ties, NaNs, infinities and the largest
// float (which rounds up to infinity).
TEST_P(KernelIsa, WeightBfloat16FollowsTheScalarRounding) {
  std::mt19937 rng(14);
  for (const auto& [out, in] : std::vector<std::pair<int64_t, int64_t>>{{3, 7}, {37, 45}, {40, 768}}) {
    std::vector<float> w = random_values(static_cast<std::size_t>(out * in), rng);  // [out, in]
    const float specials[] = {1.00390625f, 1.01171875f, -1.00390625f, std::numeric_limits<float>::quiet_NaN(),
                              std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                              std::numeric_limits<float>::max(), 0.0f, -0.0f,
                              std::bit_cast<float>(0x7f800001u)};  // a NaN whose top 16 bits read as infinity
    for (std::size_t i = 0; i < std::size(specials) && i < w.size(); ++i) w[i * 5 % w.size()] = specials[i];
    for (bool input_major : {false, true}) {
      const std::vector<float> stored = in_weight_layout(w, out, in, input_major);
      std::vector<std::uint16_t> bf16(w.size(), 0xdead);
      ops::weight_to_bfloat16(stored.data(), out, in, input_major, bf16.data());
      for (std::size_t i = 0; i < w.size(); ++i)
        ASSERT_EQ(bf16[i], ops::float_to_bfloat16(w[i]))
            << "out=" << out << " in=" << in << " input_major=" << input_major << " at " << i << " value " << w[i];
    }
  }
  EXPECT_EQ(ops::float_to_bfloat16(std::numeric_limits<float>::max()), 0x7f80);  // rounds up to infinity
}

// The maximum softmax shifts by must be the true one wherever it sits (any of
// the 16 lanes, the tail): shifted by a smaller value, exp(1100) overflows and
// the row turns to NaN.
TEST_P(KernelIsa, SoftmaxFindsTheMaximumInEveryLane) {
  for (int64_t n : {5, 16, 37, 64}) {
    for (int64_t at = 0; at < n; ++at) {
      std::vector<float> x(static_cast<std::size_t>(n));
      for (int64_t i = 0; i < n; ++i) x[i] = -1000.0f + 0.5f * static_cast<float>(i % 7);
      x[at] = 100.0f;
      ops::softmax(x.data(), n);
      // (The vector exp flushes exp(-1100) to ~1e-38 rather than 0.)
      for (int64_t i = 0; i < n; ++i) ASSERT_NEAR(x[i], i == at ? 1.0f : 0.0f, 1e-30) << "n=" << n << " max at " << at;
    }
  }
}

// LayerNorm rows (with and without the residual added first) against a double
// reference, at widths with and without a tail past the 16-value blocks; the
// values sit around 3 so that an error in the centering shows.
TEST_P(KernelIsa, LayerNormMatchesDoubleReference) {
  std::mt19937 rng(12);
  for (int64_t dim : {8, 37, 768}) {
    for (bool with_residual : {false, true}) {
      const int64_t rows = 3;
      auto x = random_values(static_cast<std::size_t>(rows * dim), rng);
      for (float& v : x) v += 3.0f;
      const auto residual = random_values(x.size(), rng), gamma = random_values(static_cast<std::size_t>(dim), rng),
                 beta = random_values(static_cast<std::size_t>(dim), rng);
      std::vector<float> out(x.size(), -7.0f);
      const float eps = 1e-5f;
      ops::layer_norm(x.data(), with_residual ? residual.data() : nullptr, rows, dim, gamma.data(), beta.data(), eps,
                      out.data());
      for (int64_t r = 0; r < rows; ++r) {
        std::vector<double> v(static_cast<std::size_t>(dim));
        double mean = 0, variance = 0;
        for (int64_t c = 0; c < dim; ++c) mean += v[c] = x[r * dim + c] + (with_residual ? residual[r * dim + c] : 0.0);
        mean /= static_cast<double>(dim);
        for (double value : v) variance += (value - mean) * (value - mean);
        const double inv = 1.0 / std::sqrt(variance / static_cast<double>(dim) + eps);
        for (int64_t c = 0; c < dim; ++c)
          ASSERT_NEAR(out[r * dim + c], (v[c] - mean) * inv * gamma[c] + beta[c], 2e-5)
              << "dim=" << dim << " residual=" << with_residual << " r=" << r << " c=" << c;
      }
    }
  }
}

}  // namespace
}  // namespace snapformer

namespace snapformer {
namespace {

// Attention from 64 queries on (the tiled one-pass kernel on AVX-512 for head
// sizes 16/32/64/128, else two GEMMs around a row softmax) gives the
// row-at-a-time result, causal or not, with a KV-cache offset, strided rows,
// key counts with and without a partial last tile, and scores spread wide
// (score standard deviation ~2.7: the online softmax rescales earlier tiles).
class AttentionIsa : public testing::EachIsa {};

// Random Q rows and K/V rows of `stride` floats.
struct RandomQkv {
  std::vector<float> q, k, v;
  RandomQkv(int64_t query_rows, int64_t key_rows, int64_t stride, std::mt19937& rng)
      : q(random_values(static_cast<std::size_t>(query_rows * stride), rng)),
        k(random_values(static_cast<std::size_t>(key_rows * stride), rng)),
        v(random_values(static_cast<std::size_t>(key_rows * stride), rng)) {}
};

// K or V rows of `keys` positions with `heads` heads side by side (row
// stride heads * d) laid out as a KV cache does: head after head, room for
// `capacity` positions each, every value through `convert`, `fill` past `keys`.
template <typename T, typename Convert>
std::vector<T> head_after_head(const std::vector<float>& rows, int64_t keys, int64_t heads, int64_t d,
                               int64_t capacity, T fill, Convert convert) {
  std::vector<T> out(static_cast<std::size_t>(heads * capacity * d), fill);
  for (int64_t j = 0; j < keys; ++j)
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t c = 0; c < d; ++c) out[(h * capacity + j) * d + c] = convert(rows[(j * heads + h) * d + c]);
  return out;
}

TEST_P(AttentionIsa, ManyQueriesMatchTheRowForm) {
  std::mt19937 rng(3);
  for (int64_t d : {8, 16, 64, 128})
    for (bool causal : {false, true})
      for (int64_t queries : {64, 70, 130, 200})
        for (float spread : {1.0f, 8.0f}) {
          const float scale = spread / std::sqrt(static_cast<float>(d));
          const int64_t keys = causal ? queries + 5 : queries, heads = 3, stride = heads * d + 5, out_stride = heads * d;
          const auto [q, k, v] = RandomQkv(keys, keys, stride, rng);
          const ops::AttentionShape shape{heads, d, stride, stride, out_stride, 0};
          std::vector<float> fast(static_cast<std::size_t>(queries * out_stride));
          ops::attend(q.data(), k.data(), v.data(), queries, keys, shape, causal, scale, fast.data());
          // Reference: one query at a time (below the many-query threshold).
          std::vector<float> slow(fast.size());
          for (int64_t i = 0; i < queries; ++i) {
            const int64_t visible_keys = causal ? keys - queries + i + 1 : keys;
            ops::attend(q.data() + i * stride, k.data(), v.data(), 1, visible_keys, shape, false, scale,
                        slow.data() + i * out_stride);
          }
          for (std::size_t i = 0; i < fast.size(); ++i)
            ASSERT_NEAR(fast[i], slow[i], 1e-5 + 1e-4 * std::fabs(slow[i])) << "d " << d << " causal " << causal << " queries " << queries
                                                << " spread " << spread;
        }
}

// Attention of query i of head h in double precision: the `d` outputs.
std::vector<double> reference_attention(const RandomQkv& x, int64_t i, int64_t h, int64_t visible, int64_t d,
                                        int64_t stride, float scale) {
  std::vector<double> p(static_cast<std::size_t>(visible));
  double top = -1e300, total = 0;
  for (int64_t j = 0; j < visible; ++j) {
    double score = 0;
    for (int64_t c = 0; c < d; ++c) score += double{x.q[i * stride + h * d + c]} * x.k[j * stride + h * d + c];
    p[j] = score * scale;
    top = std::max(top, p[j]);
  }
  for (double& e : p) total += (e = std::exp(e - top));
  std::vector<double> out(static_cast<std::size_t>(d), 0.0);
  for (int64_t c = 0; c < d; ++c)
    for (int64_t j = 0; j < visible; ++j) out[c] += p[j] / total * x.v[j * stride + h * d + c];
  return out;
}

// Few queries (decoding, short inputs): the row form on every ISA against a
// double-precision reference, for every head size class (AVX2 register
// kernels for 8-64, the generic form else), causal or not, with fewer
// queries than keys as in decoding.
TEST_P(AttentionIsa, FewQueriesMatchAReference) {
  std::mt19937 rng(4);
  for (int64_t d : {8, 12, 16, 32, 64, 128})
    for (bool causal : {false, true})
      for (const auto& [queries, keys] : std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {1, 37}, {5, 5}, {7, 20}, {33, 33}}) {
        const float scale = 3.0f / std::sqrt(static_cast<float>(d));
        const int64_t heads = 2, stride = heads * d + 3, out_stride = heads * d;
        const RandomQkv x(queries, keys, stride, rng);
        const ops::AttentionShape shape{heads, d, stride, stride, out_stride, 0};
        std::vector<float> out(static_cast<std::size_t>(queries * out_stride));
        ops::attend(x.q.data(), x.k.data(), x.v.data(), queries, keys, shape, causal, scale, out.data());
        for (int64_t h = 0; h < heads; ++h)
          for (int64_t i = 0; i < queries; ++i) {
            const int64_t visible = causal ? keys - queries + i + 1 : keys;
            const std::vector<double> expected = reference_attention(x, i, h, visible, d, stride, scale);
            for (int64_t c = 0; c < d; ++c)
              ASSERT_NEAR(out[i * out_stride + h * d + c], expected[c], 1e-5 + 1e-4 * std::fabs(expected[c]))
                  << "d " << d << " causal " << causal << " queries " << queries << " keys " << keys;
          }
      }
}

// Attention for bf16 and int8 models (products in bf16 where the CPU has
// AVX512-BF16, from 16 queries on) against the double-precision reference:
// within bf16's rounding (8 significant bits of Q, K, the softmax numerators
// and V; float32 sums), for every tiled head size, causal or not, partial
// tiles, odd key counts (a pair with one key), a KV-cache offset and wide
// scores. The float32 form of the same inputs stays 100x closer (and where
// bf16 runs, at least 10x closer than it).
TEST_P(AttentionIsa, Bf16ProductsStayWithinBf16Rounding) {
  std::mt19937 rng(8);
  for (int64_t d : {16, 32, 64, 128})
    for (bool causal : {false, true})
      for (const auto& [queries, keys] : std::vector<std::pair<int64_t, int64_t>>{{16, 16}, {33, 33}, {20, 85}, {130, 130}})
        for (float spread : {1.0f, 8.0f}) {
          const float scale = spread / std::sqrt(static_cast<float>(d));
          const int64_t heads = 2, stride = heads * d + 5, out_stride = heads * d;
          const RandomQkv x(keys, keys, stride, rng);
          const ops::AttentionShape shape{heads, d, stride, stride, out_stride, 0};
          std::vector<float> low(static_cast<std::size_t>(queries * out_stride)), full(low.size());
          ops::attend(x.q.data(), x.k.data(), x.v.data(), queries, keys, shape, causal, scale, low.data(),
                      ops::Precision::kInt8);
          ops::attend(x.q.data(), x.k.data(), x.v.data(), queries, keys, shape, causal, scale, full.data());
          double worst_low = 0, worst_full = 0;
          for (int64_t h = 0; h < heads; ++h)
            for (int64_t i = 0; i < queries; ++i) {
              const int64_t visible = causal ? keys - queries + i + 1 : keys;
              const std::vector<double> expected = reference_attention(x, i, h, visible, d, stride, scale);
              for (int64_t c = 0; c < d; ++c) {
                worst_low = std::max(worst_low, std::fabs(low[i * out_stride + h * d + c] - expected[c]));
                worst_full = std::max(worst_full, std::fabs(full[i * out_stride + h * d + c] - expected[c]));
              }
            }
          // Values are in [-1, 1]; bf16 keeps 2^-9 relative per input (measured
          // worst: 0.003 at spread 1, 0.011 at spread 8).
          const double bound = spread > 1.0f ? 0.025 : 0.006;
          EXPECT_LT(worst_low, bound) << "d " << d << " causal " << causal << " queries " << queries << " spread " << spread;
          EXPECT_LT(worst_full, bound / 100) << "d " << d << " causal " << causal << " queries " << queries;
          // Where the bf16 form runs, it is the coarser one: proof that it ran.
          if (ops::bf16_dot_products()) {
            EXPECT_GT(worst_low, 10 * worst_full) << "d " << d << " queries " << queries;
          }
        }
}

// A packed batch at once (attend_batch, whose (sequence, head) pairs run on
// two threads here) equals each sequence alone on one thread: short and
// long sequences (row form, and the tiled or GEMM form from 64 queries),
// encoder-style and decoding-style (fewer queries than keys, causal).
TEST_P(AttentionIsa, BatchOnThePoolEqualsEachSequenceAlone) {
  std::mt19937 rng(6);
  const int64_t d = 64, heads = 3, stride = heads * d, previous_threads = ops::num_threads();
  for (bool causal : {false, true}) {
    const std::vector<std::pair<int64_t, int64_t>> sizes{{1, 1}, {8, 8}, {33, 40}, {70, 70}, {5, 90}, {1, 200}};
    int64_t rows = 0;
    for (const auto& [queries, keys] : sizes) rows += keys;
    const auto [q, k, v] = RandomQkv(rows, rows, stride, rng);
    const ops::AttentionShape shape{heads, d, stride, stride, stride, 0};
    std::vector<float> together(q.size(), 0.0f), alone(q.size(), 0.0f);
    std::vector<ops::AttentionSpan> spans;
    int64_t at = 0;
    for (const auto& [queries, keys] : sizes) {
      spans.push_back({q.data() + at * stride, k.data() + at * stride, v.data() + at * stride, queries, keys,
                       together.data() + at * stride});
      at += keys;
    }
    ops::set_num_threads(2);
    ops::attend_batch(spans, shape, causal, 0.2f);
    ops::set_num_threads(1);
    for (const ops::AttentionSpan& s : spans)
      ops::attend(s.q, s.k, s.v, s.queries, s.keys, shape, causal, 0.2f, alone.data() + (s.out - together.data()));
    for (std::size_t i = 0; i < alone.size(); ++i)
      ASSERT_NEAR(together[i], alone[i], 1e-6 + 1e-5 * std::fabs(alone[i])) << "causal " << causal << " at " << i;
  }
  ops::set_num_threads(static_cast<int>(previous_threads));
}

// Keys and values stored head after head (a KV cache: [heads][positions]
// [head_dim], kv_head_stride apart, with room for more positions) give what
// the same values side by side in each row give: the row form (decoding),
// the tiled or GEMM form (prompts), float32 and bf16 products, 2 threads.
TEST_P(AttentionIsa, KeysAndValuesHeadAfterHeadEqualSideBySide) {
  std::mt19937 rng(8);
  const int64_t d = 64, heads = 3, stride = heads * d, capacity = 150, previous_threads = ops::num_threads();
  ops::set_num_threads(2);
  for (bool causal : {false, true})
    for (ops::Precision products : {ops::Precision::kFp32, ops::Precision::kBf16})
      for (const auto& [queries, keys] : std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {1, 130}, {20, 20}, {70, 140}}) {
        const auto [q, k, v] = RandomQkv(queries, keys, stride, rng);
        const auto same = [](float x) { return x; };
        const std::vector<float> k_heads = head_after_head(k, keys, heads, d, capacity, -7.0f, same),
                                 v_heads = head_after_head(v, keys, heads, d, capacity, -7.0f, same);
        std::vector<float> side(static_cast<std::size_t>(queries * stride)), apart(side.size());
        ops::attend_batch({{q.data(), k.data(), v.data(), queries, keys, side.data()}},
                          {heads, d, stride, stride, stride, 0}, causal, 0.2f, products);
        ops::attend_batch({{q.data(), k_heads.data(), v_heads.data(), queries, keys, apart.data(), capacity * d}},
                          {heads, d, stride, d, stride, 0}, causal, 0.2f, products);
        for (std::size_t i = 0; i < side.size(); ++i)
          ASSERT_NEAR(apart[i], side[i], 1e-6 + 1e-5 * std::fabs(side[i]))
              << "causal " << causal << " queries " << queries << " keys " << keys << " at " << i;
      }
  ops::set_num_threads(static_cast<int>(previous_threads));
}

// Keys and values stored as bf16 (a bf16 KV cache, head after head) give
// what the same bf16-rounded values as float32 give: the row form reading
// bf16 in place (decoding), the bf16 tiled form reading them in place, and
// the forms that widen one head first (float32 products from 64 queries).
TEST_P(AttentionIsa, Bf16KeysAndValuesEqualTheirFloat32Values) {
  std::mt19937 rng(9);
  const int64_t d = 64, heads = 2, stride = heads * d, capacity = 140, previous_threads = ops::num_threads();
  ops::set_num_threads(2);
  for (bool causal : {false, true})
    for (ops::Precision products : {ops::Precision::kFp32, ops::Precision::kInt8})
      for (const auto& [queries, keys] : std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {1, 130}, {3, 40}, {20, 20}, {70, 140}}) {
        const auto [q, k, v] = RandomQkv(queries, keys, stride, rng);
        const auto to_bf16 = [](float x) { return ops::float_to_bfloat16(x); };
        const auto rounded = [](float x) {
          return std::bit_cast<float>(static_cast<std::uint32_t>(ops::float_to_bfloat16(x)) << 16);
        };
        const std::uint16_t nan = 0x7fc0;  // where no key was stored
        const std::vector<std::uint16_t> k_bf16 = head_after_head(k, keys, heads, d, capacity, nan, to_bf16),
                                         v_bf16 = head_after_head(v, keys, heads, d, capacity, nan, to_bf16);
        const std::vector<float> k_rounded = head_after_head(k, keys, heads, d, capacity, 0.0f, rounded),
                                 v_rounded = head_after_head(v, keys, heads, d, capacity, 0.0f, rounded);
        const ops::AttentionShape shape{heads, d, stride, d, stride, 0};
        std::vector<float> from_floats(static_cast<std::size_t>(queries * stride)), from_bf16(from_floats.size());
        ops::attend_batch({{q.data(), k_rounded.data(), v_rounded.data(), queries, keys, from_floats.data(), capacity * d}},
                          shape, causal, 0.2f, products);
        ops::AttentionSpan span{q.data(), nullptr, nullptr, queries, keys, from_bf16.data(), capacity * d};
        span.k_bf16 = k_bf16.data();
        span.v_bf16 = v_bf16.data();
        ops::attend_batch({span}, shape, causal, 0.2f, products);
        for (std::size_t i = 0; i < from_floats.size(); ++i)
          ASSERT_NEAR(from_bf16[i], from_floats[i], 1e-6 + 1e-5 * std::fabs(from_floats[i]))
              << "causal " << causal << " queries " << queries << " keys " << keys << " at " << i;
      }
  ops::set_num_threads(static_cast<int>(previous_threads));
}

// Scores that rise or fall from one 64-key tile to the next: the tiled
// forms raise their running maximum only when a tile's scores exceed it by
// more than 2^8 (in numerators), so a rise of 3 keeps it, a rise of 12 moves
// it (the earlier partial outputs rescaled), a rise of 200 would overflow
// float32 numerators if it stayed, and a fall of 200 leaves numerators that
// underflow to 0. Each against the double-precision reference, float32 and
// bf16 products, causal or not, with a partial last tile.
TEST_P(AttentionIsa, OnlineSoftmaxFollowsScoresAcrossTiles) {
  std::mt19937 rng(10);
  const int64_t d = 64, heads = 2, stride = heads * d, queries = 70, keys = 200;
  const float scale = 1.0f / 8.0f;
  for (float rise_log2 : {3.0f, 12.0f, 200.0f, -200.0f})
    for (bool causal : {false, true})
      for (ops::Precision products : {ops::Precision::kFp32, ops::Precision::kInt8}) {
        RandomQkv x(keys, keys, stride, rng);
        // Column 0 of every head: q = 1, k = the tile's step, so every score
        // of tile t gains t · rise_log2 · ln 2 after the scale.
        for (int64_t j = 0; j < keys; ++j)
          for (int64_t h = 0; h < heads; ++h) {
            x.q[j * stride + h * d] = 1.0f;
            x.k[j * stride + h * d] = static_cast<float>(j / 64) * rise_log2 * 0.693147f / scale;
          }
        const ops::AttentionShape shape{heads, d, stride, stride, stride, 0};
        std::vector<float> out(static_cast<std::size_t>(queries * stride));
        ops::attend(x.q.data(), x.k.data(), x.v.data(), queries, keys, shape, causal, scale, out.data(), products);
        const double bound = products == ops::Precision::kFp32 ? 1e-4 : 0.03;
        for (int64_t h = 0; h < heads; ++h)
          for (int64_t i = 0; i < queries; ++i) {
            const int64_t visible = causal ? keys - queries + i + 1 : keys;
            const std::vector<double> expected = reference_attention(x, i, h, visible, d, stride, scale);
            for (int64_t c = 0; c < d; ++c)
              ASSERT_NEAR(out[i * stride + h * d + c], expected[c], bound)
                  << "rise " << rise_log2 << " causal " << causal << " bf16 " << (products != ops::Precision::kFp32)
                  << " query " << i << " column " << c;
          }
      }
}

SNAPFORMER_FOR_EACH_ISA(AttentionIsa);

}  // namespace
}  // namespace snapformer


namespace snapformer {
namespace {

// A Linear in `precision` over weights lowered like LinearWeights does.
struct LoweredLinear {
  std::vector<std::uint16_t> bf16;
  std::vector<std::int8_t> q;
  std::vector<float> scale;
  std::vector<std::int32_t> sum;
  ops::Linear linear;

  // panels: int8 weights packed into VNNI panels, as loading does where the
  // int8 kernels take VNNI.
  LoweredLinear(const std::vector<float>& w, const float* bias, int64_t in, int64_t out, bool input_major,
                ops::Precision precision, bool panels = false) {
    linear = ops::Linear::fp32(w.data(), bias, in, out, input_major);
    linear.precision = precision;
    if (precision == ops::Precision::kBf16) {
      bf16.resize(w.size());
      ops::weight_to_bfloat16(w.data(), out, in, input_major, bf16.data());
      linear.weight_bf16 = bf16.data();
    } else if (precision == ops::Precision::kInt8) {
      q.resize(w.size());
      scale.resize(static_cast<std::size_t>(out));
      sum.resize(static_cast<std::size_t>(out));
      ops::quantize_weight_int8(w.data(), out, in, input_major, q.data(), scale.data(), sum.data());
      linear.weight_int8 = q.data();
      linear.weight_scale = scale.data();
      linear.weight_sum = sum.data();
      if (panels) {
        std::vector<std::int8_t> packed(static_cast<std::size_t>(ops::int8_panel_bytes(out, in)));
        ops::pack_int8_panels(q.data(), out, in, packed.data());
        q = std::move(packed);
        linear.weight_int8 = nullptr;
        linear.weight_int8_panels = q.data();
      }
    }
  }
};

class LowPrecision : public ::testing::TestWithParam<ops::Precision> {};

// Every shape class the models use: decode rows (1), small and large blocks,
// widths that do and do not split evenly over the threads, and both layouts.
TEST_P(LowPrecision, LinearMatchesFloat32WithinTheFormatsError) {
  SKIP_UNLESS_PRECISION_RUNS_HERE(GetParam());
  std::mt19937 rng(5);
  // bf16 keeps 8 bits of mantissa (relative 2^-9 per value): 1% of the output
  // scale. int8: the rounding bound computed per output below.
  const double tolerance = 0.01;
  // int8 on row-major weights: up to small_int8_gemm_rows() rows the own
  // AVX2 kernel, above it oneDNN's GEMM;
  // weights in VNNI panels (where the CPU has VNNI) the panel kernel at
  // every row count. K = 40, 96, 128, 200, 256: tails of every length class.
  const testing::ScopedIsa restore;
  for (ops::Isa isa : {ops::Isa::kAvx2, ops::Isa::kAvx512})
  for (bool panels : {false, true})
  for (const auto& [in, out] : std::vector<std::pair<int64_t, int64_t>>{{40, 24}, {128, 384}, {96, 1000}, {256, 2}, {200, 77}})
    for (int64_t rows : {1, 3, 5, 17, 32, 64})
      for (bool input_major : {false, true}) {
        if (!ops::cpu_supports(isa)) continue;
        ops::set_isa(isa);
        if (panels && (GetParam() != ops::Precision::kInt8 || !ops::int8_uses_vnni())) continue;
        const auto w = random_values(static_cast<std::size_t>(in * out), rng);
        const auto bias = random_values(static_cast<std::size_t>(out), rng);
        auto x = random_values(static_cast<std::size_t>(rows * in), rng);
        for (std::size_t i = 0; i < x.size(); i += 7) x[i] = std::abs(x[i]) * 3;  // skewed, like GELU outputs
        const auto reference = ops::Linear::fp32(w.data(), bias.data(), in, out, input_major);
        const LoweredLinear lowered(w, bias.data(), in, out, input_major, GetParam(), panels);
        std::vector<float> expected(static_cast<std::size_t>(rows * out)), actual(expected.size());
        reference.apply(x.data(), rows, expected.data());
        lowered.linear.apply(x.data(), rows, actual.data());
        double scale = 0;
        for (float v : expected) scale = std::max(scale, static_cast<double>(std::abs(v)));
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t c = 0; c < out; ++c) {
            // int8: the worst case of rounding each x to its row's step and each
            // w to its channel's step (half a step each), summed over k.
            double allowed = tolerance * scale;
            if (GetParam() == ops::Precision::kInt8) {
              float lo = 0, hi = 0, w_max = 0;
              for (int64_t i = 0; i < in; ++i) {
                lo = std::min(lo, x[r * in + i]);
                hi = std::max(hi, x[r * in + i]);
                w_max = std::max(w_max, std::abs(input_major ? w[i * out + c] : w[c * in + i]));
              }
              const double x_step = (hi - lo) / 255.0, w_step = w_max / 127.0;
              allowed = 0;
              for (int64_t i = 0; i < in; ++i) {
                const double wi = input_major ? w[i * out + c] : w[c * in + i];
                allowed += std::abs(x[r * in + i]) * w_step / 2 + std::abs(wi) * x_step / 2 + x_step * w_step / 4;
              }
            }
            const std::size_t at = static_cast<std::size_t>(r * out + c);
            ASSERT_NEAR(actual[at], expected[at], allowed + 1e-5)
                << ops::precision_name(GetParam()) << " in=" << in << " out=" << out << " rows=" << rows
                << " input_major=" << input_major << " isa=" << ops::isa_name(isa) << " panels=" << panels << " at " << at;
          }
      }
}

INSTANTIATE_TEST_SUITE_P(Modes, LowPrecision, ::testing::Values(ops::Precision::kBf16, ops::Precision::kInt8),
                         [](const auto& info) { return std::string(ops::precision_name(info.param)); });

// An ISA chosen by set_isa (the tests above) is the one the fp32 GEMM
// kernels run, also AVX-512 on a CPU where detection alone gives them AVX2
// (Zen 4: 512-bit operations in two halves).
TEST(Isa, GemmKernelsRunTheIsaAskedFor) {
  const testing::ScopedIsa restore;
  for (ops::Isa isa : {ops::Isa::kPortable, ops::Isa::kAvx2, ops::Isa::kAvx512}) {
    if (!ops::cpu_supports(isa)) continue;
    ops::set_isa(isa);
    EXPECT_EQ(ops::gemm_isa(), isa) << ops::isa_name(isa);
  }
}

TEST(Quantize, RowsKeepZeroExactAndRoundTrip) {
  const std::vector<float> x{0.0f, -1.0f, 2.0f, 0.5f, -0.25f, 0.0f};
  std::vector<std::uint8_t> q(x.size());
  float scale = 0;
  std::int32_t zero = 0;
  ops::quantize_rows_uint8(x.data(), 1, static_cast<int64_t>(x.size()), 255, q.data(), &scale, &zero);
  EXPECT_EQ(q[0], zero);
  for (std::size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(scale * (q[i] - zero), x[i], scale / 2 + 1e-6);
  ops::quantize_rows_uint8(x.data(), 1, static_cast<int64_t>(x.size()), 127, q.data(), &scale, &zero);
  for (std::uint8_t v : q) EXPECT_LE(v, 127);
}

TEST(Quantize, VectorAndScalarColumnsRoundAlike) {
  std::mt19937 rng(2);
  auto x = random_values(37, rng);  // two 16-lane blocks and a scalar tail
  std::vector<std::uint8_t> q(x.size());
  float scale = 0;
  std::int32_t zero = 0;
  ops::quantize_rows_uint8(x.data(), 1, 37, 255, q.data(), &scale, &zero);
  for (std::size_t i = 0; i < x.size(); ++i) {
    const float expected = std::min(255.0f, std::max(0.0f, std::floor(x[i] / scale + zero + 0.5f)));
    EXPECT_NEAR(q[i], expected, 1.0f) << i;  // 1/scale vs division may differ by one step at a tie
    EXPECT_NEAR(scale * (q[i] - zero), x[i], scale * 0.51f) << i;
  }
}

TEST(Quantize, WeightsPerChannelWithSums) {
  const std::vector<float> w{1.0f, -0.5f, 0.25f, 0.0f, 0.0f, 0.0f};  // [2, 3]: second channel all zero
  std::vector<std::int8_t> q(6);
  std::vector<float> scale(2);
  std::vector<std::int32_t> sum(2);
  ops::quantize_weight_int8(w.data(), 2, 3, false, q.data(), scale.data(), sum.data());
  EXPECT_EQ(q[0], 127);
  EXPECT_EQ(q[1], -64);  // -63.5 rounds to even
  EXPECT_EQ(sum[0], 127 - 64 + 32);
  EXPECT_EQ(scale[1], 0.0f);
  EXPECT_EQ(sum[1], 0);
  EXPECT_EQ(ops::float_to_bfloat16(1.0f), 0x3f80);
  EXPECT_EQ(ops::float_to_bfloat16(1.00390625f), 0x3f80);  // a tie rounds to even
  EXPECT_EQ(ops::float_to_bfloat16(1.01171875f), 0x3f82);  // a tie rounds to even (up)
}

}  // namespace
}  // namespace snapformer

namespace snapformer {
namespace {

// The fused epilogue gives what a separate activation pass gives, on
// every path: fp32 small-row and BLAS, int8 row-major (own kernel and
// oneDNN) and in VNNI panels, bf16.
TEST(Linear, FusedActivationEqualsASeparatePass) {
  std::mt19937 rng(13);
  const int64_t in = 96, out = 300;
  const auto w = random_values(static_cast<std::size_t>(in * out), rng);
  const auto bias = random_values(static_cast<std::size_t>(out), rng);
  for (ops::Precision precision : {ops::Precision::kFp32, ops::Precision::kInt8, ops::Precision::kBf16})
    for (bool panels : {false, true})
    for (int64_t rows : {1, 7, 40, 70})
      for (bool input_major : {false, true}) {
        if (precision == ops::Precision::kBf16 && !ops::cpu_supports(ops::Isa::kAvx512)) continue;
        if (panels && (precision != ops::Precision::kInt8 || !ops::int8_uses_vnni())) continue;
        const LoweredLinear lowered(w, bias.data(), in, out, input_major, precision, panels);
        const auto x = random_values(static_cast<std::size_t>(rows * in), rng);
        std::vector<float> separate(static_cast<std::size_t>(rows * out)), fused(separate.size());
        lowered.linear.apply(x.data(), rows, separate.data());
        std::vector<float> exact = separate;  // the full GELU in a separate pass
        ops::activate(ops::Activation::kGeluErf, exact.data(), rows * out);
        // bf16 and int8 layers take the short GELU (their output is rounded
        // by the next layer), float32 the full one.
        const bool short_form = precision != ops::Precision::kFp32;
        ops::activate(ops::Activation::kGeluErf, separate.data(), rows * out,
                      short_form ? ops::ActivationAccuracy::kBeforeRounding : ops::ActivationAccuracy::kFloat32);
        lowered.linear.apply(x.data(), rows, fused.data(), ops::Activation::kGeluErf);
        // Equal up to the vectorized GELU's error (segment tails take the
        // scalar std::erf, so the short form's 5e-5 shows there).
        int64_t off_the_full_form = 0;
        for (std::size_t i = 0; i < fused.size(); ++i) {
          ASSERT_NEAR(fused[i], separate[i], (short_form ? 6e-5 : 2e-6) * std::max(1.0f, std::abs(separate[i])))
              << ops::precision_name(precision) << " panels=" << panels << " rows=" << rows << " at " << i;
          off_the_full_form += std::abs(fused[i] - exact[i]) > 2e-6 * std::max(1.0f, std::abs(exact[i]));
        }
        if (short_form && ops::active_isa() != ops::Isa::kPortable) {  // (portable: both forms are std::erf)
          EXPECT_GT(off_the_full_form, 0) << ops::precision_name(precision) << ": the layer took the full GELU";
        } else if (!short_form) {
          EXPECT_EQ(off_the_full_form, 0);
        }
      }
}

// apply_to_same_input gives what each layer's apply gives, in every
// precision and int8 form, at 1 and 2 threads, for layers of different
// widths (slices of unequal count), and where the layers' inputs would be
// quantized differently (panels beside plain weights: applied one by one).
TEST(Linear, LayersOnTheSameInputEqualEachApplied) {
  std::mt19937 rng(21);
  const int64_t in = 96;
  const std::vector<int64_t> widths{300, 96, 200};
  std::vector<std::vector<float>> weights, biases;
  for (int64_t out : widths) {
    weights.push_back(random_values(static_cast<std::size_t>(in * out), rng));
    biases.push_back(random_values(static_cast<std::size_t>(out), rng));
  }
  const int previous_threads = ops::num_threads();
  for (int threads : {1, 2}) {
    ops::set_num_threads(threads);
    for (ops::Precision precision : {ops::Precision::kFp32, ops::Precision::kInt8, ops::Precision::kBf16})
      for (int panels : {0, 1, 2})  // 2: the first layer in panels, the others plain
        for (int64_t rows : {1, 7, 40, 70}) {
          if (precision == ops::Precision::kBf16 && !ops::cpu_supports(ops::Isa::kAvx512)) continue;
          if (panels > 0 && (precision != ops::Precision::kInt8 || !ops::int8_uses_vnni())) continue;
          std::vector<std::unique_ptr<LoweredLinear>> layers;
          std::vector<const ops::Linear*> linears;
          for (std::size_t i = 0; i < widths.size(); ++i) {
            const bool in_panels = panels == 1 || (panels == 2 && i == 0);
            layers.push_back(std::make_unique<LoweredLinear>(weights[i], biases[i].data(), in, widths[i], false,
                                                             precision, in_panels));
            linears.push_back(&layers.back()->linear);
          }
          const auto x = random_values(static_cast<std::size_t>(rows * in), rng);
          std::vector<std::vector<float>> each(widths.size()), together(widths.size());
          std::vector<float*> outputs;
          for (std::size_t i = 0; i < widths.size(); ++i) {
            each[i].resize(static_cast<std::size_t>(rows * widths[i]));
            together[i].assign(each[i].size(), -1.0f);
            linears[i]->apply(x.data(), rows, each[i].data());
            outputs.push_back(together[i].data());
          }
          ops::apply_to_same_input(linears, x.data(), rows, outputs);
          for (std::size_t i = 0; i < widths.size(); ++i)
            for (std::size_t j = 0; j < each[i].size(); ++j)
              ASSERT_EQ(together[i][j], each[i][j]) << ops::precision_name(precision) << " panels=" << panels
                                                    << " threads=" << threads << " rows=" << rows << " layer " << i
                                                    << " at " << j;
        }
  }
  ops::set_num_threads(previous_threads);
}

}  // namespace
}  // namespace snapformer
