// snapformer_bench_fff: UltraFastBERT's conditional FFF layer beside dense
// feedforward layers, and whole models, in one run (docs/BENCHMARKS.md).
//
//   snapformer_bench_fff [--models DIR]   (DIR holds ultrafastbert-1x11 and bert-cls
//                                          from ../shared/bench/make_models.py)
//
// Layer: hidden 768, depth 11 (4095 nodes), random weights; dense FF of width
// 4095 and of BERT's 3072 (GEMM, GELU, GEMM); 1, 128 and 16384 tokens; 1 and 2
// threads. Model: 128 tokens through UltraFastBERT-1x11 with the conditional
// kernel, the same model with its dense masked FFF (the published
// implementation: every neuron computed), and bert-base.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "models/ultrafastbert.h"
#include "ops/elementwise.h"
#include "ops/fff.h"
#include "ops/linear.h"
#include "ops/threads.h"
#include "tasks/pipeline.h"

using namespace snapformer;
using Clock = std::chrono::steady_clock;

// Median milliseconds of `body` over enough repetitions to take ~`budget_ms`.
double median_ms(const std::function<void()>& body, double budget_ms = 1500) {
  body();  // warm-up
  std::vector<double> times;
  const auto start = Clock::now();
  while (times.size() < 3 || (std::chrono::duration<double, std::milli>(Clock::now() - start).count() < budget_ms && times.size() < 200)) {
    const auto t0 = Clock::now();
    body();
    times.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

std::vector<float> random_vector(std::size_t n, std::mt19937& rng, float scale) {
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (float& f : v) f = d(rng);
  return v;
}

int main(int argc, char** argv) {
  std::string models = ".bench/models";
  for (int i = 1; i + 1 < argc; i += 2)
    if (std::string(argv[i]) == "--models") models = argv[i + 1];

  const int64_t h = 768, depth = 11, nodes = (int64_t{2} << depth) - 1;
  std::mt19937 rng(1);
  const auto in = random_vector(static_cast<std::size_t>(nodes * h), rng, 0.02f);
  const auto bias = random_vector(static_cast<std::size_t>(nodes), rng, 0.02f);
  const auto out = random_vector(static_cast<std::size_t>(h * nodes), rng, 0.02f);
  std::vector<float> by_node(out.size());
  for (int64_t r = 0; r < h; ++r)
    for (int64_t n = 0; n < nodes; ++n) by_node[n * h + r] = out[r * nodes + n];
  const ops::FffWeights fff{in.data(), bias.data(), by_node.data(), out.data(), h, depth, 1};
  // The same tree with int8 rows (--dtype int8): a quarter of the bytes read.
  std::vector<std::int8_t> in_q(in.size()), out_q(in.size());
  std::vector<float> in_scale(static_cast<std::size_t>(nodes)), out_scale(in_scale.size());
  ops::quantize_fff_int8(fff, in_q.data(), in_scale.data(), out_q.data(), out_scale.data());
  ops::FffWeights fff_int8 = fff;
  fff_int8.in_int8 = in_q.data();
  fff_int8.in_scale = in_scale.data();
  fff_int8.out_by_node_int8 = out_q.data();
  fff_int8.out_scale = out_scale.data();
  const auto dense3072_in = random_vector(static_cast<std::size_t>(3072 * h), rng, 0.02f);
  const auto dense3072_out = random_vector(static_cast<std::size_t>(h * 3072), rng, 0.02f);
  const auto bias3072 = random_vector(3072, rng, 0.02f);
  const auto bias_h = random_vector(static_cast<std::size_t>(h), rng, 0.02f);

  std::printf("## FFF layer vs dense feedforward (hidden 768, depth 11 = 4095 nodes; ms, median)\n\n");
  std::printf("| tokens | threads | FFF conditional | FFF int8 rows | dense 4095 | dense 3072 | speed-up vs 4095 | speed-up vs 3072 | int8 rows vs 3072 |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|\n");
  for (int64_t tokens : {1, 128, 16384}) {
    const auto x = random_vector(static_cast<std::size_t>(tokens * h), rng, 1.0f);
    std::vector<float> y(static_cast<std::size_t>(tokens * h)), inner(static_cast<std::size_t>(tokens * nodes));
    for (int threads : {1, 2}) {
      ops::set_num_threads(threads);
      const double budget = tokens >= 16384 ? 4000 : 1500;
      const double conditional = median_ms([&] { ops::fff_conditional(fff, x.data(), tokens, y.data()); }, budget);
      const double conditional_int8 = median_ms([&] { ops::fff_conditional(fff_int8, x.data(), tokens, y.data()); }, budget);
      auto dense = [&](int64_t width, const float* w_in, const float* b_in, const float* w_out) {
        return median_ms([&] {
          ops::Linear::fp32(w_in, b_in, h, width).apply(x.data(), tokens, inner.data());
          ops::activate(ops::Activation::kGeluErf, inner.data(), tokens * width);
          ops::Linear::fp32(w_out, bias_h.data(), width, h).apply(inner.data(), tokens, y.data());
        }, budget);
      };
      const double d4095 = dense(nodes, in.data(), bias.data(), out.data());
      const double d3072 = dense(3072, dense3072_in.data(), bias3072.data(), dense3072_out.data());
      std::printf("| %lld | %d | %.4f | %.4f | %.3f | %.3f | %.0fx | %.0fx | %.0fx |\n", static_cast<long long>(tokens), threads,
                  conditional, conditional_int8, d4095, d3072, d4095 / conditional, d3072 / conditional, d3072 / conditional_int8);
      std::fflush(stdout);
    }
  }

  const std::string ufb = models + "/ultrafastbert-1x11", bert = models + "/bert-cls";
  if (!std::filesystem::exists(ufb) || !std::filesystem::exists(bert)) {
    std::printf("\n(no %s or %s: skipping whole-model figures)\n", ufb.c_str(), bert.c_str());
    return 0;
  }
  std::printf("\n## Whole model, one sequence of 128 tokens (ms, median)\n\n");
  std::printf("| threads | UltraFastBERT-1x11 conditional | same model, dense masked FFF | bert-base | dense twin / conditional | bert-base / conditional "
              "| UltraFastBERT int8 | bert-base int8 | bert-base int8 / UltraFastBERT int8 |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|\n");
  const auto ultra = Pipeline::load(ufb);
  const auto base = Pipeline::load(bert);
  const auto* model = dynamic_cast<const UltraFastBertModel*>(ultra->encoder());
  // --dtype int8: int8 linear layers, and for UltraFastBERT int8 tree rows.
  const auto ultra_int8 = Pipeline::load(ufb, false, LoadOptions{ops::Precision::kInt8});
  const auto base_int8 = Pipeline::load(bert, false, LoadOptions{ops::Precision::kInt8});
  PackedBatch batch;
  std::vector<int32_t> ids(128);
  for (int i = 0; i < 128; ++i) ids[i] = 1000 + (i * 37) % 20000;
  batch.add(ids);
  for (int threads : {1, 2}) {
    ops::set_num_threads(threads);
    const double conditional = median_ms([&] { model->forward_traced(batch, nullptr, false); }, 3000);
    const double dense = median_ms([&] { model->forward_traced(batch, nullptr, true); }, 3000);
    const double bert_ms = median_ms([&] { base->encoder()->forward(batch); }, 3000);
    const double ultra_int8_ms = median_ms([&] { ultra_int8->encoder()->forward(batch); }, 3000);
    const double bert_int8_ms = median_ms([&] { base_int8->encoder()->forward(batch); }, 3000);
    std::printf("| %d | %.2f | %.2f | %.2f | %.2fx | %.2fx | %.2f | %.2f | %.2fx |\n", threads, conditional, dense, bert_ms,
                dense / conditional, bert_ms / conditional, ultra_int8_ms, bert_int8_ms, bert_int8_ms / ultra_int8_ms);
    std::fflush(stdout);
  }
  return 0;
}
