// Generation over HTTP: TGI (/generate, /generate_stream) and OpenAI
// (/v1/completions, /v1/embeddings, /v1/models). Streams are server-sent
// events, one event per token.
#include <httplib.h>

#include <condition_variable>
#include <ctime>
#include <deque>
#include <memory>
#include <random>

#include "server/http_server.h"

namespace snapformer {
namespace {

using Clock = std::chrono::steady_clock;

std::string sse(const Json& event) { return "data:" + event.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n\n"; }

std::string finish_reason_tgi(const std::string& reason) {
  return reason == "eos_token" ? "eos_token" : reason == "stop_sequence" ? "stop_sequence" : "length";
}

struct TgiRequest {
  std::string prompt;
  GenerationOptions options;
  bool details = false;
  bool return_full_text = false;
  bool drawn_seed = false;  // sampling with a seed the client did not give: not reproducible
};

TgiRequest parse_tgi(const httplib::Request& request) {
  const Json body = HttpServer::parse_json_body(request);
  if (!body.is_object() || !body.contains("inputs") || !body["inputs"].is_string())
    throw ApiError(422, "the body must be {\"inputs\": string, \"parameters\": {...}}");
  TgiRequest r;
  r.prompt = body["inputs"].get<std::string>();
  if (r.prompt.empty()) throw ApiError(422, "'inputs' must not be empty", "empty");
  const Json parameters = body.value("parameters", Json::object());
  r.options = generation_options_from(parameters, "max_new_tokens");
  r.details = parameters.is_object() && parameters.value("details", false);
  r.return_full_text = parameters.is_object() && parameters.value("return_full_text", false);
  if (!r.options.seed) {
    r.options.seed = std::random_device{}();  // reported in details
    r.drawn_seed = r.options.do_sample;
  }
  return r;
}

Json token_json(const Tokenizer& tokenizer, int32_t id, float logprob) {
  return {{"id", id}, {"text", tokenizer.decode({id}, false)}, {"logprob", logprob}, {"special", tokenizer.is_special(id)}};
}

void tgi_generate(HttpServer& server, const httplib::Request& request, httplib::Response& response, RequestTimings& timings) {
  const ServedModel& model = server.model_for("", Task::kGenerate);
  const TgiRequest r = parse_tgi(request);
  if (r.drawn_seed) timings.cacheable = false;
  const GenerateResult result = server.generate(model, TaskInput{.text = r.prompt}, r.options, timings);
  Json out = {{"generated_text", r.return_full_text ? r.prompt + result.text : result.text}};
  if (r.details) {
    Json tokens = Json::array();
    for (std::size_t i = 0; i < result.token_ids.size(); ++i)
      tokens.push_back(token_json(model.pipeline->tokenizer(), result.token_ids[i], result.logprobs[i]));
    out["details"] = {{"finish_reason", finish_reason_tgi(result.finish_reason)},
                      {"generated_tokens", result.token_ids.size()},
                      {"seed", *r.options.seed},
                      {"prefill", Json::array()},
                      {"tokens", tokens}};
  }
  response.set_header("x-generated-tokens", std::to_string(result.token_ids.size()));
  HttpServer::send_json(response, out);
}

// Events of a streamed generation, handed from the batcher's thread (which
// must never wait on a client) to the connection's thread, which writes them.
struct EventChannel {
  std::mutex mutex;
  std::condition_variable ready;
  std::deque<std::string> events;
  std::atomic<bool> cancelled{false};  // the client went away

  void push(std::string event) {
    {
      std::lock_guard<std::mutex> lock(mutex);
      events.push_back(std::move(event));
    }
    ready.notify_one();
  }
};

// Starts a generation on the continuous batcher and answers with a chunked
// stream of server-sent events, one per token, then `on_end`'s. A client that
// goes away cancels the generation at its next token.
void stream_generation(HttpServer& server, httplib::Response& response, const ServedModel& model, TaskInput input,
                       GenerationOptions options,
                       std::function<std::string(int32_t, const std::string&, float, std::size_t)> on_token,
                       std::function<std::string(const GenerateResult&)> on_end) {
  auto channel = std::make_shared<EventChannel>();
  auto index = std::make_shared<std::size_t>(0);
  // Throws here (bad prompt, full queue) so the client gets an HTTP error, not an event.
  auto future = std::make_shared<std::future<GenerateResult>>(server.generator().submit(
      model.pipeline, input, options, [channel, index, on_token](int32_t id, const std::string& piece, float logprob) {
        if (channel->cancelled) return false;
        channel->push(on_token(id, piece, logprob, (*index)++));
        return true;
      }));
  Metrics* metrics = &server.metrics();
  const auto deadline = server.deadline();
  response.set_header("Cache-Control", "no-cache");
  response.set_chunked_content_provider(
      "text/event-stream", [channel, future, metrics, deadline, on_end](std::size_t, httplib::DataSink& sink) {
        auto write = [&](const std::string& event) {
          if (!sink.is_writable() || !sink.write(event.data(), event.size())) channel->cancelled = true;
        };
        for (;;) {
          std::deque<std::string> batch;
          {
            std::unique_lock<std::mutex> lock(channel->mutex);
            channel->ready.wait_for(lock, std::chrono::milliseconds(20), [&] { return !channel->events.empty(); });
            batch.swap(channel->events);
          }
          for (const std::string& event : batch) write(event);
          if (Clock::now() > deadline) channel->cancelled = true;
          if (future->wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
            if (channel->cancelled) break;  // the generation stops at its next token
            continue;
          }
          std::lock_guard<std::mutex> lock(channel->mutex);
          for (const std::string& event : channel->events) write(event);
          channel->events.clear();
          try {
            const GenerateResult result = future->get();
            metrics->add_tokens("generated", static_cast<int64_t>(result.token_ids.size()));
            write(on_end(result));
          } catch (const std::exception& e) {
            write(sse(Json{{"error", e.what()}, {"error_type", "generation"}}));
          }
          break;
        }
        sink.done();
        return true;
      });
}

void tgi_generate_stream(HttpServer& server, const httplib::Request& request, httplib::Response& response, RequestTimings&) {
  const ServedModel& model = server.model_for("", Task::kGenerate);
  const TgiRequest r = parse_tgi(request);
  auto pipeline = model.pipeline;
  const Tokenizer* tokenizer = &pipeline->tokenizer();
  const TgiRequest copy = r;
  stream_generation(
      server, response, model, TaskInput{.text = r.prompt}, r.options,
      [tokenizer](int32_t id, const std::string&, float logprob, std::size_t) {
        return sse(Json{{"token", token_json(*tokenizer, id, logprob)}, {"generated_text", nullptr}, {"details", nullptr}});
      },
      [copy](const GenerateResult& result) {
        // TGI repeats the last token in the final event, with the whole text and the details.
        Json last = {{"token", {{"id", result.token_ids.empty() ? -1 : result.token_ids.back()}, {"text", ""}, {"logprob", 0.0}, {"special", false}}},
                     {"generated_text", copy.return_full_text ? copy.prompt + result.text : result.text},
                     {"details", {{"finish_reason", finish_reason_tgi(result.finish_reason)},
                                  {"generated_tokens", result.token_ids.size()},
                                  {"seed", *copy.options.seed}}}};
        return sse(last);
      });
}

// --- OpenAI -------------------------------------------------------------------

std::string completion_id() {
  static std::atomic<uint64_t> counter{0};
  return "cmpl-" + std::to_string(std::time(nullptr)) + "-" + std::to_string(counter++);
}

std::string openai_finish_reason(const std::string& reason) { return reason == "length" ? "length" : "stop"; }

// OpenAI's sampling fields as GenerationOptions: temperature 1 (sampling) by
// default, 0 for greedy; `max_tokens_default` new tokens unless max_tokens
// (or chat's max_completion_tokens) says otherwise.
GenerationOptions openai_generation_options(const Json& body, int64_t max_tokens_default) {
  Json parameters = body;
  if (body.contains("max_completion_tokens") && !body.contains("max_tokens"))
    parameters["max_tokens"] = body["max_completion_tokens"];
  if (!parameters.contains("max_tokens") || parameters["max_tokens"].is_null()) parameters["max_tokens"] = max_tokens_default;
  const Json temperature_field = body.value("temperature", Json(1.0));
  if (!temperature_field.is_number()) throw ApiError(400, "'temperature' must be a number");
  const double temperature = temperature_field.get<double>();
  parameters["do_sample"] = temperature > 0;
  if (temperature <= 0) parameters.erase("temperature");
  parameters.erase("top_k");
  parameters.erase("frequency_penalty");
  parameters.erase("presence_penalty");
  if (body.contains("n") && body["n"] != 1) throw ApiError(400, "only n = 1 is supported");
  return generation_options_from(parameters, "max_tokens");
}

void openai_completions(HttpServer& server, const httplib::Request& request, httplib::Response& response,
                        RequestTimings& timings) {
  const Json body = HttpServer::parse_json_body(request);
  if (!body.is_object()) throw ApiError(400, "the body must be a JSON object");
  const std::string model_name = body.value("model", std::string());
  const ServedModel& model = server.model_for(model_name, Task::kGenerate);
  if (!body.contains("prompt")) throw ApiError(400, "missing field 'prompt'");
  const auto prompts = strings_or_string(body["prompt"], "prompt");
  if (prompts.size() != 1) throw ApiError(400, "only one prompt per request is supported");
  const GenerationOptions options = openai_generation_options(body, 16);  // OpenAI's default
  const std::string id = completion_id();
  const std::string name = model.name;
  const auto created = static_cast<int64_t>(std::time(nullptr));
  const auto finish = openai_finish_reason;
  if (body.value("stream", false)) {
    stream_generation(
        server, response, model, TaskInput{.text = prompts[0]}, options,
        [=](int32_t, const std::string& piece, float, std::size_t) {
          return sse(Json{{"id", id}, {"object", "text_completion"}, {"created", created}, {"model", name},
                          {"choices", {{{"text", piece}, {"index", 0}, {"logprobs", nullptr}, {"finish_reason", nullptr}}}}});
        },
        [=](const GenerateResult& result) {
          return sse(Json{{"id", id}, {"object", "text_completion"}, {"created", created}, {"model", name},
                          {"choices", {{{"text", ""}, {"index", 0}, {"logprobs", nullptr}, {"finish_reason", finish(result.finish_reason)}}}}}) +
                 "data: [DONE]\n\n";
        });
    return;
  }
  const GenerateResult result = server.generate(model, TaskInput{.text = prompts[0]}, options, timings);
  const std::string text = body.value("echo", false) ? prompts[0] + result.text : result.text;
  HttpServer::send_json(
      response, {{"id", id}, {"object", "text_completion"}, {"created", created}, {"model", name},
                 {"choices", {{{"text", text}, {"index", 0}, {"logprobs", nullptr}, {"finish_reason", finish(result.finish_reason)}}}},
                 {"usage", {{"prompt_tokens", result.prompt_ids.size()}, {"completion_tokens", result.token_ids.size()},
                            {"total_tokens", result.prompt_ids.size() + result.token_ids.size()}}}});
}

// /v1/chat/completions: the conversation through the model's chat template
// (tasks/chat_template.h), then a generation like /v1/completions. Streams
// chat.completion.chunk events: the role first, then one content delta per
// token, then the finish reason, then [DONE].
void openai_chat_completions(HttpServer& server, const httplib::Request& request, httplib::Response& response,
                             RequestTimings& timings) {
  const Json body = HttpServer::parse_json_body(request);
  if (!body.is_object()) throw ApiError(400, "the body must be a JSON object");
  const ServedModel& model = server.model_for(body.value("model", std::string()), Task::kGenerate);
  if (!body.contains("messages")) throw ApiError(400, "missing field 'messages'");
  if (body.contains("tools") && !body["tools"].is_null() && !body["tools"].empty())
    throw ApiError(400, "'tools' are not supported");
  const ChatTemplate& chat = *model.pipeline->chat_template();
  std::string prompt;
  try {
    prompt = chat.render(body["messages"], /*add_generation_prompt=*/true);
  } catch (const Error& e) {
    throw ApiError(400, e.what());
  }
  GenerationOptions options = openai_generation_options(body, 256);
  for (const std::string& stop : chat.stop_sequences()) options.stop.push_back(stop);
  const bool plain = chat.is_plain();
  const std::string id = "chat" + completion_id();
  const std::string name = model.name;
  const auto created = static_cast<int64_t>(std::time(nullptr));
  auto chunk = [=](const Json& delta, const Json& finish_reason) {
    return sse(Json{{"id", id}, {"object", "chat.completion.chunk"}, {"created", created}, {"model", name},
                    {"choices", {{{"index", 0}, {"delta", delta}, {"logprobs", nullptr}, {"finish_reason", finish_reason}}}}});
  };
  if (body.value("stream", false)) {
    // The plain template's prompt ends in "assistant:"; the space the model
    // puts after it is not part of the reply.
    auto leading = std::make_shared<bool>(plain);
    response.set_header("x-prompt-template", plain ? "plain" : "model");
    stream_generation(
        server, response, model, TaskInput{.text = prompt}, options,
        [=](int32_t, const std::string& piece, float, std::size_t index) {
          std::string text = piece;
          if (*leading) {
            text.erase(0, text.find_first_not_of(' ') == std::string::npos ? text.size() : text.find_first_not_of(' '));
            if (!text.empty()) *leading = false;
          }
          std::string events = index == 0 ? chunk({{"role", "assistant"}, {"content", ""}}, nullptr) : "";
          return events + chunk({{"content", text}}, nullptr);
        },
        [=](const GenerateResult& result) {
          std::string events = result.token_ids.empty() ? chunk({{"role", "assistant"}, {"content", ""}}, nullptr) : "";
          return events + chunk(Json::object(), openai_finish_reason(result.finish_reason)) + "data: [DONE]\n\n";
        });
    return;
  }
  const GenerateResult result = server.generate(model, TaskInput{.text = prompt}, options, timings);
  std::string content = result.text;
  if (plain) content.erase(0, std::min(content.size(), content.find_first_not_of(' ')));
  response.set_header("x-prompt-template", plain ? "plain" : "model");
  HttpServer::send_json(
      response, {{"id", id}, {"object", "chat.completion"}, {"created", created}, {"model", name},
                 {"choices", {{{"index", 0}, {"message", {{"role", "assistant"}, {"content", content}}}, {"logprobs", nullptr},
                               {"finish_reason", openai_finish_reason(result.finish_reason)}}}},
                 {"usage", {{"prompt_tokens", result.prompt_ids.size()}, {"completion_tokens", result.token_ids.size()},
                            {"total_tokens", result.prompt_ids.size() + result.token_ids.size()}}}});
}

void openai_embeddings(HttpServer& server, const httplib::Request& request, httplib::Response& response,
                       RequestTimings& timings) {
  const Json body = HttpServer::parse_json_body(request);
  if (!body.is_object() || !body.contains("input")) throw ApiError(400, "missing field 'input'");
  const ServedModel& model = server.model_for(body.value("model", std::string()), Task::kEmbed);
  std::vector<TaskInput> inputs;
  const Json& in = body["input"];
  if (in.is_array() && !in.empty() && in[0].is_number_integer()) {
    inputs.push_back(TaskInput{.input_ids = in.get<std::vector<int32_t>>()});
  } else if (in.is_array() && !in.empty() && in[0].is_array()) {
    for (const Json& ids : in) inputs.push_back(TaskInput{.input_ids = ids.get<std::vector<int32_t>>()});
  } else {
    for (const auto& t : strings_or_string(in, "input")) inputs.push_back(TaskInput{.text = t});
  }
  if (body.contains("encoding_format") && body["encoding_format"] != "float")
    throw ApiError(400, "only encoding_format 'float' is supported");
  std::vector<Encoding> encodings = server.encode(*model.pipeline, inputs, false, timings);
  int64_t tokens = 0;
  for (const Encoding& e : encodings) tokens += static_cast<int64_t>(e.size());
  auto future = server.batcher().submit(model.pipeline, Task::kEmbed, std::move(encodings), Pooling::kDefault, true);
  const auto embeddings = server.wait(future, timings).embeddings;
  Json data = Json::array();
  for (std::size_t i = 0; i < embeddings.size(); ++i)
    data.push_back({{"object", "embedding"}, {"embedding", embeddings[i].embedding}, {"index", i}});
  HttpServer::send_json(response, {{"object", "list"}, {"data", data}, {"model", model.name},
                                   {"usage", {{"prompt_tokens", tokens}, {"total_tokens", tokens}}}});
}

void openai_models(HttpServer& server, const httplib::Request&, httplib::Response& response, RequestTimings&) {
  Json data = Json::array();
  for (const auto& m : server.registry().models())
    data.push_back({{"id", m.name}, {"object", "model"}, {"created", 0}, {"owned_by", "snapformer"}});
  HttpServer::send_json(response, {{"object", "list"}, {"data", data}});
}

}  // namespace

void register_tgi_routes(HttpServer& server) {
  server.cached_route("/generate", ApiStyle::kTei, "tgi_generate",
               [&server](const httplib::Request& q, httplib::Response& r, RequestTimings& t) { tgi_generate(server, q, r, t); });
  server.route("POST", "/generate_stream", ApiStyle::kTei, "tgi_generate_stream",
               [&server](const httplib::Request& q, httplib::Response& r, RequestTimings& t) { tgi_generate_stream(server, q, r, t); });
}

void register_openai_routes(HttpServer& server) {
  server.cached_route("/v1/completions", ApiStyle::kOpenAi, "openai_completions",
               [&server](const httplib::Request& q, httplib::Response& r, RequestTimings& t) { openai_completions(server, q, r, t); });
  server.cached_route("/v1/chat/completions", ApiStyle::kOpenAi, "openai_chat_completions",
               [&server](const httplib::Request& q, httplib::Response& r, RequestTimings& t) { openai_chat_completions(server, q, r, t); });
  server.cached_route("/v1/embeddings", ApiStyle::kOpenAi, "openai_embeddings",
               [&server](const httplib::Request& q, httplib::Response& r, RequestTimings& t) { openai_embeddings(server, q, r, t); });
  server.route("GET", "/v1/models", ApiStyle::kOpenAi, "openai_models",
               [&server](const httplib::Request& q, httplib::Response& r, RequestTimings& t) { openai_models(server, q, r, t); }, false);
}

}  // namespace snapformer
