// The bf16 and int8 modes on the trained demo models (accuracy against
// fp32), and folders written by `snapformer quantize` (loaded in place, same
// numbers as quantizing at load, bad files named).
#include <sys/types.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "cli_util.h"
#include "isa_test.h"
#include "io/safetensors.h"
#include "models/gpt2.h"
#include "ops/attention.h"
#include "ops/cpu.h"
#include "tasks/likelihood.h"
#include "tasks/pipeline.h"
#include "tasks/quantized_folder.h"
#include "test_util.h"
#include "util/error.h"

namespace snapformer {
namespace {

namespace fs = std::filesystem;

using testing::repo_model;

std::vector<Json> jsonl(const std::string& relative) {
  std::ifstream in(testing::data_path(relative));
  std::vector<Json> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(Json::parse(line));
  return lines;
}

// Mean negative log-likelihood per predicted token of fortune-gpt2 on the
// first dev documents (the perplexity protocol of ../shared/models/README.md).
double mean_nll(const Pipeline& pipeline, const std::vector<Json>& docs) {
  double nll = 0;
  int64_t predicted = 0;
  for (const Json& doc : docs) {
    const auto likelihood = sequence_likelihood(*pipeline.decoder(), doc["input_ids"].get<std::vector<int32_t>>());
    nll += likelihood.nll_sum;
    predicted += likelihood.predicted;
  }
  return nll / static_cast<double>(predicted);
}

class PrecisionMode : public ::testing::TestWithParam<ops::Precision> {};

TEST_P(PrecisionMode, LangIdAgreesWithFp32) {
  SKIP_UNLESS_PRECISION_RUNS_HERE(GetParam());
  const auto lines = jsonl("demo/lang-id-test-head120.jsonl");
  std::vector<TaskInput> inputs;
  for (const Json& line : lines) inputs.push_back(TaskInput{.text = line["text"].get<std::string>()});
  const auto fp32 = Pipeline::load(repo_model("lang-id-bert"));
  const auto lowered = Pipeline::load(repo_model("lang-id-bert"), false, LoadOptions{GetParam()});
  EXPECT_EQ(lowered->precision(), GetParam());
  const auto expected = fp32->classify(inputs);
  const auto actual = lowered->classify(inputs);
  int agree = 0, correct = 0;
  double worst = 0;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    agree += actual[i].label == expected[i].label;
    correct += actual[i].label == lines[i]["label"].get<std::string>();
    worst = std::max(worst, std::abs(static_cast<double>(actual[i].score - expected[i].score)));
  }
  // The reference fp32 model gets 117 of these 120 right.
  EXPECT_GE(agree, 119) << ops::precision_name(GetParam());
  EXPECT_GE(correct, 116);
  EXPECT_LT(worst, 0.05);
}

TEST_P(PrecisionMode, FortuneGpt2LikelihoodCloseToFp32) {
  SKIP_UNLESS_PRECISION_RUNS_HERE(GetParam());
  const auto docs = jsonl("demo/fortune-dev-head20.jsonl");
  double reference = 0;
  int64_t predicted = 0;
  for (const Json& doc : docs) {
    reference += doc["nll_sum"].get<double>();
    predicted += doc["n_predicted"].get<int64_t>();
  }
  reference /= static_cast<double>(predicted);
  const double fp32 = mean_nll(*Pipeline::load(repo_model("fortune-gpt2")), docs);
  EXPECT_NEAR(fp32, reference, 1e-3);  // the fp32 path reproduces Hugging Face
  const double lowered = mean_nll(*Pipeline::load(repo_model("fortune-gpt2"), false, LoadOptions{GetParam()}), docs);
  EXPECT_NEAR(lowered, fp32, 0.02 * fp32) << ops::precision_name(GetParam());  // perplexity within ~2%
  EXPECT_NE(lowered, fp32);  // the mode really changed the arithmetic
}

// The KV cache of a bf16/int8 model holds bf16 where attention takes its
// bf16 form (half the bytes a decoding step reads), and decoding token by
// token from it (the row form reading bf16 in place) gives the hidden states
// that one forward over the whole text gives (the tiled form, 16+ queries).
TEST_P(PrecisionMode, DecodingFromTheKvCacheMatchesOneForward) {
  SKIP_UNLESS_PRECISION_RUNS_HERE(GetParam());
  const auto pipeline = Pipeline::load(repo_model("fortune-gpt2"), false, LoadOptions{GetParam()});
  const Gpt2Model& model = *pipeline->decoder();
  const int64_t h = model.config().hidden_size, prompt = 20, steps = 12;
  std::vector<int32_t> ids;
  for (int64_t i = 0; i < prompt + steps; ++i) ids.push_back(static_cast<int32_t>((i * 7919 + 13) % 5000));

  auto whole = model.new_cache(prompt + steps);
  const std::vector<float> expected = model.forward({{&whole, ids.data(), prompt + steps}});
  auto cache = model.new_cache(prompt + steps);
  EXPECT_EQ(cache.keys_bf16.empty(), !ops::kv_cache_in_bf16(GetParam()));
  EXPECT_EQ(cache.keys.empty(), ops::kv_cache_in_bf16(GetParam()));
  model.forward({{&cache, ids.data(), prompt}});
  double worst = 0, scale = 0;
  for (int64_t t = prompt; t < prompt + steps; ++t) {
    const std::vector<float> hidden = model.forward({{&cache, ids.data() + t, 1}});
    for (int64_t c = 0; c < h; ++c) {
      worst = std::max(worst, static_cast<double>(std::fabs(hidden[c] - expected[t * h + c])));
      scale = std::max(scale, static_cast<double>(std::fabs(expected[t * h + c])));
    }
  }
  EXPECT_LT(worst, 0.02 * scale) << ops::precision_name(GetParam()) << ": largest |state| " << scale;
}

INSTANTIATE_TEST_SUITE_P(Modes, PrecisionMode, ::testing::Values(ops::Precision::kBf16, ops::Precision::kInt8),
                         [](const auto& info) { return std::string(ops::precision_name(info.param)); });

class QuantizedFolder : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::scratch_directory("quantized");
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(QuantizedFolder, LoadsInItsPrecisionWithTheSameNumbers) {
  for (const auto& [model, precision] : std::vector<std::pair<std::string, ops::Precision>>{
           {repo_model("lang-id-bert"), ops::Precision::kInt8},
           {repo_model("fortune-gpt2"), ops::Precision::kInt8},
           {repo_model("fortune-gpt2"), ops::Precision::kBf16},
           {testing::model_path("tiny-ultrafastbert"), ops::Precision::kInt8},
           {testing::model_path("tiny-bert-mlm"), ops::Precision::kBf16}}) {
    if (!testing::precision_runs_here(precision)) continue;  // bf16 needs AVX-512
    const fs::path out = dir_ / (fs::path(model).filename().string() + "-" + ops::precision_name(precision));
    const QuantizeReport report = write_quantized_folder(model, precision, out.string());
    EXPECT_GT(report.layers, 0u);
    const auto at_load = Pipeline::load(model, false, LoadOptions{precision});
    const auto stored = Pipeline::load(out.string());  // no precision asked: the folder's own
    EXPECT_EQ(stored->precision(), precision);
    const TaskInput input{.text = "the quick brown fox jumps over the lazy [MASK] ."};
    const auto a = at_load->forward(input), b = stored->forward(input);
    ASSERT_EQ(a.logits.size(), b.logits.size()) << out;
    for (std::size_t i = 0; i < a.logits.size(); ++i) ASSERT_EQ(a.logits[i], b.logits[i]) << out << " at " << i;
    for (std::size_t i = 0; i < a.last_hidden_state.size(); ++i)
      ASSERT_EQ(a.last_hidden_state[i], b.last_hidden_state[i]) << out << " at " << i;
    // The converted layers' float weights are gone from the new file.
    const SafetensorsFile file((out / "model.safetensors").string());
    EXPECT_EQ(file.header().metadata.at("snapformer_dtype"), ops::precision_name(precision));
    EXPECT_THROW(Pipeline::load(out.string(), false, LoadOptions{ops::Precision::kFp32}), Error);
    if (model.find("ultrafastbert") != std::string::npos && precision == ops::Precision::kInt8) {
      // UltraFastBERT's trees are stored as int8 rows per node too.
      EXPECT_TRUE(file.find("encoder.layers.0.ffn.linear_in.weight.int8"));
      EXPECT_TRUE(file.find("encoder.layers.0.ffn.linear_out.weight.int8"));
      EXPECT_FALSE(file.find("encoder.layers.0.ffn.linear_in.weight"));
      EXPECT_FALSE(file.find("encoder.layers.0.ffn.linear_out.weight"));
    }
  }
}

// int8 folders store a layer's weights as the writing CPU's kernels read
// them: VNNI panels where they take VNNI, else rows. Either loads on either
// kind of CPU (in place when it matches, else converted) with the numbers of
// quantizing at load there; a panels tensor of the wrong shape is named.
TEST_F(QuantizedFolder, Int8PanelsAndRowsLoadOnEitherKindOfCpu) {
  const testing::ScopedIsa restore;
  if (!ops::cpu_supports(ops::Isa::kAvx512)) GTEST_SKIP() << "no AVX-512";
  ops::set_isa(ops::Isa::kAvx512);
  if (!ops::int8_uses_vnni()) GTEST_SKIP() << "no AVX512-VNNI";
  const std::string model = repo_model("lang-id-bert");
  const std::string layer = "bert.encoder.layer.0.attention.self.query.weight";
  const TaskInput input{.text = "der schnelle braune Fuchs springt"};
  for (ops::Isa writer : {ops::Isa::kAvx512, ops::Isa::kAvx2}) {
    ops::set_isa(writer);
    const fs::path out = dir_ / ops::isa_name(writer);
    write_quantized_folder(model, ops::Precision::kInt8, out.string());
    {
      const SafetensorsFile file((out / "model.safetensors").string());
      EXPECT_EQ(file.find(layer + ".int8_panels") != nullptr, writer == ops::Isa::kAvx512) << ops::isa_name(writer);
      EXPECT_EQ(file.find(layer + ".int8") != nullptr, writer == ops::Isa::kAvx2) << ops::isa_name(writer);
    }
    for (ops::Isa reader : {ops::Isa::kAvx512, ops::Isa::kAvx2}) {
      ops::set_isa(reader);
      const auto at_load = Pipeline::load(model, false, LoadOptions{ops::Precision::kInt8});
      const auto stored = Pipeline::load(out.string());
      const auto a = at_load->forward(input), b = stored->forward(input);
      ASSERT_EQ(a.logits.size(), b.logits.size());
      for (std::size_t i = 0; i < a.logits.size(); ++i)
        ASSERT_EQ(a.logits[i], b.logits[i]) << "written " << ops::isa_name(writer) << ", read "
                                            << ops::isa_name(reader) << ", at " << i;
    }
  }
  // A panels tensor whose first two dimensions are swapped (same bytes, the
  // header as long as before): its name and shape, not a crash.
  const fs::path file = dir_ / "avx512" / "model.safetensors";
  std::string bytes;
  {
    std::ifstream in(file, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  const auto at = bytes.find("\"" + layer + ".int8_panels\"");
  ASSERT_NE(at, std::string::npos);
  const std::size_t open = bytes.find("\"shape\":[", at) + 9, close = bytes.find(']', open);
  const std::string dims = bytes.substr(open, close - open);  // "panels,groups,64"
  const std::size_t comma = dims.find(',');
  const std::size_t second = dims.find(',', comma + 1);
  bytes.replace(open, close - open,
                dims.substr(comma + 1, second - comma - 1) + "," + dims.substr(0, comma) + dims.substr(second));
  std::ofstream(file, std::ios::binary | std::ios::trunc) << bytes;
  ops::set_isa(ops::Isa::kAvx512);
  try {
    Pipeline::load(file.parent_path().string());
    FAIL() << "loaded a panels tensor of the wrong shape";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr(layer + ".int8_panels"));
    EXPECT_THAT(e.what(), ::testing::HasSubstr("shape"));
  }
}

TEST_F(QuantizedFolder, BadRequestsAndDamagedFilesAreNamed) {
  EXPECT_THROW(write_quantized_folder(repo_model("lang-id-bert"), ops::Precision::kFp32, dir_.string()), Error);
  EXPECT_THROW(write_quantized_folder(repo_model("lang-id-bert"), ops::Precision::kInt8, repo_model("lang-id-bert")),
               Error);
  write_quantized_folder(testing::model_path("tiny-bert-cls"), ops::Precision::kInt8, dir_.string());
  // Replace the stored file by one whose first layer lacks its scales.
  const fs::path file = dir_ / "model.safetensors";
  std::string bytes;
  {
    std::ifstream in(file, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  const std::string scale = "encoder.layer.0.attention.self.query.weight.scale\"";
  const auto at = bytes.find(scale);
  ASSERT_NE(at, std::string::npos);
  bytes.replace(at, 5, "XXXXX");  // same length: the header stays valid
  std::ofstream(file, std::ios::binary | std::ios::trunc) << bytes;
  try {
    Pipeline::load(dir_.string());
    FAIL() << "loaded a folder without scales";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("weight.scale"));
  }
  const auto cli = testing::run_cli({"quantize", "--model", repo_model("lang-id-bert"), "--dtype", "fp16", "--out",
                                     (dir_ / "x").string()});
  EXPECT_EQ(cli.exit_code, 1);
  EXPECT_THAT(cli.err, ::testing::HasSubstr("unknown dtype 'fp16'"));
}

}  // namespace
}  // namespace snapformer
