#include "server/metrics.h"

#include <sstream>

namespace snapformer {
namespace {
const std::vector<double> kSecondsBounds = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                            0.1,    0.25,  0.5,    1,     2.5,  5,     10};
}

void Metrics::Histogram::observe(double value) {
  if (buckets.size() != bounds.size() + 1) buckets.assign(bounds.size() + 1, 0);
  std::size_t i = 0;
  while (i < bounds.size() && value > bounds[i]) ++i;
  ++buckets[i];
  sum += value;
  ++count;
}

void Metrics::count_request(const std::string& route, int status) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++requests_[{route, status}];
}

void Metrics::observe_seconds(const std::string& name, double seconds) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = durations_.find(name);
  if (it == durations_.end()) it = durations_.emplace(name, Histogram{kSecondsBounds, {}, 0, 0}).first;
  it->second.observe(seconds);
}

void Metrics::observe_batch(int64_t inputs, int64_t tokens) {
  std::lock_guard<std::mutex> lock(mutex_);
  batch_inputs_.observe(static_cast<double>(inputs));
  batch_tokens_.observe(static_cast<double>(tokens));
}

void Metrics::add_tokens(const std::string& kind, int64_t count) {
  std::lock_guard<std::mutex> lock(mutex_);
  tokens_[kind] += static_cast<uint64_t>(count);
}

void Metrics::count(const std::string& name, int64_t delta) {
  std::lock_guard<std::mutex> lock(mutex_);
  counters_[name] += delta;
}

void Metrics::set_counter(const std::string& name, int64_t value) {
  std::lock_guard<std::mutex> lock(mutex_);
  counters_[name] = value;
}

void Metrics::set_gauge(const std::string& name, double value) {
  std::lock_guard<std::mutex> lock(mutex_);
  gauges_[name] = value;
}

std::string Metrics::render() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::ostringstream out;
  auto histogram = [&](const std::string& name, const std::string& labels, const Histogram& h) {
    uint64_t cumulative = 0;
    for (std::size_t i = 0; i < h.bounds.size(); ++i) {
      cumulative += h.buckets.empty() ? 0 : h.buckets[i];
      out << name << "_bucket{" << labels << (labels.empty() ? "" : ",") << "le=\"" << h.bounds[i] << "\"} "
          << cumulative << "\n";
    }
    out << name << "_bucket{" << labels << (labels.empty() ? "" : ",") << "le=\"+Inf\"} " << h.count << "\n";
    out << name << "_sum" << (labels.empty() ? "" : "{" + labels + "}") << " " << h.sum << "\n";
    out << name << "_count" << (labels.empty() ? "" : "{" + labels + "}") << " " << h.count << "\n";
  };
  out << "# HELP snapformer_requests_total HTTP requests by route and status code.\n"
      << "# TYPE snapformer_requests_total counter\n";
  for (const auto& [key, n] : requests_)
    out << "snapformer_requests_total{route=\"" << key.first << "\",status=\"" << key.second << "\"} " << n << "\n";
  out << "# HELP snapformer_request_duration_seconds Time per request stage (tokenization, queue, inference, total).\n"
      << "# TYPE snapformer_request_duration_seconds histogram\n";
  for (const auto& [stage, h] : durations_) histogram("snapformer_request_duration_seconds", "stage=\"" + stage + "\"", h);
  out << "# HELP snapformer_batch_size_inputs Inputs per executed batch.\n# TYPE snapformer_batch_size_inputs histogram\n";
  histogram("snapformer_batch_size_inputs", "", batch_inputs_);
  out << "# HELP snapformer_batch_size_tokens Tokens per executed batch.\n# TYPE snapformer_batch_size_tokens histogram\n";
  histogram("snapformer_batch_size_tokens", "", batch_tokens_);
  out << "# HELP snapformer_tokens_total Tokens processed (input) and generated.\n# TYPE snapformer_tokens_total counter\n";
  for (const auto& [kind, n] : tokens_) out << "snapformer_tokens_total{kind=\"" << kind << "\"} " << n << "\n";
  // A counter's name may carry labels: "cache_hits{tier=\"local\"}".
  std::string last_base;
  for (const auto& [name, n] : counters_) {
    const auto brace = name.find('{');
    const std::string base = name.substr(0, brace), labels = brace == std::string::npos ? "" : name.substr(brace);
    if (base != last_base) out << "# TYPE snapformer_" << base << "_total counter\n";
    last_base = base;
    out << "snapformer_" << base << "_total" << labels << " " << n << "\n";
  }
  for (const auto& [name, v] : gauges_) out << "# TYPE snapformer_" << name << " gauge\nsnapformer_" << name << " " << v << "\n";
  return out.str();
}

}  // namespace snapformer
