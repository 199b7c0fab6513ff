// snapformer_bench: the peer kit's workloads (../shared/bench/bench_cases.py)
// run through snapformer, written as the runtime JSON that compare.py reads.
//
//   snapformer_bench --models DIR --threads N [--quick] [--dtypes fp32,int8,bf16] --out FILE.json
//                    [--only TEXT] [--reps N] [--gpt2-prompt N]
//
// bert-cls/{dtype}/b{B}/s{S}: one classification forward of B sequences of S
// random tokens (packed, no padding) -> logits; gpt2/{dtype}/ttft/p6: the
// 6-token prompt's forward + LM head + argmax; gpt2/{dtype}/decode/p6+20:
// greedy decoding with the KV cache, mean ms per token over tokens 2..20.
// --gpt2-prompt N gives the prompt N tokens instead of 6 (names pN, pN+20):
// decoding then reads N + 1..20 positions of keys and values per layer.
// The peers time int8 at batch 1 only; so does this for int8 and bf16, but
// for distilbert-cls/int8/b48/s10: the batches of bench/load.sh's server.
// --only runs just the workloads whose name contains TEXT, or starts with it
// when TEXT begins with '^' (GPT-2's two run together), and --reps N times
// each N times: one workload under perf, or beside a peer (bench/interleaved).
//
//   snapformer_bench --bandwidth --threads N
//
// prints the read bandwidth of N threads summing a 1 GB buffer (the floor
// for decoding: every weight is read once per token).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "ops/linear.h"
#include "ops/precision.h"
#include "ops/threads.h"
#include "ops/vector_math.h"
#include "util/thread_pool.h"
#include "tasks/pipeline.h"
#include "util/error.h"
#include "util/json_file.h"
#include "util/memory_policy.h"

using namespace snapformer;
using Clock = std::chrono::steady_clock;

namespace {

struct Stats {
  double median, p90, min;
};

Stats stats_of(std::vector<double> ms) {
  std::sort(ms.begin(), ms.end());
  const auto at = [&](double q) { return ms[std::min(ms.size() - 1, static_cast<std::size_t>(q * ms.size()))]; };
  return {at(0.5), at(0.9), ms.front()};
}

Json json_of(const Stats& s, std::size_t reps) {
  return {{"median_ms", s.median}, {"p90_ms", s.p90}, {"min_ms", s.min}, {"reps", reps}};
}

double elapsed_ms(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

// Best of 5 passes of the pool's threads summing 1 GB (vector_math's dot with a
// constant vector: as bandwidth-bound as the GEMV of a decode step).
double read_bandwidth_gbps() {
  const std::size_t floats = std::size_t{1} << 28;
  std::vector<float> buffer(floats, 1.0f), ones(1 << 16, 1.0f);
  double best = 0;
  for (int pass = 0; pass < 5; ++pass) {
    const auto t0 = Clock::now();
    const int64_t blocks = static_cast<int64_t>(floats / ones.size());
    std::vector<float> partial(static_cast<std::size_t>(blocks));
    ThreadPool::global().parallel_for(blocks, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b)
        partial[static_cast<std::size_t>(b)] =
            ops::dot(buffer.data() + b * static_cast<int64_t>(ones.size()), ones.data(), static_cast<int64_t>(ones.size()));
    });
    const double ms = elapsed_ms(t0);
    if (partial[0] != static_cast<float>(ones.size())) std::abort();
    best = std::max(best, static_cast<double>(floats * sizeof(float)) / ms / 1e6);
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  std::string models = ".bench/models", out;
  int threads = 1;
  bool quick = false, bandwidth = false;
  std::string only;
  int reps_override = 0;
  int64_t gpt2_prompt = 6;
  std::vector<ops::Precision> precisions{ops::Precision::kFp32};
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--quick") quick = true;
    else if (flag == "--bandwidth") bandwidth = true;
    else if (i + 1 < argc && flag == "--models") models = argv[++i];
    else if (i + 1 < argc && flag == "--threads") threads = std::stoi(argv[++i]);
    else if (i + 1 < argc && flag == "--out") out = argv[++i];
    else if (i + 1 < argc && flag == "--only") only = argv[++i];
    else if (i + 1 < argc && flag == "--reps") reps_override = std::stoi(argv[++i]);
    else if (i + 1 < argc && flag == "--gpt2-prompt") gpt2_prompt = std::stoll(argv[++i]);
    else if (i + 1 < argc && flag == "--dtypes") {
      precisions.clear();
      std::string list = argv[++i];
      for (std::size_t at = 0; at <= list.size();) {
        const std::size_t comma = std::min(list.find(',', at), list.size());
        precisions.push_back(ops::parse_precision(list.substr(at, comma - at)));
        at = comma + 1;
      }
    }
  }
  auto selected = [&](const std::string& name) {
    if (!only.empty() && only[0] == '^') return name.rfind(only.substr(1), 0) == 0;
    return name.find(only) != std::string::npos;
  };
  keep_freed_memory_for_reuse();  // as the snapformer command does
  ops::set_num_threads(threads);
  if (bandwidth) {
    const double gbps = read_bandwidth_gbps();
    std::printf("read bandwidth, %d thread(s): %.1f GB/s; decode floor: GPT-2 124M fp32 (497 MB) %.1f ms, "
                "int8 (124 MB of int8 weights) %.1f ms\n",
                threads, gbps, 497.0 / gbps, 124.4 / gbps);
    return 0;
  }
  Json workloads = Json::object();
  std::mt19937 rng(1234);
  std::uniform_int_distribution<int32_t> token(1000, 28999);

  for (const ops::Precision precision : precisions) {
  const std::string dtype = ops::precision_name(precision);
  try {
    ops::check_precision_supported(precision);
  } catch (const Error& e) {  // e.g. bf16 without AVX-512: no rows, said once
    std::fprintf(stderr, "snapformer_bench: skipping %s: %s\n", dtype.c_str(), e.what());
    continue;
  }
  const LoadOptions load_options{precision};
  for (const std::string model : {"bert-cls", "distilbert-cls"}) {
    const std::string dir = models + "/" + model;
    if (!std::filesystem::exists(dir)) continue;
    const auto pipeline = Pipeline::load(dir, false, load_options);
    // (batch, seq, full reps, quick reps, warm-up) as bench_cases.REPS
    // The last is no peer's: what the server of bench/load.sh's throughput
    // row runs (issue 12, target 5), ~48 inputs of ~10 tokens per batch, for
    // the int8 distilbert only.
    const int shapes[][5] = {{1, 8, 30, 10, 3}, {1, 32, 20, 7, 2}, {1, 128, 10, 4, 2}, {1, 512, 5, 2, 1},
                             {8, 128, 5, 2, 1}, {32, 128, 3, 1, 1}, {48, 10, 20, 7, 2}};
    for (const auto& s : shapes) {
      const bool served_batch = s[0] == 48;
      if (served_batch && (precision != ops::Precision::kInt8 || model != "distilbert-cls")) continue;
      if (precision != ops::Precision::kFp32 && s[0] != 1 && !served_batch) continue;
      const std::string name = model + "/" + dtype + "/b" + std::to_string(s[0]) + "/s" + std::to_string(s[1]);
      if (!selected(name)) continue;
      std::vector<Encoding> batch(static_cast<std::size_t>(s[0]));
      for (Encoding& e : batch)
        for (int t = 0; t < s[1]; ++t) e.push(token(rng), "", {}, 0, 0, false);
      for (int w = 0; w < s[4]; ++w) pipeline->classify_encoded(batch);
      std::vector<double> ms;
      for (int r = 0; r < (reps_override > 0 ? reps_override : quick ? s[3] : s[2]); ++r) {
        const auto t0 = Clock::now();
        pipeline->classify_encoded(batch);
        ms.push_back(elapsed_ms(t0));
      }
      workloads[name] = json_of(stats_of(ms), ms.size());
      std::fprintf(stderr, "%s: %.2f ms\n", name.c_str(), stats_of(ms).median);
    }
  }

  const std::string gpt2 = models + "/gpt2";
  const std::string p = "p" + std::to_string(gpt2_prompt);
  const std::string ttft_name = "gpt2/" + dtype + "/ttft/" + p, decode_name = "gpt2/" + dtype + "/decode/" + p + "+20";
  if (std::filesystem::exists(gpt2) && (selected(ttft_name) || selected(decode_name))) {
    const auto pipeline = Pipeline::load(gpt2, false, load_options);
    const Gpt2Model& decoder = *pipeline->decoder();
    const int64_t h = decoder.config().hidden_size;
    std::vector<int32_t> prompt(static_cast<std::size_t>(gpt2_prompt));
    for (int32_t& id : prompt) id = 1000 + token(rng) % 49000;
    const int64_t last = gpt2_prompt - 1;
    std::vector<double> ttft, per_token;
    const int runs = reps_override > 0 ? reps_override : quick ? 3 : 7;
    for (int r = 0; r <= runs; ++r) {  // run 0 warms up
      auto cache = decoder.new_cache(gpt2_prompt + 20);
      const auto t0 = Clock::now();
      std::vector<float> hidden = decoder.forward({{&cache, prompt.data(), gpt2_prompt}});
      std::vector<float> logits = decoder.logits(hidden.data() + last * h, 1);
      int32_t next = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
      const double first = elapsed_ms(t0);
      Clock::time_point second_start;
      for (int step = 1; step < 20; ++step) {
        if (step == 1) second_start = Clock::now();
        hidden = decoder.forward({{&cache, &next, 1}});
        logits = decoder.logits(hidden.data(), 1);
        next = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
      }
      if (r == 0) continue;
      ttft.push_back(first);
      per_token.push_back(elapsed_ms(second_start) / 19.0);
    }
    workloads[ttft_name] = json_of(stats_of(ttft), ttft.size());
    workloads[decode_name] = json_of(stats_of(per_token), per_token.size());
    std::fprintf(stderr, "gpt2/%s ttft %.2f ms, decode %.2f ms/token\n", dtype.c_str(), stats_of(ttft).median,
                 stats_of(per_token).median);
  }
  }
  const Json report = {{"runtime", "snapformer 0.1.0"}, {"threads", threads}, {"workloads", workloads}};
  if (out.empty()) {
    std::printf("%s\n", report.dump(1).c_str());
  } else {
    std::ofstream(out) << report.dump(1) << "\n";
  }
  return 0;
}
