// Every golden.json under tests/data/reference/models (BERT, DistilBERT,
// RoBERTa, GPT-2) reproduced within 1e-4 absolute + 1e-4 relative, with ids,
// mask positions, spans and greedy generations exactly equal.
#include <algorithm>
#include <numeric>
#include <random>

#include "tasks/pipeline.h"
#include "test_util.h"

namespace snapformer {
namespace {

using testing::close_to;

// One row of a golden batch with its padding removed.
struct Row {
  std::vector<int32_t> ids, type_ids;
  std::vector<std::size_t> positions;  // original column of every kept token
};

std::vector<Row> rows_of(const Json& c) {
  std::vector<Row> rows;
  for (std::size_t b = 0; b < c["input_ids"].size(); ++b) {
    Row row;
    for (std::size_t j = 0; j < c["input_ids"][b].size(); ++j) {
      if (c["attention_mask"][b][j].get<int>() == 0) continue;
      row.ids.push_back(c["input_ids"][b][j].get<int32_t>());
      row.type_ids.push_back(c.contains("token_type_ids") ? c["token_type_ids"][b][j].get<int32_t>() : 0);
      row.positions.push_back(j);
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

// The texts of a case, one TaskInput per batch row.
std::vector<TaskInput> inputs_of(const Json& c) {
  std::vector<TaskInput> inputs;
  auto text = [](const Json& v) { return v.get<std::string>(); };
  if (c.contains("texts")) {
    for (const auto& t : c["texts"]) inputs.push_back(TaskInput{.text = text(t)});
  } else if (c.contains("questions")) {
    for (std::size_t i = 0; i < c["questions"].size(); ++i)
      inputs.push_back(TaskInput{.question = text(c["questions"][i]), .context = text(c["contexts"][i])});
  } else if (c.contains("question")) {
    inputs.push_back(TaskInput{.question = text(c["question"]), .context = text(c["context"])});
  } else if (c.contains("text_pair")) {
    inputs.push_back(TaskInput{.text = text(c["text"]), .text_pair = text(c["text_pair"])});
  } else if (c.contains("text")) {
    inputs.push_back(TaskInput{.text = text(c["text"])});
  }
  return inputs;
}

class ModelGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(ModelGolden, TokenizationMatchesGoldenInputIds) {
  const auto pipeline = Pipeline::load(testing::model_path(GetParam()));
  const Json g = testing::golden(GetParam());
  for (const Json& c : g["cases"]) {
    const auto inputs = inputs_of(c);
    const auto rows = rows_of(c);
    ASSERT_EQ(inputs.size(), rows.size()) << c["name"];
    for (std::size_t b = 0; b < inputs.size(); ++b) {
      const Encoding e = pipeline->encode(inputs[b], TruncationOptions{.truncate = true});
      EXPECT_EQ(e.ids, rows[b].ids) << GetParam() << " case " << c["name"] << " row " << b;
      if (c.contains("token_type_ids")) {
        EXPECT_EQ(e.type_ids, rows[b].type_ids) << c["name"];
      }
    }
  }
}

TEST_P(ModelGolden, OutputsMatch) {
  const auto pipeline = Pipeline::load(testing::model_path(GetParam()));
  const Json g = testing::golden(GetParam());
  const ModelConfig& config = pipeline->config();
  int compared = 0;
  for (const Json& c : g["cases"]) {
    const std::string name = c["name"];
    const auto rows = rows_of(c);
    for (std::size_t b = 0; b < rows.size(); ++b) {
      const Row& row = rows[b];
      TaskInput input{.input_ids = row.ids, .token_type_ids = row.type_ids};
      const ForwardResult out = pipeline->forward(input);
      const int64_t h = out.hidden_size;
      const std::string where = GetParam() + " " + name + " row " + std::to_string(b);
      if (c.contains("last_hidden_state")) {
        for (std::size_t t = 0; t < row.ids.size(); ++t)
          for (int64_t i = 0; i < h; ++i)
            ASSERT_TRUE(close_to(out.last_hidden_state[t * h + i], c["last_hidden_state"][b][row.positions[t]][i].get<double>(),
                                 where + " hidden[" + std::to_string(t) + "][" + std::to_string(i) + "]"));
        compared++;
      }
      if (c.contains("pooler_output")) {
        for (int64_t i = 0; i < h; ++i)
          ASSERT_TRUE(close_to(out.pooler_output[i], c["pooler_output"][b][i].get<double>(), where + " pooler"));
        compared++;
      }
      if (c.contains("logits")) {
        for (std::size_t i = 0; i < c["logits"][b].size(); ++i)
          ASSERT_TRUE(close_to(out.logits[i], c["logits"][b][i].get<double>(), where + " logits"));
        compared++;
      }
      if (c.contains("start_logits")) {
        for (std::size_t t = 0; t < row.ids.size(); ++t) {
          ASSERT_TRUE(close_to(out.start_logits[t], c["start_logits"][b][row.positions[t]].get<double>(), where + " start"));
          ASSERT_TRUE(close_to(out.end_logits[t], c["end_logits"][b][row.positions[t]].get<double>(), where + " end"));
        }
        compared++;
      }
      if (c.contains("mask_positions")) {
        int mask_index = 0;
        for (const auto& mp : c["mask_positions"]) {
          const std::size_t mb = mp[0].get<std::size_t>(), column = mp[1].get<std::size_t>();
          if (mb != b) {
            ++mask_index;
            continue;
          }
          const auto t = static_cast<std::size_t>(std::find(row.positions.begin(), row.positions.end(), column) - row.positions.begin());
          const float* logits = out.logits.data() + t * config.vocab_size;
          const auto& ids = c["mask_top10_ids"][mask_index];
          const auto& values = c["mask_top10_values"][mask_index];
          const int32_t top1 = static_cast<int32_t>(std::max_element(logits, logits + config.vocab_size) - logits);
          EXPECT_EQ(top1, ids[0].get<int32_t>()) << where;
          for (std::size_t k = 0; k < ids.size(); ++k)
            ASSERT_TRUE(close_to(logits[ids[k].get<int32_t>()], values[k].get<double>(), where + " mask logit"));
          if (mask_index == 0 && c.contains("first_mask_logits")) {
            for (int64_t v = 0; v < config.vocab_size; ++v)
              ASSERT_TRUE(close_to(logits[v], c["first_mask_logits"][v].get<double>(), where + " full mask row"));
          }
          ++mask_index;
          compared++;
        }
      }
      if (c.contains("last_logits_top10_ids")) {
        const float* logits = out.logits.data() + (row.ids.size() - 1) * config.vocab_size;
        const auto& ids = c["last_logits_top10_ids"][b];
        EXPECT_EQ(std::max_element(logits, logits + config.vocab_size) - logits, ids[0].get<int64_t>()) << where;
        for (std::size_t k = 0; k < ids.size(); ++k)
          ASSERT_TRUE(close_to(logits[ids[k].get<int32_t>()], c["last_logits_top10_values"][b][k].get<double>(), where + " last logits"));
        if (c.contains("last_logits")) {
          for (int64_t v = 0; v < config.vocab_size; ++v)
            ASSERT_TRUE(close_to(logits[v], c["last_logits"][b][v].get<double>(), where + " full last row"));
        }
        compared++;
      }
      if (c.contains("new_ids")) {
        GenerationOptions options;
        options.max_new_tokens = c["generate"]["max_new_tokens"].get<int64_t>();
        const GenerateResult generated = pipeline->generate(input, options);
        std::vector<int32_t> expected = c["new_ids"][b].get<std::vector<int32_t>>();
        expected.resize(generated.token_ids.size());  // after EOS HF pads; we stop
        EXPECT_EQ(generated.token_ids, expected) << where;
        if (generated.finish_reason == "length") {
          EXPECT_EQ(generated.text, c["new_text"][b].get<std::string>()) << where;
        }
        compared++;
      }
      if (c.contains("best_span") && c["best_span"][b].contains("text")) {
        QaOptions options;
        options.max_answer_length = 30;
        const auto inputs = inputs_of(c);
        const QaResult qa = pipeline->answer(inputs[b], options);
        const Json& span = c["best_span"][b];
        EXPECT_EQ(qa.answers[0].start_token, span["start"].get<int64_t>()) << where;
        EXPECT_EQ(qa.answers[0].end_token, span["end"].get<int64_t>()) << where;
        EXPECT_EQ(qa.answers[0].answer, span["text"].get<std::string>()) << where;
        compared++;
      }
    }
  }
  EXPECT_GT(compared, 3) << "no golden field was compared";
}

INSTANTIATE_TEST_SUITE_P(AllModels, ModelGolden,
                         ::testing::Values("tiny-bert", "tiny-bert-cls", "tiny-bert-qa", "tiny-bert-mlm",
                                           "tiny-distilbert-cls", "tiny-distilbert-qa", "tiny-roberta-cls",
                                           "tiny-roberta-mlm", "tiny-gpt2"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& ch : name)
                             if (ch == '-') ch = '_';
                           return name;
                         });

}  // namespace
}  // namespace snapformer

namespace snapformer {
namespace {

// The last layer run for some rows only (what classification, CLS
// embeddings and fill-mask read) gives those rows of the full forward pass:
// batches of several sequences, rows that skip whole sequences or are not
// contiguous, each family's encoder.
TEST(EncoderRows, LastLayerForSomeRowsEqualsTheFullForward) {
  for (const std::string model : {"tiny-bert-cls", "tiny-distilbert-cls", "tiny-roberta-mlm", "tiny-bert-mlm"}) {
    const auto pipeline = Pipeline::load(testing::model_path(model));
    const Encoder& encoder = *pipeline->encoder();
    const int64_t h = encoder.config().hidden_size;
    std::mt19937 rng(3);
    std::uniform_int_distribution<int32_t> id(5, static_cast<int32_t>(encoder.config().vocab_size) - 1);
    PackedBatch batch;
    for (int length : {5, 1, 9}) {
      std::vector<int32_t> ids(static_cast<std::size_t>(length));
      for (auto& v : ids) v = id(rng);
      batch.add(ids);
    }
    const std::vector<float> all = encoder.forward(batch);
    std::vector<int64_t> every(static_cast<std::size_t>(batch.tokens()));
    std::iota(every.begin(), every.end(), 0);
    for (const std::vector<int64_t>& rows : std::vector<std::vector<int64_t>>{
             batch.first_rows(), {1, 3, 4, 7, 14}, {6, 8, 9}, {5}, every}) {
      const std::vector<float> some = encoder.forward_rows(batch, rows);
      ASSERT_EQ(some.size(), rows.size() * static_cast<std::size_t>(h)) << model;
      for (std::size_t i = 0; i < rows.size(); ++i)
        for (int64_t c = 0; c < h; ++c)
          ASSERT_NEAR(some[i * h + c], all[rows[i] * h + c], 1e-5 + 1e-4 * std::abs(all[rows[i] * h + c]))
              << model << " row " << rows[i] << " column " << c;
    }
    if (encoder.config().head == HeadKind::kSequenceClassification) {
      const auto expected = encoder.classify(all, batch), actual = encoder.classify_batch(batch);
      ASSERT_EQ(actual.size(), expected.size());
      for (std::size_t i = 0; i < actual.size(); ++i) EXPECT_NEAR(actual[i], expected[i], 1e-5) << model;
    }
    if (encoder.config().head == HeadKind::kMaskedLm) {
      const std::vector<int64_t> rows{2, 10};
      const auto expected = encoder.masked_lm_logits(all, rows), actual = encoder.masked_lm_logits_batch(batch, rows);
      ASSERT_EQ(actual.size(), expected.size());
      for (std::size_t i = 0; i < actual.size(); ++i) EXPECT_NEAR(actual[i], expected[i], 1e-4) << model;
    }
    EXPECT_THROW(encoder.forward_rows(batch, {3, 2}), Error) << "rows out of order";
    EXPECT_THROW(encoder.forward_rows(batch, {1, 1}), Error) << "a repeated row";
    EXPECT_THROW(encoder.forward_rows(batch, {batch.tokens()}), Error) << "a row past the batch";
  }
}

}  // namespace
}  // namespace snapformer
