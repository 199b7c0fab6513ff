// UltraFastBERT (crammedBERT + FFF): the tiny goldens within 1e-4, the FFF
// routing (visited node ids per token and layer) identical, and the
// conditional kernel equal to the dense masked implementation.
#include <random>

#include "models/ultrafastbert.h"
#include "ops/cpu.h"
#include "ops/fff.h"
#include "tasks/pipeline.h"
#include "isa_test.h"
#include "test_util.h"
#include "util/error.h"

namespace snapformer {
namespace {

using testing::close_to;

class UltraFastBertGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(UltraFastBertGolden, HiddenStatesLogitsAndRoutingMatch) {
  const auto pipeline = Pipeline::load(testing::model_path(GetParam()));
  const auto* model = dynamic_cast<const UltraFastBertModel*>(pipeline->encoder());
  ASSERT_NE(model, nullptr);
  const Json g = testing::golden(GetParam());
  const int64_t h = pipeline->config().hidden_size, levels = pipeline->config().fff_depth + 1;
  int routed_tokens = 0, tie_visits = 0;
  for (const Json& c : g["cases"]) {
    const std::string name = c["name"];
    for (std::size_t b = 0; b < c["input_ids"].size(); ++b) {
      // Packed: keep the positions the mask keeps (all of them when no mask is passed).
      std::vector<int32_t> ids;
      for (std::size_t s = 0; s < c["input_ids"][b].size(); ++s)
        if (c["attention_mask"].is_null() || c["attention_mask"][b][s] == 1) ids.push_back(c["input_ids"][b][s]);
      PackedBatch batch;
      batch.add(ids);
      std::vector<std::vector<int32_t>> routing;
      const std::vector<float> hidden = model->forward_traced(batch, &routing, false);
      const std::string where = GetParam() + " " + name + " row " + std::to_string(b);
      for (std::size_t s = 0; s < ids.size(); ++s)
        for (int64_t i = 0; i < h; ++i)
          ASSERT_TRUE(close_to(hidden[s * h + i], c["hidden_states"][b][s][i].get<double>(), where + " hidden"));
      for (const Json& top : c["logits_top10"]) {
        if (top["batch"].get<std::size_t>() != b) continue;
        const auto position = top["position"].get<int64_t>();
        if (position >= static_cast<int64_t>(ids.size())) continue;  // a padded position (right padding)
        const std::vector<float> logits = model->masked_lm_logits(hidden, {position});
        EXPECT_EQ(std::max_element(logits.begin(), logits.end()) - logits.begin(), top["ids"][0].get<int64_t>()) << where;
        for (std::size_t k = 0; k < top["ids"].size(); ++k)
          ASSERT_TRUE(close_to(logits[top["ids"][k].get<std::size_t>()], top["values"][k].get<double>(), where + " logit"));
      }
      for (std::size_t layer = 0; layer < routing.size(); ++layer) {
        const Json& paths = c["fff_routing"]["layer_" + std::to_string(layer)]["paths"][b];
        for (std::size_t s = 0; s < ids.size(); ++s) {
          for (int64_t level = 0; level < levels; ++level) {
            const int32_t node = routing[layer][s * levels + level];
            ASSERT_EQ(node, paths[s][level].get<int32_t>()) << where << " layer " << layer << " token " << s;
            if (layer == 1 && node == 2) ++tie_visits;
          }
          ++routed_tokens;
        }
      }
    }
  }
  EXPECT_GT(routed_tokens, 100);
  if (GetParam() == "tiny-ultrafastbert") {
    EXPECT_GT(tie_visits, 0) << "the exact-zero tie node was never visited";
  }
}

TEST_P(UltraFastBertGolden, DenseMaskedPathIsTheSameFunction) {
  const auto pipeline = Pipeline::load(testing::model_path(GetParam()));
  const auto* model = dynamic_cast<const UltraFastBertModel*>(pipeline->encoder());
  PackedBatch batch;
  batch.add({101, 1996, 3007, 1997, 2605, 2003, 103, 1012, 102});
  batch.add({101, 7592, 2088, 102});
  const auto conditional = model->forward_traced(batch, nullptr, false);
  const auto dense = model->forward_traced(batch, nullptr, true);
  for (std::size_t i = 0; i < dense.size(); ++i) ASSERT_NEAR(conditional[i], dense[i], 1e-5);
}

TEST_P(UltraFastBertGolden, TasksWork) {
  const auto pipeline = Pipeline::load(testing::model_path(GetParam()));
  EXPECT_TRUE(pipeline->supports(Task::kFillMask));
  EXPECT_TRUE(pipeline->supports(Task::kEmbed));
  const FillMaskResult r = pipeline->fill_mask(TaskInput{.text = "the capital of france is [MASK] ."});
  ASSERT_EQ(r.masks.size(), 1u);
  EXPECT_EQ(r.masks[0].top.size(), 10u);
  const auto embedded = pipeline->embed({TaskInput{.text = "hello world"}}, Pooling::kMean, true);
  EXPECT_EQ(embedded[0].embedding.size(), static_cast<std::size_t>(pipeline->config().hidden_size));
  std::string long_text;
  for (int i = 0; i < 200; ++i) long_text += "word ";
  EXPECT_THROW(pipeline->embed({TaskInput{.text = long_text}}, Pooling::kMean, false), InputTooLongError);
}

INSTANTIATE_TEST_SUITE_P(Models, UltraFastBertGolden, ::testing::Values("tiny-ultrafastbert", "tiny-ultrafastbert-d5"),
                         [](const auto& info) { return info.param == "tiny-ultrafastbert" ? std::string("depth3") : std::string("depth5"); });

// Every kernel path this CPU can execute (the AVX-512 one needs hidden % 16 == 0).
class FffKernel : public testing::EachIsa {};

// Random trees N(0, 0.3) (W_in, biases, W_out and its node-major copy) and inputs.
struct RandomTrees {
  std::vector<float> in, bias, out, by_node, x;
  RandomTrees(int64_t h, int64_t depth, int64_t trees, int64_t tokens, std::mt19937& rng) {
    const int64_t width = trees * ((int64_t{2} << depth) - 1);
    std::normal_distribution<float> d(0.0f, 0.3f);
    for (auto [v, n] : {std::pair{&in, width * h}, {&bias, width}, {&out, h * width}, {&x, tokens * h}}) {
      v->resize(static_cast<std::size_t>(n));
      for (float& f : *v) f = d(rng);
    }
    by_node.resize(out.size());
    for (int64_t r = 0; r < h; ++r)
      for (int64_t n = 0; n < width; ++n) by_node[n * h + r] = out[r * width + n];
  }
  ops::FffWeights weights(int64_t h, int64_t depth, int64_t trees) const {
    return {in.data(), bias.data(), by_node.data(), out.data(), h, depth, trees};
  }
};

TEST_P(FffKernel, ConditionalEqualsDenseOnRandomTrees) {
  std::mt19937 rng(5);
  for (int64_t h : {40, 48, 144})
  for (int64_t depth : {0, 1, 4, 7})
    for (int64_t trees : {1, 3}) {
      const int64_t tokens = 37;
      const RandomTrees r(h, depth, trees, tokens, rng);
      const std::vector<float>& x = r.x;
      const ops::FffWeights w = r.weights(h, depth, trees);
      std::vector<float> a(static_cast<std::size_t>(tokens * h)), b(a.size());
      std::vector<int32_t> paths(static_cast<std::size_t>(tokens * trees * (depth + 1)));
      ops::fff_conditional(w, x.data(), tokens, a.data(), paths.data());
      ops::fff_dense_masked(w, x.data(), tokens, b.data());
      for (std::size_t i = 0; i < a.size(); ++i)
        ASSERT_NEAR(a[i], b[i], 1e-4) << "hidden " << h << " depth " << depth << " trees " << trees;
      for (int64_t t = 0; t < tokens; ++t)
        for (int64_t tree = 0; tree < trees; ++tree) {
          EXPECT_EQ(paths[(t * trees + tree) * (depth + 1)], 0);  // every path starts at the root
          for (int64_t level = 1; level <= depth; ++level) {
            const int32_t parent = paths[(t * trees + tree) * (depth + 1) + level - 1];
            const int32_t child = paths[(t * trees + tree) * (depth + 1) + level];
            EXPECT_TRUE(child == 2 * parent + 1 || child == 2 * parent + 2);
          }
        }
    }
}

// Int8 tree rows: the kernel computes the routing logits in integers from x
// quantized per token (symmetric: x ≈ (max|x| / 127) · round(x · 127 / max|x|)),
// so it computes the float function of the dequantized weights (scale[node] · q)
// at the dequantized inputs: it must match the float kernel run on those,
// paths included. Checked to fail when a weight or input scale is left out.
TEST_P(FffKernel, Int8RowsComputeTheDequantizedFunction) {
  std::mt19937 rng(7);
  for (int64_t h : {40, 48, 96, 144, 36})  // 36: not a multiple of 8, the portable path
  for (int64_t depth : {0, 1, 4, 7})
    for (int64_t trees : {1, 3}) {
      const int64_t width = trees * ((int64_t{2} << depth) - 1), tokens = 37;
      const RandomTrees r(h, depth, trees, tokens, rng);
      const auto& [in, bias, out, by_node, x] = r;
      const ops::FffWeights w = r.weights(h, depth, trees);
      std::vector<std::int8_t> in_q(in.size()), out_q(in.size());
      std::vector<float> in_scale(static_cast<std::size_t>(width)), out_scale(in_scale.size());
      ops::quantize_fff_int8(w, in_q.data(), in_scale.data(), out_q.data(), out_scale.data());
      // The float weights the int8 ones stand for.
      std::vector<float> in_deq(in.size()), by_node_deq(in.size());
      for (int64_t n = 0; n < width; ++n)
        for (int64_t k = 0; k < h; ++k) {
          in_deq[n * h + k] = in_scale[n] * in_q[n * h + k];
          by_node_deq[n * h + k] = out_scale[n] * out_q[n * h + k];
        }
      const ops::FffWeights dequantized{in_deq.data(), bias.data(), by_node_deq.data(), nullptr, h, depth, trees};
      std::vector<float> x_deq(x.size());
      for (int64_t t = 0; t < tokens; ++t) {
        const float* row = x.data() + t * h;
        float max_abs = 0;
        for (int64_t k = 0; k < h; ++k) max_abs = std::max(max_abs, std::abs(row[k]));
        for (int64_t k = 0; k < h; ++k) x_deq[t * h + k] = max_abs / 127.0f * std::nearbyint(row[k] * (127.0f / max_abs));
      }
      ops::FffWeights quantized = w;
      quantized.in_int8 = in_q.data();
      quantized.in_scale = in_scale.data();
      quantized.out_by_node_int8 = out_q.data();
      quantized.out_scale = out_scale.data();
      std::vector<float> a(static_cast<std::size_t>(tokens * h)), b(a.size()), exact(a.size());
      std::vector<int32_t> paths_a(static_cast<std::size_t>(tokens * trees * (depth + 1))), paths_b(paths_a.size()),
          paths_exact(paths_a.size());
      ops::fff_conditional(quantized, x.data(), tokens, a.data(), paths_a.data());
      ops::fff_conditional(dequantized, x_deq.data(), tokens, b.data(), paths_b.data());
      ops::fff_conditional(w, x.data(), tokens, exact.data(), paths_exact.data());
      EXPECT_EQ(paths_a, paths_b) << "hidden " << h << " depth " << depth << " trees " << trees;
      for (std::size_t i = 0; i < a.size(); ++i)
        ASSERT_NEAR(a[i], b[i], 1e-4) << "hidden " << h << " depth " << depth << " trees " << trees;
      // Against the float weights: tokens that take the float routes get
      // values within the rounding of the weights (a flipped route is a
      // different function: counted, not bounded).
      const int64_t levels = depth + 1;
      int64_t same_route = 0;
      double error = 0, scale = 0;
      for (int64_t t = 0; t < tokens; ++t) {
        const auto route = paths_a.begin() + t * trees * levels;
        if (!std::equal(route, route + trees * levels, paths_exact.begin() + t * trees * levels)) continue;
        ++same_route;
        for (int64_t k = 0; k < h; ++k) {
          error = std::max(error, static_cast<double>(std::abs(a[t * h + k] - exact[t * h + k])));
          scale = std::max(scale, static_cast<double>(std::abs(exact[t * h + k])));
        }
      }
      EXPECT_GE(same_route, tokens * 3 / 4) << "hidden " << h << " depth " << depth << " trees " << trees;
      EXPECT_LT(error, 0.03 * scale) << "hidden " << h << " depth " << depth << " trees " << trees;
    }
}

SNAPFORMER_FOR_EACH_ISA(FffKernel);

// --dtype int8 quantizes the trees too: the tiny model's routing and hidden
// states stay close to float32.
TEST(UltraFastBertInt8, TreesInInt8StayCloseToFloat32) {
  const std::string folder = testing::model_path("tiny-ultrafastbert");
  const auto fp32 = Pipeline::load(folder);
  const auto int8 = Pipeline::load(folder, false, LoadOptions{ops::Precision::kInt8});
  PackedBatch batch;
  batch.add({101, 1996, 4248, 2829, 4419, 14523, 2058, 1996, 13971, 3899, 2379, 1996, 2314, 2924, 102});
  batch.add({101, 7592, 2088, 102});
  std::vector<std::vector<int32_t>> route_fp32, route_int8;
  const auto* model_fp32 = dynamic_cast<const UltraFastBertModel*>(fp32->encoder());
  const auto* model_int8 = dynamic_cast<const UltraFastBertModel*>(int8->encoder());
  ASSERT_TRUE(model_fp32 && model_int8);
  const auto a = model_fp32->forward_traced(batch, &route_fp32, false);
  const auto b = model_int8->forward_traced(batch, &route_int8, false);
  std::size_t same = 0, visits = 0;
  for (std::size_t l = 0; l < route_fp32.size(); ++l)
    for (std::size_t i = 0; i < route_fp32[l].size(); ++i, ++visits) same += route_fp32[l][i] == route_int8[l][i];
  EXPECT_GE(static_cast<double>(same) / static_cast<double>(visits), 0.9) << same << " of " << visits;
  double diff = 0, norm = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    diff += (a[i] - b[i]) * (a[i] - b[i]);
    norm += a[i] * a[i];
  }
  EXPECT_LT(std::sqrt(diff / norm), 0.1);  // relative L2 error of the last hidden states
}

}  // namespace
}  // namespace snapformer
