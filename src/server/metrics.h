// Metrics: Prometheus counters, gauges and histograms, rendered in the text
// exposition format for GET /metrics.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace snapformer {

class Metrics {
 public:
  void count_request(const std::string& route, int status);
  // Observes a duration (seconds) in the histogram `name` (e.g. "tokenization").
  void observe_seconds(const std::string& name, double seconds);
  void observe_batch(int64_t inputs, int64_t tokens);
  void add_tokens(const std::string& kind, int64_t count);  // "input" / "generated"
  void count(const std::string& name, int64_t delta = 1);   // snapformer_<name>_total
  void set_gauge(const std::string& name, double value);
  // Sets a counter kept elsewhere (monotonic there), e.g. the caches'.
  void set_counter(const std::string& name, int64_t value);

  std::string render() const;

 private:
  struct Histogram {
    std::vector<double> bounds;
    std::vector<uint64_t> buckets;  // cumulative counts are computed when rendering
    double sum = 0;
    uint64_t count = 0;
    void observe(double value);
  };
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;
  std::map<std::string, Histogram> durations_;
  Histogram batch_inputs_{{1, 2, 4, 8, 16, 32, 64, 128}, {}, 0, 0};
  Histogram batch_tokens_{{16, 64, 256, 1024, 4096, 16384}, {}, 0, 0};
  std::map<std::string, uint64_t> tokens_;
  std::map<std::string, int64_t> counters_;
  std::map<std::string, double> gauges_;
};

}  // namespace snapformer
