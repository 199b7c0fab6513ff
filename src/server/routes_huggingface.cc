// The Hugging Face Inference API: POST / and POST /models/{name} with
// {"inputs": ..., "parameters": {...}}, answered as the transformers
// pipelines of the model's task answer.
#include <httplib.h>

#include <algorithm>
#include <cmath>

#include "ops/elementwise.h"
#include "server/http_server.h"
#include "util/utf8.h"

namespace snapformer {
namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

const Json& parameters_of(const Json& body) {
  static const Json kEmpty = Json::object();
  if (!body.contains("parameters") || body["parameters"].is_null()) return kEmpty;
  if (!body["parameters"].is_object()) throw ApiError(400, "'parameters' must be an object");
  return body["parameters"];
}

int64_t int_parameter(const Json& p, const char* field, int64_t fallback) {
  if (!p.contains(field) || p[field].is_null()) return fallback;
  if (!p[field].is_number_integer()) throw ApiError(400, std::string("'") + field + "' must be an integer");
  return p[field].get<int64_t>();
}

// The task a model answers on the Inference API.
Task inference_task(const Pipeline& p) {
  for (Task t : {Task::kClassify, Task::kQuestionAnswering, Task::kFillMask, Task::kGenerate, Task::kEmbed})
    if (p.supports(t)) return t;
  throw ApiError(422, "this model supports no inference task");
}

Json classification(HttpServer& server, const ServedModel& model, const Json& body, RequestTimings& timings) {
  const Json& p = parameters_of(body);
  const auto texts = strings_or_string(body["inputs"], "inputs");
  const std::string function = p.value("function_to_apply", std::string("default"));
  if (function != "default" && function != "softmax" && function != "sigmoid" && function != "none")
    throw ApiError(400, "'function_to_apply' must be softmax, sigmoid or none");
  const auto& labels = model.pipeline->config().labels;
  const int64_t top_k = std::clamp<int64_t>(int_parameter(p, "top_k", static_cast<int64_t>(labels.size())), 1,
                                            static_cast<int64_t>(labels.size()));
  std::vector<TaskInput> inputs;
  for (const auto& text : texts) inputs.push_back(TaskInput{.text = text});
  std::vector<Encoding> encodings = server.encode(*model.pipeline, inputs, p.value("truncation", false), timings);
  auto future = server.batcher().submit(model.pipeline, Task::kClassify, std::move(encodings));
  const EncoderJobResult result = server.wait(future, timings);
  Json out = Json::array();
  for (const ClassifyResult& r : result.classifications) {
    std::vector<float> scores = r.logits;
    if (function == "softmax" || (function == "default" && scores.size() > 1)) ops::softmax(scores.data(), static_cast<int64_t>(scores.size()));
    else if (function == "sigmoid" || function == "default")
      for (float& s : scores) s = 1.0f / (1.0f + std::exp(-s));
    std::vector<std::size_t> order(scores.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return scores[a] > scores[b]; });
    Json ranked = Json::array();
    for (int64_t i = 0; i < top_k; ++i) ranked.push_back({{"label", labels[order[i]]}, {"score", scores[order[i]]}});
    out.push_back(ranked);
  }
  return out;  // [[{label, score}, ...]] per input, as the Inference API answers
}

// Extractive QA over long contexts: the context is split into overlapping
// windows of at most max_seq_len tokens (stride doc_stride) and the best span
// of any window wins.
Json question_answering(HttpServer& server, const ServedModel& model, const Json& body, RequestTimings& timings) {
  const Json& p = parameters_of(body);
  const Json& in = body["inputs"];
  if (!in.is_object() || !in.contains("question") || !in.contains("context") || !in["question"].is_string() ||
      !in["context"].is_string())
    throw ApiError(400, "question answering needs inputs {\"question\": string, \"context\": string}");
  const std::string question = in["question"], context = in["context"];
  if (question.empty() || context.empty()) throw ApiError(400, "question and context must not be empty");
  QaOptions options;
  options.top_k = std::max<int64_t>(1, int_parameter(p, "top_k", 1));
  options.max_answer_length = std::max<int64_t>(1, int_parameter(p, "max_answer_len", 15));
  options.handle_impossible_answer = p.value("handle_impossible_answer", false);
  const Pipeline& pipeline = *model.pipeline;
  const int64_t max_seq = std::min<int64_t>(int_parameter(p, "max_seq_len", 384), pipeline.max_length());
  const int64_t doc_stride = std::max<int64_t>(1, int_parameter(p, "doc_stride", 128));
  const int64_t max_question = int_parameter(p, "max_question_len", 64);

  const auto t0 = Clock::now();
  const Tokenizer& tokenizer = pipeline.tokenizer();
  const Encoding question_tokens = tokenizer.encode(question, false);
  if (static_cast<int64_t>(question_tokens.size()) > max_question)
    throw ApiError(400, "question has " + std::to_string(question_tokens.size()) + " tokens; max_question_len is " +
                            std::to_string(max_question));
  const Encoding context_tokens = tokenizer.encode(context, false);
  const int64_t room = max_seq - static_cast<int64_t>(question_tokens.size()) - static_cast<int64_t>(tokenizer.num_special_tokens(true));
  if (room <= 0) throw ApiError(400, "max_seq_len leaves no room for the context");
  // Window starts in context characters: each window covers `room` context tokens.
  std::vector<std::pair<int64_t, int64_t>> windows;  // token ranges of the context
  const int64_t n = static_cast<int64_t>(context_tokens.size());
  for (int64_t start = 0;; start += std::min(doc_stride, room)) {
    windows.emplace_back(start, std::min(n, start + room));
    if (start + room >= n) break;
  }
  timings.tokenization_ms += ms_since(t0);
  const std::u32string context_chars = utf8::decode(context);
  const auto t1 = Clock::now();
  std::vector<AnswerSpan> answers;
  for (const auto& [begin, end] : windows) {
    // The window's context substring, re-tokenized as a pair, keeps exact offsets.
    const uint32_t char_begin = begin < n ? context_tokens.offsets[static_cast<std::size_t>(begin)].begin : 0;
    const uint32_t char_end = end > 0 ? context_tokens.offsets[static_cast<std::size_t>(end - 1)].end : 0;
    const std::string piece = utf8::encode(std::u32string_view(context_chars).substr(char_begin, char_end - char_begin));
    TaskInput input{.question = question, .context = piece};
    QaResult r = pipeline.answer(input, options, TruncationOptions{true, max_seq});
    for (AnswerSpan& a : r.answers) {
      if (a.answer.empty() && a.start == 0 && a.end == 0) {
        answers.push_back(a);
        continue;
      }
      a.start += char_begin;
      a.end += char_begin;
      answers.push_back(a);
    }
  }
  timings.inference_ms += ms_since(t1);
  std::stable_sort(answers.begin(), answers.end(), [](const AnswerSpan& a, const AnswerSpan& b) { return a.score > b.score; });
  auto to_json = [](const AnswerSpan& a) { return Json{{"answer", a.answer}, {"score", a.score}, {"start", a.start}, {"end", a.end}}; };
  if (options.top_k == 1) return to_json(answers.front());
  Json out = Json::array();
  for (std::size_t i = 0; i < answers.size() && static_cast<int64_t>(i) < options.top_k; ++i) out.push_back(to_json(answers[i]));
  return out;
}

Json feature_extraction(HttpServer& server, const ServedModel& model, const Json& body, RequestTimings& timings) {
  const bool single = body["inputs"].is_string();
  const auto texts = strings_or_string(body["inputs"], "inputs");
  const Json& p = parameters_of(body);
  Json out = Json::array();
  const auto t0 = Clock::now();
  for (const auto& text : texts) {
    const ForwardResult r = model.pipeline->forward(TaskInput{.text = text}, server.truncation(p.value("truncation", false)));
    Json rows = Json::array();
    for (std::size_t t = 0; t < r.ids.size(); ++t)
      rows.push_back(std::vector<float>(r.last_hidden_state.begin() + static_cast<std::ptrdiff_t>(t * r.hidden_size),
                                        r.last_hidden_state.begin() + static_cast<std::ptrdiff_t>((t + 1) * r.hidden_size)));
    out.push_back(Json::array({rows}));  // [1, tokens, hidden], as the pipeline
  }
  timings.inference_ms += ms_since(t0);
  return single ? out[0] : out;
}

Json fill_mask(HttpServer& server, const ServedModel& model, const Json& body, RequestTimings& timings) {
  const Json& p = parameters_of(body);
  const bool single = body["inputs"].is_string();
  const auto texts = strings_or_string(body["inputs"], "inputs");
  const int64_t top_k = std::clamp<int64_t>(int_parameter(p, "top_k", 5), 1, 1000);
  const Tokenizer& tokenizer = model.pipeline->tokenizer();
  Json out = Json::array();
  const auto t0 = Clock::now();
  for (const auto& text : texts) {
    const FillMaskResult r = model.pipeline->fill_mask(TaskInput{.text = text}, top_k, server.truncation(false));
    Json per_mask = Json::array();
    for (const MaskPrediction& m : r.masks) {
      Json candidates = Json::array();
      for (const auto& c : m.top) {
        std::vector<int32_t> ids = r.encoding.ids;
        ids[static_cast<std::size_t>(m.position)] = c.token_id;
        candidates.push_back({{"score", c.score},
                              {"token", c.token_id},
                              {"token_str", tokenizer.decode({c.token_id}, false)},
                              {"sequence", tokenizer.decode(ids, true)}});
      }
      per_mask.push_back(candidates);
    }
    out.push_back(r.masks.size() == 1 ? per_mask[0] : per_mask);
  }
  timings.inference_ms += ms_since(t0);
  return single ? out[0] : out;
}

Json text_generation(HttpServer& server, const ServedModel& model, const Json& body, RequestTimings& timings) {
  const Json& p = parameters_of(body);
  const bool single = body["inputs"].is_string();
  const auto prompts = strings_or_string(body["inputs"], "inputs");
  GenerationOptions options = generation_options_from(p, "max_new_tokens");
  const bool full_text = p.value("return_full_text", true);
  Json out = Json::array();
  for (const auto& prompt : prompts) {
    const GenerateResult r = server.generate(model, TaskInput{.text = prompt}, options, timings);
    Json generated = Json::object();
    generated["generated_text"] = full_text ? prompt + r.text : r.text;
    out.push_back(Json::array({generated}));
  }
  return single ? out[0] : out;
}

void inference(HttpServer& server, const std::string& model_name, const httplib::Request& request,
               httplib::Response& response, RequestTimings& timings) {
  const Json body = HttpServer::parse_json_body(request);
  if (!body.is_object() || !body.contains("inputs")) throw ApiError(400, "the body must be {\"inputs\": ...}");
  const ServedModel* model = nullptr;
  if (model_name.empty()) {
    if (server.registry().models().empty()) throw ApiError(503, "no model is loaded");
    model = &server.registry().models().front();
  } else {
    model = server.registry().find(model_name);
    if (model == nullptr) throw ApiError(404, "model '" + model_name + "' is not served here");
  }
  Json out;
  switch (inference_task(*model->pipeline)) {
    case Task::kClassify: out = classification(server, *model, body, timings); break;
    case Task::kQuestionAnswering: out = question_answering(server, *model, body, timings); break;
    case Task::kFillMask: out = fill_mask(server, *model, body, timings); break;
    case Task::kGenerate: out = text_generation(server, *model, body, timings); break;
    default: out = feature_extraction(server, *model, body, timings); break;
  }
  HttpServer::send_json(response, out);
}

}  // namespace

void register_huggingface_routes(HttpServer& server) {
  server.cached_route("/", ApiStyle::kHuggingFace, "hf_inference",
               [&server](const httplib::Request& req, httplib::Response& res, RequestTimings& t) {
                 inference(server, "", req, res, t);
               });
  server.cached_route(R"(/models/(.+))", ApiStyle::kHuggingFace, "hf_inference",
               [&server](const httplib::Request& req, httplib::Response& res, RequestTimings& t) {
                 inference(server, req.matches[1], req, res, t);
               });
}

}  // namespace snapformer
