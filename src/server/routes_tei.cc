// Text Embeddings Inference (TEI) routes: /embed, /predict, /rerank,
// /similarity, /tokenize, /decode, /info, /health, /metrics.
#include <httplib.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "server/http_server.h"
#include "util/utf8.h"

namespace snapformer {
namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

bool bool_field(const Json& body, const char* field, bool fallback) {
  if (!body.contains(field) || body[field].is_null()) return fallback;
  if (!body[field].is_boolean()) throw ApiError(422, std::string("'") + field + "' must be a boolean");
  return body[field].get<bool>();
}

Json object_body(const httplib::Request& request) {
  Json body = HttpServer::parse_json_body(request);
  if (!body.is_object()) throw ApiError(422, "the body must be a JSON object");
  if (!body.contains("inputs") && !body.contains("query") && !body.contains("ids"))
    throw ApiError(422, "missing field 'inputs'");
  return body;
}

std::vector<EmbedResult> embed_texts(HttpServer& server, const ServedModel& model, const std::vector<std::string>& texts,
                                     bool normalize, bool truncate, RequestTimings& timings) {
  std::vector<TaskInput> inputs;
  for (const auto& t : texts) inputs.push_back(TaskInput{.text = t});
  auto future = server.batcher().submit(model.pipeline, Task::kEmbed, server.encode(*model.pipeline, inputs, truncate, timings),
                                        Pooling::kDefault, normalize);
  return server.wait(future, timings).embeddings;
}

void embed(HttpServer& server, const httplib::Request& request, httplib::Response& response, RequestTimings& timings) {
  const Json body = object_body(request);
  const ServedModel& model = server.model_for("", Task::kEmbed);
  const auto texts = strings_or_string(body["inputs"], "inputs");
  Json out = Json::array();
  for (const EmbedResult& e : embed_texts(server, model, texts, bool_field(body, "normalize", true), bool_field(body, "truncate", false), timings))
    out.push_back(e.embedding);
  HttpServer::send_json(response, out);
}

// {"inputs": "text" | ["a", "b"] (one pair) | [["a", "b"], ...] | [..texts..]}
void predict(HttpServer& server, const httplib::Request& request, httplib::Response& response, RequestTimings& timings) {
  const Json body = object_body(request);
  const ServedModel& model = server.model_for("", Task::kClassify);
  const Json& in = body["inputs"];
  std::vector<TaskInput> inputs;
  bool batch = false;
  if (in.is_string()) {
    inputs.push_back(TaskInput{.text = in.get<std::string>()});
  } else if (in.is_array() && !in.empty() && in[0].is_array()) {
    batch = true;
    for (const Json& item : in) {
      const auto parts = strings_or_string(item, "inputs");
      if (parts.size() == 1) inputs.push_back(TaskInput{.text = parts[0]});
      else if (parts.size() == 2) inputs.push_back(TaskInput{.text = parts[0], .text_pair = parts[1]});
      else throw ApiError(422, "each input must be a text or a [text, text_pair] pair");
    }
  } else if (in.is_array() && in.size() == 2 && in[0].is_string() && in[1].is_string()) {
    inputs.push_back(TaskInput{.text = in[0].get<std::string>(), .text_pair = in[1].get<std::string>()});
  } else if (in.is_array() && in.size() == 1 && in[0].is_string()) {
    inputs.push_back(TaskInput{.text = in[0].get<std::string>()});
  } else {
    throw ApiError(422, "'inputs' must be a text, a [text, pair] or a list of those", in.empty() ? "empty" : "validation");
  }
  const bool raw = bool_field(body, "raw_scores", false);
  auto future = server.batcher().submit(model.pipeline, Task::kClassify,
                                        server.encode(*model.pipeline, inputs, bool_field(body, "truncate", false), timings));
  const auto results = server.wait(future, timings).classifications;
  const auto& labels = model.pipeline->config().labels;
  Json out = Json::array();
  for (const ClassifyResult& r : results) {
    const auto& values = raw ? r.logits : r.scores;
    std::vector<std::size_t> order(values.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return values[a] > values[b]; });
    Json ranked = Json::array();
    for (std::size_t i : order) ranked.push_back({{"score", values[i]}, {"label", labels[i]}});
    out.push_back(ranked);
  }
  HttpServer::send_json(response, batch ? out : out[0]);
}

// Scores every text against the query with the classifier (a cross-encoder:
// one logit, sigmoid unless raw_scores; with several labels the last label's probability).
void rerank(HttpServer& server, const httplib::Request& request, httplib::Response& response, RequestTimings& timings) {
  const Json body = object_body(request);
  if (!body.contains("query") || !body["query"].is_string()) throw ApiError(422, "missing field 'query'");
  if (!body.contains("texts")) throw ApiError(422, "missing field 'texts'");
  const ServedModel& model = server.model_for("", Task::kClassify);
  const auto texts = strings_or_string(body["texts"], "texts");
  std::vector<TaskInput> inputs;
  for (const auto& t : texts) inputs.push_back(TaskInput{.text = body["query"].get<std::string>(), .text_pair = t});
  auto future = server.batcher().submit(model.pipeline, Task::kClassify,
                                        server.encode(*model.pipeline, inputs, bool_field(body, "truncate", false), timings));
  const auto results = server.wait(future, timings).classifications;
  const bool raw = bool_field(body, "raw_scores", false), return_text = bool_field(body, "return_text", false);
  std::vector<std::pair<float, std::size_t>> scored;
  for (std::size_t i = 0; i < results.size(); ++i) {
    const auto& r = results[i];
    scored.emplace_back(raw ? r.logits.back() : r.scores.back(), i);
  }
  std::stable_sort(scored.begin(), scored.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  Json out = Json::array();
  for (const auto& [score, i] : scored) {
    Json item = {{"index", i}, {"score", score}};
    if (return_text) item["text"] = texts[i];
    out.push_back(item);
  }
  HttpServer::send_json(response, out);
}

void similarity(HttpServer& server, const httplib::Request& request, httplib::Response& response, RequestTimings& timings) {
  const Json body = object_body(request);
  const Json& in = body["inputs"];
  if (!in.is_object() || !in.contains("source_sentence") || !in["source_sentence"].is_string() || !in.contains("sentences"))
    throw ApiError(422, "'inputs' must be {\"source_sentence\": string, \"sentences\": [strings]}");
  const ServedModel& model = server.model_for("", Task::kEmbed);
  std::vector<std::string> texts = {in["source_sentence"].get<std::string>()};
  for (const auto& s : strings_or_string(in["sentences"], "sentences")) texts.push_back(s);
  const auto embeddings = embed_texts(server, model, texts, true, bool_field(body, "truncate", false), timings);
  Json out = Json::array();
  for (std::size_t i = 1; i < embeddings.size(); ++i)
    out.push_back(std::inner_product(embeddings[0].embedding.begin(), embeddings[0].embedding.end(),
                                     embeddings[i].embedding.begin(), 0.0f));
  HttpServer::send_json(response, out);
}

void tokenize(HttpServer& server, const httplib::Request& request, httplib::Response& response, RequestTimings& timings) {
  const Json body = object_body(request);
  const auto texts = strings_or_string(body["inputs"], "inputs");
  const bool specials = bool_field(body, "add_special_tokens", true);
  const ServedModel& model = server.model_for("", Task::kTokenize);
  const auto t0 = Clock::now();
  Json out = Json::array();
  for (const auto& text : texts) {
    const Encoding e = model.pipeline->tokenizer().encode(text, specials);
    std::vector<std::size_t> byte_starts;
    utf8::decode(text, &byte_starts);
    byte_starts.push_back(text.size());
    Json tokens = Json::array();
    for (std::size_t i = 0; i < e.size(); ++i) {
      const bool special = e.special_tokens_mask[i] != 0 || e.sequence_ids[i] < 0;
      const auto& o = e.offsets[i];
      // TEI reports UTF-8 byte offsets and the covered text.
      const std::size_t start = special ? 0 : byte_starts[o.begin], stop = special ? 0 : byte_starts[o.end];
      tokens.push_back({{"id", e.ids[i]},
                        {"text", special ? e.tokens[i] : text.substr(start, stop - start)},
                        {"special", special},
                        {"start", special ? Json(nullptr) : Json(start)},
                        {"stop", special ? Json(nullptr) : Json(stop)}});
    }
    out.push_back(tokens);
  }
  timings.tokenization_ms += ms_since(t0);
  HttpServer::send_json(response, out);  // a list per input, also for a single string, as TEI
}

void decode(HttpServer& server, const httplib::Request& request, httplib::Response& response, RequestTimings&) {
  const Json body = object_body(request);
  const Json& ids = body["ids"];
  const ServedModel& model = server.model_for("", Task::kTokenize);
  auto to_ids = [&](const Json& list) {
    std::vector<int32_t> out;
    for (const Json& id : list) {
      if (!id.is_number_integer() || id.get<int64_t>() < 0 ||
          id.get<int64_t>() >= static_cast<int64_t>(model.pipeline->tokenizer().vocab_size()))
        throw ApiError(422, "'ids' must hold token ids of the vocabulary");
      out.push_back(id.get<int32_t>());
    }
    return out;
  };
  if (!ids.is_array()) throw ApiError(422, "'ids' must be a list of token ids (or of lists)");
  const bool skip = bool_field(body, "skip_special_tokens", true);
  if (!ids.empty() && ids[0].is_array()) {
    Json out = Json::array();
    for (const Json& list : ids) out.push_back(model.pipeline->tokenizer().decode(to_ids(list), skip));
    HttpServer::send_json(response, out);
  } else {
    HttpServer::send_json(response, Json::array({model.pipeline->tokenizer().decode(to_ids(ids), skip)}));
  }
}

Json info(const HttpServer& server) {
  const auto& models = server.registry().models();
  Json out = {{"version", "0.1.0"},
              {"max_concurrent_requests", server.options().max_concurrent_requests},
              {"max_batch_tokens", server.options().max_batch_tokens},
              {"max_client_batch_size", 256}};
  if (!models.empty()) {
    const Pipeline& p = *models.front().pipeline;
    out["model_id"] = models.front().name;
    out["model_dtype"] = "float32";
    out["max_input_length"] = server.options().max_input_length > 0 ? server.options().max_input_length : p.max_length();
    Json type = Json::object();
    if (p.supports(Task::kClassify)) {
      Json id2label = Json::object();
      for (std::size_t i = 0; i < p.config().labels.size(); ++i) id2label[std::to_string(i)] = p.config().labels[i];
      type["classifier"] = {{"id2label", id2label}};
    } else if (p.supports(Task::kGenerate)) {
      type["generator"] = Json::object();
    } else {
      type["embedding"] = {{"pooling", p.default_pooling() == Pooling::kCls ? "cls" : "mean"}};
    }
    out["model_type"] = type;
  }
  Json all = Json::array();
  for (const auto& m : models) {
    Json tasks = Json::array();
    for (Task t : m.pipeline->tasks()) tasks.push_back(task_name(t));
    all.push_back({{"name", m.name}, {"architecture", m.pipeline->config().architecture}, {"tasks", tasks},
                   {"max_input_length", m.pipeline->max_length()}});
  }
  out["models"] = all;
  return out;
}

}  // namespace

void register_tei_routes(HttpServer& server) {
  auto bind = [&server](void (*f)(HttpServer&, const httplib::Request&, httplib::Response&, RequestTimings&)) {
    return [&server, f](const httplib::Request& q, httplib::Response& r, RequestTimings& t) { f(server, q, r, t); };
  };
  server.cached_route("/embed", ApiStyle::kTei, "tei_embed", bind(embed));
  server.cached_route("/predict", ApiStyle::kTei, "tei_predict", bind(predict));
  server.cached_route("/rerank", ApiStyle::kTei, "tei_rerank", bind(rerank));
  server.cached_route("/similarity", ApiStyle::kTei, "tei_similarity", bind(similarity));
  server.cached_route("/tokenize", ApiStyle::kTei, "tei_tokenize", bind(tokenize));
  server.cached_route("/decode", ApiStyle::kTei, "tei_decode", bind(decode));
  server.route("GET", "/info", ApiStyle::kTei, "info",
               [&server](const httplib::Request&, httplib::Response& r, RequestTimings&) { HttpServer::send_json(r, info(server)); }, false);
  server.route("GET", "/health", ApiStyle::kTei, "health",
               [&server](const httplib::Request&, httplib::Response& r, RequestTimings&) {
                 if (!server.ready() || server.registry().models().empty())
                   throw ApiError(503, "models are not ready", "unhealthy");
                 HttpServer::send_json(r, Json::object());
               }, false);
  server.route("GET", "/metrics", ApiStyle::kTei, "metrics",
               [&server](const httplib::Request&, httplib::Response& r, RequestTimings&) {
                 const BatcherStats stats = server.batcher().stats();
                 server.metrics().set_gauge("queue_depth", static_cast<double>(stats.queue_depth));
                 server.publish_cache_metrics();
                 r.set_content(server.metrics().render(), "text/plain; version=0.0.4");
               }, false);
}

}  // namespace snapformer
