#include "server/http_server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <iostream>

#include "cache/redis_cluster_store.h"
#include "cache/redis_store.h"

#include "util/utf8.h"

namespace snapformer {

namespace {

double elapsed_ms(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - since).count();
}

std::string format_ms(double ms) { return std::to_string(static_cast<int64_t>(ms + 0.5)); }

}  // namespace

HttpServer::HttpServer(std::shared_ptr<ModelRegistry> registry, ServerOptions options)
    : registry_(std::move(registry)),
      options_(std::move(options)),
      batcher_(std::make_unique<EncoderBatcher>(static_cast<std::size_t>(std::max(1, options_.max_concurrent_requests)),
                                                options_.max_batch_tokens)),
      generator_(std::make_unique<GenerationBatcher>(static_cast<std::size_t>(std::max(1, options_.max_batch_sequences)),
                                                     static_cast<std::size_t>(std::max(1, options_.max_concurrent_requests)))),
      http_(std::make_unique<httplib::Server>()) {
  batcher_->on_batch = [this](int64_t inputs, int64_t tokens) { metrics_.observe_batch(inputs, tokens); };
  const int http_threads = std::max(4, options_.max_concurrent_requests + 4);
  http_->new_task_queue = [http_threads] { return new httplib::ThreadPool(static_cast<std::size_t>(http_threads)); };
  http_->set_payload_max_length(options_.max_body_bytes);
  // Answers are small and written in pieces: without TCP_NODELAY, Nagle's
  // algorithm and delayed ACKs add ~40 ms to every keep-alive request.
  http_->set_tcp_nodelay(true);
  // Slow or vanished clients time out and free their thread.
  http_->set_read_timeout(options_.client_timeout_seconds, 0);
  http_->set_write_timeout(options_.client_timeout_seconds, 0);
  http_->set_keep_alive_timeout(std::min(5, options_.client_timeout_seconds));
  http_->set_keep_alive_max_count(100000);
  http_->set_error_handler([](const httplib::Request&, httplib::Response& response) {
    if (!response.body.empty()) return;
    const char* message = response.status == 404   ? "no such route"
                          : response.status == 413 ? "request body is larger than the limit"
                                                   : "bad request";
    send_json(response, Json{{"error", message}, {"error_type", "validation"}}, response.status);
  });
  if (options_.tokenization_cache_entries > 0) {
    // ~1 KB per cached text on average: bound the bytes to match the entries.
    tokenization_cache_ = std::make_shared<EncodingCache>(
        options_.tokenization_cache_entries, options_.tokenization_cache_entries * 2048, std::chrono::milliseconds(0),
        encoding_bytes);
    for (const ServedModel& model : registry_->models()) model.pipeline->tokenizer().use_cache(tokenization_cache_);
  }
  if (options_.cache) {
    std::unique_ptr<RemoteStore> remote;
    const std::chrono::milliseconds timeout(std::max(1, options_.redis_timeout_ms));
    if (!options_.redis_url.empty() && !options_.redis_cluster.empty())
      throw Error("--redis and --redis-cluster are exclusive");
    if (!options_.redis_url.empty()) remote = std::make_unique<RedisStore>(options_.redis_url, timeout);
    if (!options_.redis_cluster.empty())
      remote = std::make_unique<RedisClusterStore>(options_.redis_cluster, timeout, options_.redis_user,
                                                   options_.redis_password);
    // Keys need the models' identity only where other processes share them:
    // one process serves one fixed set of models (and fingerprinting reads files).
    if (remote) cache_namespace_ = registry_->fingerprint();
    cache_ = std::make_unique<ResponseCache>(options_.response_cache, std::move(remote));
  }
  register_routes();
}

HttpServer::~HttpServer() = default;

void HttpServer::register_routes() {
  register_huggingface_routes(*this);
  register_tei_routes(*this);
  register_tgi_routes(*this);
  register_openai_routes(*this);
  register_kserve_routes(*this);
}

void HttpServer::bind() {
  // Debian's libcpp-httplib 0.11 listens with a backlog of 5: a burst of new
  // connections (clients starting together, a load balancer opening its pool)
  // overflowed the accept queue, and a quarter of 128 simultaneous clients had
  // their connection closed unanswered (tests/server_test.cc,
  // ABurstOfNewConnectionsIsAllAnswered). The listening socket is recorded
  // as httplib creates it, and listened on again with the system's maximum
  // backlog (Linux takes a second listen() as the new backlog). Only
  // SO_REUSEADDR is set, not httplib's default SO_REUSEPORT, so a second
  // server on the same port fails to bind instead of sharing it silently.
  http_->set_socket_options([this](int socket) {
    const int yes = 1;
    ::setsockopt(socket, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    listening_socket_ = socket;
  });
  if (options_.port == 0) {
    port_ = http_->bind_to_any_port(options_.host);
    if (port_ <= 0) throw Error("cannot bind " + options_.host);
  } else {
    if (!http_->bind_to_port(options_.host, options_.port))
      throw Error("cannot bind " + options_.host + ":" + std::to_string(options_.port) + " (in use?)");
    port_ = options_.port;
  }
  if (listening_socket_ >= 0 && ::listen(listening_socket_, SOMAXCONN) != 0)
    throw Error("cannot listen on " + options_.host + ":" + std::to_string(port_));
}

void HttpServer::run() {
  ready_ = true;
  http_->listen_after_bind();
  ready_ = false;
}

void HttpServer::stop() { http_->stop(); }

Json HttpServer::parse_json_body(const httplib::Request& request) {
  const std::size_t bad = utf8::find_invalid(request.body);
  if (bad != std::string::npos) throw ApiError(400, "request body is not valid UTF-8 (byte " + std::to_string(bad) + ")");
  try {
    return Json::parse(request.body);
  } catch (const Json::exception& e) {
    throw ApiError(400, std::string("malformed JSON: ") + e.what());
  }
}

void HttpServer::send_json(httplib::Response& response, const Json& body, int status) {
  response.status = status;
  response.set_content(body.dump(-1, ' ', false, Json::error_handler_t::replace), "application/json");
}

Json HttpServer::error_body(ApiStyle style, const std::string& message, const std::string& type, int status) {
  switch (style) {
    case ApiStyle::kTei: return {{"error", message}, {"error_type", type}};
    case ApiStyle::kOpenAi: {
      const std::string kind = status == 429 ? "rate_limit_error" : status == 401 ? "authentication_error"
                               : status >= 500 ? "server_error" : "invalid_request_error";
      return {{"error", {{"message", message}, {"type", kind}, {"param", nullptr}, {"code", nullptr}}}};
    }
    case ApiStyle::kHuggingFace:
    case ApiStyle::kKserve:
      return {{"error", message}};
  }
  return {{"error", message}};
}

const ServedModel& HttpServer::model_for(const std::string& name, Task task) const {
  if (!name.empty()) {
    const ServedModel* model = registry_->find(name);
    if (model == nullptr) throw ApiError(404, "model '" + name + "' is not served here", "not_found");
    if (!model->pipeline->supports(task))
      throw ApiError(422, "model '" + name + "' does not support " + task_name(task));
    return *model;
  }
  const ServedModel* model = registry_->first_supporting(task);
  if (model == nullptr) throw ApiError(422, std::string("no served model supports ") + task_name(task));
  return *model;
}

std::vector<Encoding> HttpServer::encode(const Pipeline& pipeline, const std::vector<TaskInput>& inputs, bool truncate,
                                         RequestTimings& timings) {
  const auto started = std::chrono::steady_clock::now();
  std::vector<Encoding> encodings;
  int64_t tokens = 0;
  for (const TaskInput& input : inputs) {
    Encoding e = pipeline.encode(input, truncation(truncate));
    if (e.size() == 0) throw ApiError(422, "an input has no tokens", "empty");
    tokens += static_cast<int64_t>(e.size());
    encodings.push_back(std::move(e));
  }
  timings.tokenization_ms += elapsed_ms(started);
  metrics_.add_tokens("input", tokens);
  return encodings;
}

EncoderJobResult HttpServer::wait(std::future<EncoderJobResult>& future, RequestTimings& timings) const {
  if (future.wait_until(deadline()) != std::future_status::ready)
    throw ApiError(504, "request timed out after " + std::to_string(options_.request_timeout_seconds) + " s", "backend");
  EncoderJobResult result = future.get();
  timings.queue_ms += result.queue_ms;
  timings.inference_ms += result.inference_ms;
  return result;
}

GenerateResult HttpServer::generate(const ServedModel& model, const TaskInput& input, const GenerationOptions& options,
                                    RequestTimings& timings) {
  if (options.do_sample && !options.seed) timings.cacheable = false;  // a new draw every time
  const auto started = std::chrono::steady_clock::now();
  auto cancelled = std::make_shared<std::atomic<bool>>(false);
  auto future = generator_->submit(model.pipeline, input, options,
                                   [cancelled](int32_t, const std::string&, float) { return !cancelled->load(); });
  if (future.wait_until(deadline()) != std::future_status::ready) {
    *cancelled = true;  // the session stops at its next token
    throw ApiError(504, "generation timed out after " + std::to_string(options_.request_timeout_seconds) + " s", "backend");
  }
  GenerateResult result = future.get();
  timings.inference_ms += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  metrics_.add_tokens("generated", static_cast<int64_t>(result.token_ids.size()));
  metrics_.set_gauge("active_generations", static_cast<double>(generator_->active()));
  return result;
}

std::string HttpServer::cache_key(const httplib::Request& request) const {
  Json body;
  try {
    body = Json::parse(request.body);
  } catch (const Json::exception&) {
    return "";
  }
  // Objects' keys come out sorted: key order and whitespace do not matter.
  std::string key = cache_namespace_;
  key += '\n';
  key += request.method + " " + request.path;
  for (const auto& [name, value] : request.params) key += "&" + name + "=" + value;
  key += '\n';
  key += body.dump(-1, ' ', false, Json::error_handler_t::replace);
  return key;
}

void HttpServer::publish_cache_metrics() {
  if (cache_) {
    const ResponseCacheCounters c = cache_->counters();
    metrics_.set_counter("cache_hits{tier=\"local\"}", c.local_hits);
    metrics_.set_counter("cache_hits{tier=\"redis\"}", c.remote_hits);
    metrics_.set_counter("cache_misses", c.misses);
    metrics_.set_counter("cache_evictions", c.evictions);
    metrics_.set_counter("cache_expirations", c.expirations);
    metrics_.set_gauge("cache_entries", static_cast<double>(c.entries));
    metrics_.set_gauge("cache_bytes", static_cast<double>(c.bytes));
    if (cache_->has_remote()) {
      metrics_.set_counter("cache_redis_errors", c.remote_errors);
      metrics_.set_counter("cache_redis_rejected_values", c.remote_rejected_values);
      metrics_.set_counter("cache_redis_writes", c.remote_writes);
      metrics_.set_counter("cache_redis_writes_dropped", c.remote_writes_dropped);
      metrics_.set_gauge("cache_redis_available", c.remote_available ? 1 : 0);
    }
  }
  if (tokenization_cache_) {
    const LruCacheStats s = tokenization_cache_->stats();
    metrics_.set_counter("tokenization_cache_hits", s.hits);
    metrics_.set_counter("tokenization_cache_misses", s.misses);
    metrics_.set_counter("tokenization_cache_evictions", s.evictions);
    metrics_.set_gauge("tokenization_cache_entries", static_cast<double>(s.entries));
  }
}

void HttpServer::route(const std::string& method, const std::string& pattern, ApiStyle style, const std::string& name,
                       RouteHandler handler, bool admission) {
  add_route(method, pattern, style, name, std::move(handler), admission, false);
}

void HttpServer::cached_route(const std::string& pattern, ApiStyle style, const std::string& name,
                              RouteHandler handler) {
  add_route("POST", pattern, style, name, std::move(handler), true, cache_ != nullptr);
}

bool HttpServer::answer_from_cache(const httplib::Request& request, httplib::Response& response, std::string& key) {
  key = cache_key(request);
  if (key.empty()) return false;
  const auto hit = cache_->lookup(key);
  if (!hit) return false;
  response.status = hit->response.status;
  response.set_content(hit->response.body, hit->response.content_type.c_str());
  response.set_header("x-cache", "hit");
  response.set_header("x-cache-tier", hit->source == ResponseCache::Source::kLocal ? "local" : "redis");
  key.clear();  // nothing to store, and no "miss" header
  return true;
}

bool HttpServer::admit() {
  if (in_flight_.fetch_add(1) >= options_.max_concurrent_requests) {
    in_flight_.fetch_sub(1);
    metrics_.count("rejected_requests");
    throw ApiError(429, "model is overloaded: too many concurrent requests", "overloaded");
  }
  metrics_.set_gauge("requests_in_flight", in_flight_.load());
  return true;
}

void HttpServer::add_route(const std::string& method, const std::string& pattern, ApiStyle style,
                           const std::string& name, RouteHandler handler, bool admission, bool cached) {
  auto wrapped = [this, style, name, handler = std::move(handler), admission, cached](const httplib::Request& request,
                                                                                     httplib::Response& response) {
    const auto started = std::chrono::steady_clock::now();
    RequestTimings timings;
    bool admitted = false;
    std::string key;  // non-empty: a cacheable request that missed
    try {
      if (!options_.api_key.empty() && request.get_header_value("Authorization") != "Bearer " + options_.api_key)
        throw ApiError(401, "missing or wrong API key (send Authorization: Bearer <key>)", "unauthorized");
      if (cached && answer_from_cache(request, response, key)) {
        // A hit skips admission, tokenization and inference.
      } else {
        if (admission) admitted = admit();
        handler(request, response, timings);
        if (!key.empty() && response.status == 200 && timings.cacheable && !response.body.empty())
          cache_->store(key, CachedResponse{200, response.get_header_value("Content-Type"), response.body});
      }
    } catch (const ApiError& e) {
      send_json(response, error_body(style, e.what(), e.type(), e.status()), e.status());
    } catch (const Json::exception& e) {  // a field of the wrong JSON type
      const int status = style == ApiStyle::kTei ? 422 : 400;
      send_json(response, error_body(style, std::string("invalid request: ") + e.what(), "validation", status), status);
    } catch (const InputTooLongError& e) {
      send_json(response, error_body(style, e.what(), "validation", 413), 413);
    } catch (const OverloadedError& e) {
      send_json(response, error_body(style, e.what(), "overloaded", 429), 429);
    } catch (const Error& e) {
      const int status = style == ApiStyle::kTei ? 422 : 400;
      send_json(response, error_body(style, e.what(), "validation", status), status);
    } catch (const std::exception& e) {
      send_json(response, error_body(style, std::string("internal error: ") + e.what(), "backend", 500), 500);
    }
    if (!key.empty()) response.set_header("x-cache", "miss");
    if (admitted) {
      in_flight_.fetch_sub(1);
      metrics_.set_gauge("requests_in_flight", in_flight_.load());
    }
    const double total_ms = elapsed_ms(started);
    response.set_header("x-total-time", format_ms(total_ms));
    response.set_header("x-tokenization-time", format_ms(timings.tokenization_ms));
    response.set_header("x-queue-time", format_ms(timings.queue_ms));
    response.set_header("x-inference-time", format_ms(timings.inference_ms));
    response.set_header("x-compute-time", format_ms(timings.tokenization_ms + timings.inference_ms));
    metrics_.count_request(name, response.status);
    metrics_.observe_seconds("total", total_ms / 1000);
    if (timings.tokenization_ms > 0) metrics_.observe_seconds("tokenization", timings.tokenization_ms / 1000);
    if (timings.queue_ms > 0) metrics_.observe_seconds("queue", timings.queue_ms / 1000);
    if (timings.inference_ms > 0) metrics_.observe_seconds("inference", timings.inference_ms / 1000);
    if (options_.log_requests) {
      const Json line = {{"method", request.method}, {"path", request.path},    {"route", name},
                         {"status", response.status}, {"total_ms", total_ms}, {"tokenization_ms", timings.tokenization_ms},
                         {"queue_ms", timings.queue_ms}, {"inference_ms", timings.inference_ms},
                         {"remote", request.remote_addr}};
      std::cerr << line.dump() << "\n";
    }
  };
  if (method == "GET") http_->Get(pattern, wrapped);
  else if (method == "POST") http_->Post(pattern, wrapped);
  else throw Error("unsupported method " + method);
}

std::vector<std::string> strings_or_string(const Json& value, const std::string& field) {
  std::vector<std::string> out;
  if (value.is_string()) {
    out.push_back(value.get<std::string>());
  } else if (value.is_array()) {
    for (const Json& item : value) {
      if (!item.is_string()) throw ApiError(422, "'" + field + "' must be a string or a list of strings");
      out.push_back(item.get<std::string>());
    }
  } else {
    throw ApiError(422, "'" + field + "' must be a string or a list of strings");
  }
  if (out.empty()) throw ApiError(422, "'" + field + "' is empty", "empty");
  return out;
}

GenerationOptions generation_options_from(const Json& p, const std::string& max_tokens_field) {
  GenerationOptions o;
  if (!p.is_object() && !p.is_null()) throw ApiError(422, "'parameters' must be an object");
  auto number = [&](const char* field, double fallback) {
    if (!p.is_object() || !p.contains(field) || p[field].is_null()) return fallback;
    if (!p[field].is_number()) throw ApiError(422, std::string("'") + field + "' must be a number");
    return p[field].get<double>();
  };
  o.max_new_tokens = static_cast<int64_t>(number(max_tokens_field.c_str(), 20));
  if (o.max_new_tokens < 0 || o.max_new_tokens > 4096) throw ApiError(422, "'" + max_tokens_field + "' must be in [0, 4096]");
  if (p.is_object() && p.contains("do_sample") && !p["do_sample"].is_null()) {
    if (!p["do_sample"].is_boolean()) throw ApiError(422, "'do_sample' must be a boolean");
    o.do_sample = p["do_sample"].get<bool>();
  }
  o.temperature = static_cast<float>(number("temperature", 1.0));
  o.top_k = static_cast<int64_t>(number("top_k", 0));
  o.top_p = static_cast<float>(number("top_p", 1.0));
  o.repetition_penalty = static_cast<float>(number("repetition_penalty", 1.0));
  if (p.is_object() && p.contains("seed") && !p["seed"].is_null()) {
    if (!p["seed"].is_number_integer()) throw ApiError(422, "'seed' must be an integer");
    o.seed = p["seed"].get<uint64_t>();
  }
  if (p.is_object() && p.contains("stop") && !p["stop"].is_null()) {
    if (p["stop"].is_string()) o.stop.push_back(p["stop"].get<std::string>());
    else o.stop = strings_or_string(p["stop"], "stop");
  }
  // Sampling parameters imply sampling, as TGI and OpenAI treat them.
  if (p.is_object() && !p.contains("do_sample") &&
      ((p.contains("temperature") && o.temperature != 1.0f) || (p.contains("top_p") && o.top_p < 1.0f) ||
       (p.contains("top_k") && o.top_k > 0)))
    o.do_sample = true;
  try {
    validate(o);
  } catch (const Error& e) {
    throw ApiError(422, e.what());
  }
  return o;
}

}  // namespace snapformer
