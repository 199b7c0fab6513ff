// snapformer_accuracy: what the bf16 and int8 modes cost in accuracy on the
// trained demo models (docs/BENCHMARKS.md).
//
//   snapformer_accuracy [--shared ../shared/models] [--dtypes fp32,bf16,int8] [--threads N]
//
// lang-id-bert on its 5,949 test lines: accuracy against the labels,
// agreement with snapformer's own fp32 predictions and with the reference
// (Hugging Face fp32) predictions stored in test.jsonl. fortune-gpt2 on its
// 1,571 dev documents: perplexity with the README's protocol (reference
// 251.26). The models are the ones shipped in models/; the data sets are
// read from ../shared/models (not copied into the repository).
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "ops/linear.h"
#include "ops/precision.h"
#include "ops/threads.h"
#include "tasks/likelihood.h"
#include "tasks/pipeline.h"
#include "util/error.h"
#include "util/json_file.h"
#include "util/memory_policy.h"

using namespace snapformer;

namespace {

std::vector<Json> read_jsonl(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error(path + ": cannot open");
  std::vector<Json> lines;
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) lines.push_back(Json::parse(line));
  return lines;
}

std::vector<ops::Precision> parse_list(const std::string& list) {
  std::vector<ops::Precision> out;
  for (std::size_t at = 0; at <= list.size();) {
    const std::size_t comma = std::min(list.find(',', at), list.size());
    out.push_back(ops::parse_precision(list.substr(at, comma - at)));
    at = comma + 1;
  }
  return out;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  std::string shared = "../shared/models";
  std::vector<ops::Precision> precisions{ops::Precision::kFp32, ops::Precision::kBf16, ops::Precision::kInt8};
  int threads = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--shared") shared = argv[i + 1];
    else if (flag == "--dtypes") precisions = parse_list(argv[i + 1]);
    else if (flag == "--threads") threads = std::stoi(argv[i + 1]);
  }
  keep_freed_memory_for_reuse();
  ops::set_num_threads(threads);
  try {
    const auto lang = read_jsonl(shared + "/lang-id-bert/test.jsonl");
    const auto dev = read_jsonl(shared + "/fortune-gpt2/dev.jsonl");
    std::vector<TaskInput> inputs;
    for (const Json& line : lang) inputs.push_back(TaskInput{.text = line["text"].get<std::string>()});

    std::printf("| dtype | lang-id-bert accuracy (%zu lines) | agreement with snapformer fp32 | agreement with HF fp32 | "
                "fortune-gpt2 dev perplexity (%zu docs) | time (s) |\n|---|---|---|---|---|---|\n",
                lang.size(), dev.size());
    std::vector<std::string> fp32_labels;
    for (const ops::Precision precision : precisions) {
      try {
        ops::check_precision_supported(precision);
      } catch (const Error& e) {  // e.g. bf16 without AVX-512: a row that says so, and the other modes still run
        std::printf("| %s | skipped: %s | | | | |\n", ops::precision_name(precision), e.what());
        continue;
      }
      const auto t0 = std::chrono::steady_clock::now();
      const auto classifier = Pipeline::load("models/lang-id-bert", false, LoadOptions{precision});
      std::vector<std::string> labels;
      for (std::size_t begin = 0; begin < inputs.size(); begin += 64) {
        const std::vector<TaskInput> chunk(inputs.begin() + static_cast<std::ptrdiff_t>(begin),
                                           inputs.begin() + static_cast<std::ptrdiff_t>(std::min(inputs.size(), begin + 64)));
        for (const auto& result : classifier->classify(chunk, TruncationOptions{.truncate = true}))
          labels.push_back(result.label);
      }
      if (precision == ops::Precision::kFp32) fp32_labels = labels;
      std::size_t correct = 0, agree_ours = 0, agree_reference = 0;
      for (std::size_t i = 0; i < labels.size(); ++i) {
        correct += labels[i] == lang[i]["label"].get<std::string>();
        agree_reference += labels[i] == lang[i]["pred"].get<std::string>();
        agree_ours += !fp32_labels.empty() && labels[i] == fp32_labels[i];
      }
      const auto generator = Pipeline::load("models/fortune-gpt2", false, LoadOptions{precision});
      double nll = 0;
      int64_t predicted = 0;
      for (const Json& doc : dev) {
        const auto likelihood = sequence_likelihood(*generator->decoder(), doc["input_ids"].get<std::vector<int32_t>>());
        nll += likelihood.nll_sum;
        predicted += likelihood.predicted;
      }
      const double n = static_cast<double>(labels.size());
      std::printf("| %s | %.2f %% (%zu) | %s | %.2f %% | %.2f | %.1f |\n", ops::precision_name(precision),
                  100.0 * correct / n, correct,
                  fp32_labels.empty() ? "-" : (std::to_string(agree_ours) + " / " + std::to_string(labels.size())).c_str(),
                  100.0 * agree_reference / n, std::exp(nll / static_cast<double>(predicted)), seconds_since(t0));
      std::fflush(stdout);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "snapformer_accuracy: %s\n", e.what());
    return 1;
  }
  return 0;
}
