// snapformer_load: a closed-loop HTTP load generator for the server benchmarks.
//
//   snapformer_load --port P[,P2,...] --path /predict --body '{"inputs": "..."}' --connections 8 --seconds 5
//                   [--method GET] [--hit-rate R]
//
// With several ports (replicas of a fleet), connection c talks to port
// c mod N, as a connection-balancing Service spreads them.
// Each connection is a keep-alive client that sends the request again as soon
// as the answer arrives. Prints one JSON line: requests/s and latency
// percentiles (ms), with the count of non-200 answers and of "x-cache: hit".
// --hit-rate R: "{n}" in the body becomes "hot" with probability R (the same
// request every time: a cache hit after the first) and a number never sent
// before otherwise (a miss). Such a number is long (this run's start time in
// nanoseconds and a counter: ~12 word pieces to a BERT tokenizer), so inputs of
// a given token count use "{i}" instead: the request's index within this run
// (1-3 word pieces), unique only against a server started fresh.
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

int main(int argc, char** argv) {
  std::string host = "127.0.0.1", path = "/", body = "{}";
  std::vector<int> ports{8000};
  int connections = 1;
  double seconds = 5, hit_rate = -1;
  std::string method = "POST";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--host") host = value;
    else if (flag == "--port") {
      ports.clear();
      for (std::size_t at = 0; at <= value.size();) {
        const auto comma = std::min(value.find(',', at), value.size());
        ports.push_back(std::stoi(value.substr(at, comma - at)));
        at = comma + 1;
      }
    }
    else if (flag == "--path") path = value;
    else if (flag == "--body") body = value;
    else if (flag == "--connections") connections = std::stoi(value);
    else if (flag == "--seconds") seconds = std::stod(value);
    else if (flag == "--method") method = value;
    else if (flag == "--hit-rate") hit_rate = std::stod(value);
    else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  using Clock = std::chrono::steady_clock;
  const auto end = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  std::mutex mutex;
  std::vector<double> latencies;
  std::atomic<long> errors{0}, hits{0}, unique{0}, index{0};
  std::vector<std::thread> threads;
  const auto started = Clock::now();
  // Unique bodies differ between runs too, so a server's earlier entries never match them.
  const std::string run_id = std::string("u").append(std::to_string(started.time_since_epoch().count())).append("-");
  for (int c = 0; c < connections; ++c) {
    threads.emplace_back([&, c] {
      std::mt19937 rng(static_cast<unsigned>(c) + 1);
      std::uniform_real_distribution<double> coin(0, 1);
      httplib::Client client(host, ports[static_cast<std::size_t>(c) % ports.size()]);
      client.set_keep_alive(true);
      client.set_tcp_nodelay(true);
      client.set_read_timeout(60, 0);
      std::vector<double> mine;
      while (Clock::now() < end) {
        const auto t0 = Clock::now();
        std::string request = body;
        if (const auto at = request.find("{i}"); at != std::string::npos)
          request.replace(at, 3, std::to_string(index++));
        if (hit_rate >= 0) {
          const auto at = request.find("{n}");
          if (at != std::string::npos)
            request.replace(at, 3, coin(rng) < hit_rate ? std::string("hot") : std::string(run_id).append(std::to_string(unique++)));
        }
        auto r = method == "GET" ? client.Get(path.c_str()) : client.Post(path.c_str(), request, "application/json");
        if (r && r->get_header_value("x-cache") == "hit") ++hits;
        const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
        if (!r || r->status != 200) {
          if (errors++ == 0)
            std::fprintf(stderr, "first error: %s\n", r ? ("HTTP " + std::to_string(r->status) + " " + r->body).c_str()
                                                         : httplib::to_string(r.error()).c_str());
        }
        else mine.push_back(ms);
      }
      std::lock_guard<std::mutex> lock(mutex);
      latencies.insert(latencies.end(), mine.begin(), mine.end());
    });
  }
  for (auto& t : threads) t.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - started).count();
  std::sort(latencies.begin(), latencies.end());
  auto pct = [&](double p) {
    return latencies.empty() ? 0.0 : latencies[std::min(latencies.size() - 1, static_cast<std::size_t>(p * latencies.size()))];
  };
  std::printf("{\"path\": \"%s\", \"connections\": %d, \"requests\": %zu, \"errors\": %ld, \"requests_per_second\": %.1f, "
              "\"p50_ms\": %.3f, \"p90_ms\": %.3f, \"p99_ms\": %.3f, \"cache_hits\": %ld}\n",
              path.c_str(), connections, latencies.size(), errors.load(), latencies.size() / elapsed, pct(0.5), pct(0.9),
              pct(0.99), hits.load());
  return 0;
}
