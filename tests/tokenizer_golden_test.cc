// Every line of the tokenizer goldens (core and full sets) must come out identical:
// ids, tokens, character offsets and the decoded text.
#include <fstream>

#include "test_util.h"
#include "tokenizers/tokenizer.h"

namespace snapformer {
namespace {

using testing::data_path;

struct GoldenCounts {
  int lines = 0;
  int failures = 0;
};

void check_line(const Tokenizer& tokenizer, const std::string& line, GoldenCounts& counts, const std::string& label) {
  const Json expected = Json::parse(line);
  ++counts.lines;
  const std::string text = expected["text"].get<std::string>();
  const Encoding encoding = tokenizer.encode(text);
  std::vector<std::vector<uint32_t>> offsets;
  for (const Offsets& o : encoding.offsets) offsets.push_back({o.begin, o.end});
  const bool ok_ids = Json(encoding.ids) == expected["ids"];
  const bool ok_tokens = Json(encoding.tokens) == expected["tokens"];
  const bool ok_offsets = Json(offsets) == expected["offsets"];
  bool ok_decoded = true;
  std::string decoded;
  if (expected.contains("decoded")) {
    decoded = tokenizer.decode(encoding.ids, true);
    ok_decoded = decoded == expected["decoded"].get<std::string>();
  }
  if (ok_ids && ok_tokens && ok_offsets && ok_decoded) return;
  if (++counts.failures <= 8) {
    ADD_FAILURE() << label << " line " << expected["i"] << " (" << expected["source"] << ") text " << Json(text).dump()
                  << "\n ids      " << Json(encoding.ids).dump() << "\n expected " << expected["ids"].dump()
                  << "\n tokens   " << Json(encoding.tokens).dump() << "\n expected " << expected["tokens"].dump()
                  << "\n offsets  " << Json(offsets).dump() << "\n expected " << expected["offsets"].dump()
                  << "\n decoded  " << Json(decoded).dump() << "\n expected " << expected.value("decoded", Json()).dump();
  }
}

class TokenizerGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(TokenizerGolden, CoreLinesMatch) {
  const std::string name = GetParam();
  const auto tokenizer = Tokenizer::from_folder(data_path("reference/tokenizers/" + name));
  std::ifstream in(data_path("reference/tokenizers/golden-" + name + ".core.jsonl"));
  ASSERT_TRUE(in) << "missing core golden for " << name;
  GoldenCounts counts;
  std::string line;
  while (std::getline(in, line)) check_line(*tokenizer, line, counts, name + " core");
  EXPECT_EQ(counts.lines, 300);
  EXPECT_EQ(counts.failures, 0);
}

TEST_P(TokenizerGolden, FullSetMatches) {
  const std::string name = GetParam();
  const auto tokenizer = Tokenizer::from_folder(data_path("reference/tokenizers/" + name));
  const auto lines = testing::read_gzip_lines(data_path("reference/tokenizers/golden-" + name + ".jsonl.gz"));
  ASSERT_GT(lines.size(), 1000u);
  GoldenCounts counts;
  for (const std::string& line : lines) check_line(*tokenizer, line, counts, name + " full");
  EXPECT_EQ(counts.failures, 0);
}

INSTANTIATE_TEST_SUITE_P(AllTokenizers, TokenizerGolden,
                         ::testing::Values("bert-base-uncased", "bert-base-cased", "gpt2", "roberta-base"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& c : name)
                             if (c == '-') c = '_';
                           return name;
                         });

}  // namespace
}  // namespace snapformer
