// HttpServer: the HTTP front of snapformer. It owns the served models, the
// dynamic batcher and the metrics, and wraps every route with the same
// plumbing: API-key check, admission control (429 beyond
// --max-concurrent-requests), error bodies in the style of the emulated API,
// timing headers, metrics and an optional structured log line.
//
// The routes themselves live in routes_*.cc, one file per emulated API.
// Thread-safety: handlers run on the HTTP thread pool concurrently; models
// and the registry are read-only, the batcher and metrics are thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "cache/response_cache.h"
#include "scheduler/encoder_batcher.h"
#include "scheduler/generation_batcher.h"
#include "server/metrics.h"
#include "server/model_registry.h"
#include "util/error.h"
#include "util/json_file.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace snapformer {

struct ServerOptions {
  std::string host = "0.0.0.0";
  int port = 8000;
  int threads = 0;                      // kernel threads; 0: all cores
  int64_t max_batch_tokens = 16384;     // tokens in one dynamically batched forward pass
  int max_concurrent_requests = 128;    // in flight at once; more get 429
  int64_t max_input_length = 0;         // tokens per input; 0: each model's maximum
  std::size_t max_body_bytes = 4 << 20;  // larger bodies get 413
  double request_timeout_seconds = 60;  // a request still running after this gets 504
  int max_batch_sequences = 32;         // generations advanced together in one decode step
  int client_timeout_seconds = 10;      // a client silent this long while sending or reading is dropped
  std::string api_key;                  // non-empty: require "Authorization: Bearer <key>"
  bool log_requests = false;            // one JSON log line per request on standard error

  // Caches (see cache/response_cache.h). Answers of deterministic requests are
  // reused when `cache` is on; texts' tokenizations when tokenization_cache_entries > 0.
  bool cache = true;
  ResponseCacheOptions response_cache;
  std::size_t tokenization_cache_entries = 100000;
  std::string redis_url;                 // "redis://..." : a shared second tier
  std::string redis_cluster;             // "host:port,..." : the same on a Redis Cluster
  std::string redis_user, redis_password;  // for --redis-cluster (a URL carries its own)
  int redis_timeout_ms = 100;            // connect and command timeout
};

// The error formats of the emulated APIs.
enum class ApiStyle { kHuggingFace, kTei, kOpenAi, kKserve };

// An error with the HTTP status to answer it with.
class ApiError : public Error {
 public:
  ApiError(int status, const std::string& message, std::string type = "validation")
      : Error(message), status_(status), type_(std::move(type)) {}
  int status() const { return status_; }
  const std::string& type() const { return type_; }

 private:
  int status_;
  std::string type_;
};

// Per-request timings, reported in the TEI-style x-*-time headers, and
// whether the answer may be reused: handlers clear `cacheable` for answers
// that must not be (sampling without a seed).
struct RequestTimings {
  double tokenization_ms = 0, queue_ms = 0, inference_ms = 0;
  bool cacheable = true;
};

using RouteHandler = std::function<void(const httplib::Request&, httplib::Response&, RequestTimings&)>;

class HttpServer {
 public:
  HttpServer(std::shared_ptr<ModelRegistry> registry, ServerOptions options);
  ~HttpServer();

  // Binds the port (0 picks a free one). Throws Error if it cannot.
  void bind();
  int port() const { return port_; }
  // Serves until stop(); in-flight requests finish before it returns.
  void run();
  // Stops accepting connections; safe from any thread (and after a signal).
  void stop();
  bool ready() const { return ready_; }

  // --- for the route files ---
  void route(const std::string& method, const std::string& pattern, ApiStyle style, const std::string& name,
             RouteHandler handler, bool admission = true);
  // A POST route whose 200 answers go to the response cache (keyed on the
  // served models, the path and the canonical JSON body) unless the handler
  // clears RequestTimings::cacheable; a cached answer skips the handler and
  // carries "x-cache: hit" ("miss" otherwise).
  void cached_route(const std::string& pattern, ApiStyle style, const std::string& name, RouteHandler handler);
  ResponseCache* response_cache() { return cache_.get(); }
  // Copies the caches' counters into the metrics (before /metrics renders).
  void publish_cache_metrics();
  const ModelRegistry& registry() const { return *registry_; }
  Metrics& metrics() { return metrics_; }
  EncoderBatcher& batcher() { return *batcher_; }
  GenerationBatcher& generator() { return *generator_; }
  // Runs a generation through the continuous batcher and waits for it (504 after the timeout).
  GenerateResult generate(const ServedModel& model, const TaskInput& input, const GenerationOptions& options,
                          RequestTimings& timings);
  const ServerOptions& options() const { return options_; }
  // Deadline for work started now (request timeout).
  std::chrono::steady_clock::time_point deadline() const {
    return std::chrono::steady_clock::now() +
           std::chrono::milliseconds(static_cast<int64_t>(options_.request_timeout_seconds * 1000));
  }
  // The model named `name`, or the first one supporting `task` when name is empty.
  // Throws ApiError 404 (unknown name) or 422 (no model / task unsupported).
  const ServedModel& model_for(const std::string& name, Task task) const;
  // Truncation options for a request: --max-input-length applies.
  TruncationOptions truncation(bool truncate) const { return TruncationOptions{truncate, options_.max_input_length}; }
  // Tokenizes a request's inputs for `pipeline` (timed as tokenization,
  // counted as input tokens). An input without tokens is a 422 "empty".
  std::vector<Encoding> encode(const Pipeline& pipeline, const std::vector<TaskInput>& inputs, bool truncate,
                               RequestTimings& timings);
  // Waits for a batched job with the request deadline (504 when it passes).
  EncoderJobResult wait(std::future<EncoderJobResult>& future, RequestTimings& timings) const;

  static Json parse_json_body(const httplib::Request& request);
  static void send_json(httplib::Response& response, const Json& body, int status = 200);
  static Json error_body(ApiStyle style, const std::string& message, const std::string& type, int status);

 private:
  void register_routes();
  void add_route(const std::string& method, const std::string& pattern, ApiStyle style, const std::string& name,
                 RouteHandler handler, bool admission, bool cached);
  // "" when the request cannot be cached (its body is not JSON).
  std::string cache_key(const httplib::Request& request) const;
  // Looks the request up; on a hit fills `response` and returns true. On a
  // miss leaves the key to store the answer under in `key` ("" if uncacheable).
  bool answer_from_cache(const httplib::Request& request, httplib::Response& response, std::string& key);
  // Counts the request in flight, or throws ApiError 429 beyond the limit.
  bool admit();

  std::shared_ptr<ModelRegistry> registry_;
  ServerOptions options_;
  Metrics metrics_;
  std::unique_ptr<EncoderBatcher> batcher_;
  std::unique_ptr<GenerationBatcher> generator_;
  std::unique_ptr<httplib::Server> http_;
  std::unique_ptr<ResponseCache> cache_;                 // null with --no-cache
  std::shared_ptr<EncodingCache> tokenization_cache_;   // null when off
  std::string cache_namespace_;                          // the served models' fingerprint (with Redis)
  std::atomic<int> in_flight_{0};
  std::atomic<bool> ready_{false};
  int port_ = 0;
  int listening_socket_ = -1;  // httplib's, recorded at bind() to raise its backlog
};

// Route registration, one function per emulated API (routes_*.cc).
void register_huggingface_routes(HttpServer& server);
void register_tei_routes(HttpServer& server);
void register_tgi_routes(HttpServer& server);
void register_openai_routes(HttpServer& server);
void register_kserve_routes(HttpServer& server);

// Shared helpers for the route files.
std::vector<std::string> strings_or_string(const Json& value, const std::string& field);
GenerationOptions generation_options_from(const Json& parameters, const std::string& max_tokens_field);

}  // namespace snapformer
