// KServe Open Inference Protocol v2: health, model metadata and /infer with
// BYTES inputs carrying text or INT64 `input_ids`.
#include <httplib.h>

#include <functional>
#include <map>

#include "server/http_server.h"

namespace snapformer {
namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

const ServedModel& named(HttpServer& server, const std::string& name) {
  const ServedModel* model = server.registry().find(name);
  if (model == nullptr) throw ApiError(404, "model '" + name + "' is not served here");
  return *model;
}

Task kserve_task(const Pipeline& p) {
  for (Task t : {Task::kClassify, Task::kQuestionAnswering, Task::kGenerate, Task::kEmbed})
    if (p.supports(t)) return t;
  throw ApiError(400, "this model supports no inference task");
}

Json metadata(const ServedModel& m) {
  const Task task = kserve_task(*m.pipeline);
  Json inputs = Json::array(), outputs = Json::array();
  auto tensor = [](const char* name, const char* type, Json shape) { return Json{{"name", name}, {"datatype", type}, {"shape", shape}}; };
  if (task == Task::kQuestionAnswering) {
    inputs = {tensor("question", "BYTES", {-1}), tensor("context", "BYTES", {-1})};
    outputs = {tensor("answer", "BYTES", {-1}), tensor("score", "FP32", {-1}), tensor("start", "INT64", {-1}), tensor("end", "INT64", {-1})};
  } else {
    inputs = {tensor("text", "BYTES", {-1}), tensor("input_ids", "INT64", {-1, -1})};
    if (task == Task::kClassify)
      outputs = {tensor("label", "BYTES", {-1}), tensor("score", "FP32", {-1}), tensor("logits", "FP32", {-1, -1})};
    else if (task == Task::kGenerate)
      outputs = {tensor("text", "BYTES", {-1})};
    else
      outputs = {tensor("embedding", "FP32", {-1, -1})};
  }
  return {{"name", m.name}, {"versions", {"1"}}, {"platform", "snapformer"}, {"inputs", inputs}, {"outputs", outputs}};
}

// Input tensors by name: BYTES -> strings, INT64 -> rows of ids.
struct Inputs {
  std::map<std::string, std::vector<std::string>> texts;
  std::map<std::string, std::vector<std::vector<int32_t>>> ids;
};

Inputs parse_inputs(const Json& body) {
  if (!body.is_object() || !body.contains("inputs") || !body["inputs"].is_array() || body["inputs"].empty())
    throw ApiError(400, "the body must hold a non-empty 'inputs' list");
  Inputs out;
  for (const Json& t : body["inputs"]) {
    if (!t.is_object() || !t.contains("name") || !t["name"].is_string() || !t.contains("datatype") ||
        !t.contains("data") || !t["data"].is_array() || !t.contains("shape") || !t["shape"].is_array())
      throw ApiError(400, "each input needs 'name', 'shape', 'datatype' and 'data'");
    const std::string name = t["name"], type = t["datatype"];
    int64_t elements = 1;
    for (const Json& d : t["shape"]) {
      if (!d.is_number_integer() || d.get<int64_t>() < 0) throw ApiError(400, "input '" + name + "': bad shape");
      elements *= d.get<int64_t>();
    }
    // Accept nested or flat data; flatten nested rows.
    std::vector<Json> flat;
    std::function<void(const Json&)> walk = [&](const Json& v) {
      if (v.is_array()) for (const Json& x : v) walk(x);
      else flat.push_back(v);
    };
    walk(t["data"]);
    if (static_cast<int64_t>(flat.size()) != elements)
      throw ApiError(400, "input '" + name + "': shape says " + std::to_string(elements) + " elements, data has " +
                              std::to_string(flat.size()));
    if (type == "BYTES") {
      for (const Json& v : flat) {
        if (!v.is_string()) throw ApiError(400, "input '" + name + "': BYTES data must be strings");
        out.texts[name].push_back(v.get<std::string>());
      }
    } else if (type == "INT64" || type == "INT32") {
      const auto& shape = t["shape"];
      const int64_t rows = shape.size() == 2 ? shape[0].get<int64_t>() : 1;
      const int64_t cols = rows > 0 ? elements / rows : 0;
      auto& list = out.ids[name];
      for (int64_t r = 0; r < rows; ++r) {
        std::vector<int32_t> row;
        for (int64_t c = 0; c < cols; ++c) {
          const Json& v = flat[static_cast<std::size_t>(r * cols + c)];
          if (!v.is_number_integer()) throw ApiError(400, "input '" + name + "': INT64 data must be integers");
          row.push_back(v.get<int32_t>());
        }
        list.push_back(std::move(row));
      }
    } else {
      throw ApiError(400, "input '" + name + "': unsupported datatype " + type + " (BYTES or INT64)");
    }
  }
  return out;
}

void infer(HttpServer& server, const std::string& name, const httplib::Request& request, httplib::Response& response,
           RequestTimings& timings) {
  const ServedModel& model = named(server, name);
  const Json body = HttpServer::parse_json_body(request);
  const Inputs in = parse_inputs(body);
  const Task task = kserve_task(*model.pipeline);
  Json outputs = Json::array();
  if (task == Task::kQuestionAnswering) {
    if (!in.texts.count("question") || !in.texts.count("context") || in.texts.at("question").size() != in.texts.at("context").size())
      throw ApiError(400, "question answering needs BYTES inputs 'question' and 'context' of the same length");
    Json answers = Json::array(), scores = Json::array(), starts = Json::array(), ends = Json::array();
    const auto t0 = Clock::now();
    for (std::size_t i = 0; i < in.texts.at("question").size(); ++i) {
      const QaResult r = model.pipeline->answer(TaskInput{.question = in.texts.at("question")[i], .context = in.texts.at("context")[i]},
                                                QaOptions{}, server.truncation(true));
      answers.push_back(r.answers[0].answer), scores.push_back(r.answers[0].score);
      starts.push_back(r.answers[0].start), ends.push_back(r.answers[0].end);
    }
    timings.inference_ms += ms_since(t0);
    const Json shape = {answers.size()};
    outputs = {{{"name", "answer"}, {"datatype", "BYTES"}, {"shape", shape}, {"data", answers}},
               {{"name", "score"}, {"datatype", "FP32"}, {"shape", shape}, {"data", scores}},
               {{"name", "start"}, {"datatype", "INT64"}, {"shape", shape}, {"data", starts}},
               {{"name", "end"}, {"datatype", "INT64"}, {"shape", shape}, {"data", ends}}};
  } else {
    std::vector<TaskInput> inputs;
    if (in.texts.count("text")) {
      for (const auto& t : in.texts.at("text")) inputs.push_back(TaskInput{.text = t});
    } else if (in.ids.count("input_ids")) {
      for (const auto& ids : in.ids.at("input_ids")) inputs.push_back(TaskInput{.input_ids = ids});
    } else if (in.texts.size() == 1) {
      for (const auto& t : in.texts.begin()->second) inputs.push_back(TaskInput{.text = t});
    } else {
      throw ApiError(400, "expected a BYTES input 'text' or an INT64 input 'input_ids'");
    }
    const Json batch_shape = {inputs.size()};
    if (task == Task::kGenerate) {
      Json texts = Json::array();
      const GenerationOptions options = generation_options_from(body.value("parameters", Json::object()), "max_new_tokens");
      for (const TaskInput& input : inputs) texts.push_back(server.generate(model, input, options, timings).text);
      outputs = {{{"name", "text"}, {"datatype", "BYTES"}, {"shape", batch_shape}, {"data", texts}}};
    } else {
      auto future = server.batcher().submit(model.pipeline, task, server.encode(*model.pipeline, inputs, false, timings),
                                            Pooling::kDefault, false);
      const EncoderJobResult result = server.wait(future, timings);
      if (task == Task::kClassify) {
        Json labels = Json::array(), scores = Json::array(), logits = Json::array();
        for (const ClassifyResult& r : result.classifications) {
          labels.push_back(r.label), scores.push_back(r.score);
          for (float v : r.logits) logits.push_back(v);
        }
        const std::size_t n = result.classifications.size();
        outputs = {{{"name", "label"}, {"datatype", "BYTES"}, {"shape", batch_shape}, {"data", labels}},
                   {{"name", "score"}, {"datatype", "FP32"}, {"shape", batch_shape}, {"data", scores}},
                   {{"name", "logits"}, {"datatype", "FP32"}, {"shape", {n, n ? result.classifications[0].logits.size() : 0}}, {"data", logits}}};
      } else {
        Json values = Json::array();
        std::size_t width = 0;
        for (const EmbedResult& e : result.embeddings) {
          width = e.embedding.size();
          for (float v : e.embedding) values.push_back(v);
        }
        outputs = {{{"name", "embedding"}, {"datatype", "FP32"}, {"shape", {result.embeddings.size(), width}}, {"data", values}}};
      }
    }
  }
  Json out = {{"model_name", model.name}, {"model_version", "1"}, {"outputs", outputs}};
  if (body.contains("id")) out["id"] = body["id"];
  HttpServer::send_json(response, out);
}

}  // namespace

void register_kserve_routes(HttpServer& server) {
  server.route("GET", "/v2/health/live", ApiStyle::kKserve, "kserve_live",
               [](const httplib::Request&, httplib::Response& r, RequestTimings&) { HttpServer::send_json(r, {{"live", true}}); }, false);
  server.route("GET", "/v2/health/ready", ApiStyle::kKserve, "kserve_ready",
               [&server](const httplib::Request&, httplib::Response& r, RequestTimings&) {
                 const bool ready = server.ready() && !server.registry().models().empty();
                 HttpServer::send_json(r, {{"ready", ready}}, ready ? 200 : 503);
               }, false);
  server.route("GET", "/v2", ApiStyle::kKserve, "kserve_server",
               [](const httplib::Request&, httplib::Response& r, RequestTimings&) {
                 HttpServer::send_json(r, {{"name", "snapformer"}, {"version", "0.1.0"}, {"extensions", Json::array()}});
               }, false);
  server.route("GET", R"(/v2/models/([^/]+))", ApiStyle::kKserve, "kserve_metadata",
               [&server](const httplib::Request& q, httplib::Response& r, RequestTimings&) {
                 HttpServer::send_json(r, metadata(named(server, q.matches[1])));
               }, false);
  server.route("GET", R"(/v2/models/([^/]+)/ready)", ApiStyle::kKserve, "kserve_model_ready",
               [&server](const httplib::Request& q, httplib::Response& r, RequestTimings&) {
                 const ServedModel& m = named(server, q.matches[1]);
                 HttpServer::send_json(r, {{"name", m.name}, {"ready", server.ready()}});
               }, false);
  server.cached_route(R"(/v2/models/([^/]+)/infer)", ApiStyle::kKserve, "kserve_infer",
               [&server](const httplib::Request& q, httplib::Response& r, RequestTimings& t) { infer(server, q.matches[1], q, r, t); });
}

}  // namespace snapformer
