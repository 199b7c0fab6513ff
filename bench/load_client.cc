// snapformer_load: a closed-loop HTTP load generator for the server benchmarks.
//
//   snapformer_load --port P --path /predict --body '{"inputs": "..."}' --connections 8 --seconds 5
//
// Each connection is a keep-alive client that sends the request again as soon
// as the answer arrives. Prints one JSON line: requests/s and latency
// percentiles (ms), with the count of non-200 answers.
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

int main(int argc, char** argv) {
  std::string host = "127.0.0.1", path = "/", body = "{}";
  int port = 8000, connections = 1;
  double seconds = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--host") host = value;
    else if (flag == "--port") port = std::stoi(value);
    else if (flag == "--path") path = value;
    else if (flag == "--body") body = value;
    else if (flag == "--connections") connections = std::stoi(value);
    else if (flag == "--seconds") seconds = std::stod(value);
    else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  using Clock = std::chrono::steady_clock;
  const auto end = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  std::mutex mutex;
  std::vector<double> latencies;
  std::atomic<long> errors{0};
  std::vector<std::thread> threads;
  const auto started = Clock::now();
  for (int c = 0; c < connections; ++c) {
    threads.emplace_back([&] {
      httplib::Client client(host, port);
      client.set_keep_alive(true);
      client.set_tcp_nodelay(true);
      client.set_read_timeout(60, 0);
      std::vector<double> mine;
      while (Clock::now() < end) {
        const auto t0 = Clock::now();
        auto r = client.Post(path.c_str(), body, "application/json");
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
              "\"p50_ms\": %.2f, \"p90_ms\": %.2f, \"p99_ms\": %.2f}\n",
              path.c_str(), connections, latencies.size(), errors.load(), latencies.size() / elapsed, pct(0.5), pct(0.9),
              pct(0.99));
  return 0;
}
