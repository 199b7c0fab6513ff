// The HTTP server over real loopback sockets: every route, SSE streaming,
// sampling with a seed, bad requests, concurrency, 429 and shutdown.
#include <httplib.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <thread>

#include "cli_util.h"
#include "loopback_server.h"
#include "server/http_server.h"
#include "test_util.h"

namespace snapformer {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

using testing::repo_model;

// One server for the whole suite: the embedded models plus tiny QA and MLM models.
class Server : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { start(ServerOptions{}); }
  static void TearDownTestSuite() { shutdown(); }

  static void start(ServerOptions options) {
    server_ = new testing::LoopbackServer({"lang-id-bert=" + repo_model("lang-id-bert"),
                                           "fortune-gpt2=" + repo_model("fortune-gpt2"),
                                           testing::model_path("tiny-bert-qa"), testing::model_path("tiny-bert-mlm"),
                                           testing::model_path("tiny-ultrafastbert")},
                                          options);
  }
  static void shutdown() { delete server_; }
  static httplib::Client client() { return server_->client(); }
  static httplib::Result post(const std::string& path, const std::string& body,
                              const httplib::Headers& headers = {}) {
    return client().Post(path.c_str(), headers, body, "application/json");
  }
  static Json post_json(const std::string& path, const Json& body, int expected_status = 200) {
    auto r = post(path, body.dump());
    EXPECT_TRUE(r) << path;
    if (!r) return Json();
    EXPECT_EQ(r->status, expected_status) << path << ": " << r->body;
    return Json::parse(r->body);
  }

  static testing::LoopbackServer* server_;
};
testing::LoopbackServer* Server::server_ = nullptr;

TEST_F(Server, HealthInfoModelsMetrics) {
  auto r = client().Get("/health");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  r = client().Get("/info");
  EXPECT_EQ(Json::parse(r->body)["model_id"], "lang-id-bert");
  r = client().Get("/v1/models");
  EXPECT_EQ(Json::parse(r->body)["data"].size(), 5u);
  r = client().Get("/metrics");
  EXPECT_THAT(r->body, HasSubstr("snapformer_requests_total{route=\"health\",status=\"200\"}"));
  EXPECT_THAT(r->body, HasSubstr("snapformer_request_duration_seconds_bucket"));
}

TEST_F(Server, HuggingFaceClassification) {
  const Json out = post_json("/models/lang-id-bert", {{"inputs", "Das ist ein schöner Tag"}});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0][0]["label"], "de");
  EXPECT_EQ(out[0].size(), 10u);
  const Json top2 = post_json("/", {{"inputs", {"Bonjour tout le monde", "Hello everyone"}}, {"parameters", {{"top_k", 2}}}});
  ASSERT_EQ(top2.size(), 2u);
  EXPECT_EQ(top2[0][0]["label"], "fr");
  EXPECT_EQ(top2[1][0]["label"], "en");
  EXPECT_EQ(top2[1].size(), 2u);
  // The same answer as the library gives directly.
  const auto direct = Pipeline::load(repo_model("lang-id-bert"))->classify({TaskInput{.text = "Hello everyone"}});
  EXPECT_NEAR(top2[1][0]["score"].get<double>(), direct[0].score, 1e-6);
}

TEST_F(Server, HuggingFaceQuestionAnsweringWithLongContextWindows) {
  const Json out = post_json("/models/tiny-bert-qa", {{"inputs", {{"question", "Where is the Eiffel Tower?"},
                                                                 {"context", "The Eiffel Tower is a wrought-iron lattice tower in Paris, France."}}}});
  ASSERT_TRUE(out.contains("answer"));
  const std::string context = "The Eiffel Tower is a wrought-iron lattice tower in Paris, France.";
  const auto start = out["start"].get<std::size_t>(), end = out["end"].get<std::size_t>();
  EXPECT_EQ(context.substr(start, end - start), out["answer"].get<std::string>());
  std::string long_context;
  for (int i = 0; i < 40; ++i) long_context += "The tower was built for the fair of the year. ";
  const Json windows = post_json("/models/tiny-bert-qa", {{"inputs", {{"question", "When?"}, {"context", long_context}}},
                                                          {"parameters", {{"doc_stride", 32}, {"max_seq_len", 64}, {"top_k", 3}}}});
  ASSERT_EQ(windows.size(), 3u);
  for (const Json& a : windows)
    EXPECT_EQ(long_context.substr(a["start"].get<std::size_t>(), a["end"].get<std::size_t>() - a["start"].get<std::size_t>()),
              a["answer"].get<std::string>());
}

TEST_F(Server, HuggingFaceFillMaskAndGeneration) {
  const Json masks = post_json("/models/tiny-bert-mlm", {{"inputs", "The capital of France is [MASK]."}});
  ASSERT_EQ(masks.size(), 5u);
  EXPECT_TRUE(masks[0].contains("token_str"));
  EXPECT_TRUE(masks[0].contains("sequence"));
  const Json generated = post_json("/models/fortune-gpt2", {{"inputs", "The meaning of life is"}, {"parameters", {{"max_new_tokens", 5}}}});
  EXPECT_EQ(generated[0]["generated_text"].get<std::string>().rfind("The meaning of life is", 0), 0u);
}

TEST_F(Server, UltraFastBertServesFillMaskAndEmbeddings) {
  const Json masks = post_json("/models/tiny-ultrafastbert", {{"inputs", "the capital of france is [MASK] ."}});
  ASSERT_EQ(masks.size(), 5u);
  const auto direct = Pipeline::load(testing::model_path("tiny-ultrafastbert"))->fill_mask(TaskInput{.text = "the capital of france is [MASK] ."}, 5);
  EXPECT_EQ(masks[0]["token"], direct.masks[0].top[0].token_id);
  const Json embedded = post_json("/v1/embeddings", {{"model", "tiny-ultrafastbert"}, {"input", "hello"}});
  EXPECT_EQ(embedded["data"][0]["embedding"].size(), 16u);
}

TEST_F(Server, TeiRoutes) {
  const Json embedded = post_json("/embed", {{"inputs", {"hello", "world"}}});
  ASSERT_EQ(embedded.size(), 2u);
  EXPECT_EQ(embedded[0].size(), 128u);
  double norm = 0;
  for (const Json& v : embedded[0]) norm += v.get<double>() * v.get<double>();
  EXPECT_NEAR(norm, 1.0, 1e-4);  // normalize defaults to true
  const Json predicted = post_json("/predict", {{"inputs", "¿Dónde está la biblioteca?"}});
  EXPECT_EQ(predicted[0]["label"], "es");
  const Json reranked = post_json("/rerank", {{"query", "hello"}, {"texts", {"a", "b", "c"}}, {"return_text", true}});
  ASSERT_EQ(reranked.size(), 3u);
  EXPECT_GE(reranked[0]["score"].get<double>(), reranked[1]["score"].get<double>());
  const Json similar = post_json("/similarity", {{"inputs", {{"source_sentence", "hello"}, {"sentences", {"hello", "xyz"}}}}});
  EXPECT_NEAR(similar[0].get<double>(), 1.0, 1e-4);
  const Json tokens = post_json("/tokenize", {{"inputs", "héllo"}});
  EXPECT_EQ(tokens[0][0]["text"], "[CLS]");
  EXPECT_EQ(tokens[0][2]["text"], "é");
  const Json decoded = post_json("/decode", {{"ids", {1291, 1362}}});
  EXPECT_EQ(decoded.size(), 1u);
}

TEST_F(Server, TgiGenerateWithSeedIsReproducible) {
  const Json request = {{"inputs", "Once upon a time"},
                        {"parameters", {{"max_new_tokens", 8}, {"do_sample", true}, {"temperature", 0.9}, {"top_k", 40},
                                        {"top_p", 0.95}, {"seed", 42}, {"details", true}}}};
  const Json a = post_json("/generate", request), b = post_json("/generate", request);
  EXPECT_EQ(a["generated_text"], b["generated_text"]);
  EXPECT_EQ(a["details"]["seed"], 42);
  EXPECT_EQ(a["details"]["tokens"].size(), a["details"]["generated_tokens"].get<std::size_t>());
  Json other = request;
  other["parameters"]["seed"] = 7;
  bool differs = false;
  for (int s = 7; s < 12 && !differs; ++s) {
    other["parameters"]["seed"] = s;
    differs = post_json("/generate", other)["generated_text"] != a["generated_text"];
  }
  EXPECT_TRUE(differs) << "five other seeds all gave the same text";
  // Greedy equals the library's greedy generation.
  const Json greedy = post_json("/generate", {{"inputs", "Hello"}, {"parameters", {{"max_new_tokens", 6}}}});
  GenerationOptions options;
  options.max_new_tokens = 6;
  EXPECT_EQ(greedy["generated_text"], Pipeline::load(repo_model("fortune-gpt2"))->generate(TaskInput{.text = "Hello"}, options).text);
}

TEST_F(Server, TgiStreamIsOneEventPerToken) {
  std::string body;
  auto c = client();
  auto r = c.Post("/generate_stream", Json{{"inputs", "Hello"}, {"parameters", {{"max_new_tokens", 5}}}}.dump(), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/event-stream");
  std::vector<Json> events;
  std::size_t at = 0;
  while ((at = r->body.find("data:", at)) != std::string::npos) {
    const auto end = r->body.find("\n\n", at);
    events.push_back(Json::parse(r->body.substr(at + 5, end - at - 5)));
    at = end;
  }
  ASSERT_GE(events.size(), 2u);
  const Json& last = events.back();
  EXPECT_FALSE(last["generated_text"].is_null());
  EXPECT_TRUE(last["details"]["finish_reason"] == "length" || last["details"]["finish_reason"] == "eos_token");
  std::string joined;
  for (std::size_t i = 0; i + 1 < events.size(); ++i) joined += events[i]["token"]["text"].get<std::string>();
  EXPECT_EQ(joined, last["generated_text"].get<std::string>());
  EXPECT_EQ(events.size() - 1, last["details"]["generated_tokens"].get<std::size_t>());
}

TEST_F(Server, OpenAiRoutes) {
  const Json completion = post_json("/v1/completions", {{"model", "fortune-gpt2"}, {"prompt", "Hello"}, {"max_tokens", 4}, {"temperature", 0}});
  EXPECT_EQ(completion["object"], "text_completion");
  EXPECT_EQ(completion["usage"]["completion_tokens"].get<int>() <= 4, true);
  auto r = post("/v1/completions", Json{{"model", "fortune-gpt2"}, {"prompt", "Hello"}, {"max_tokens", 3}, {"temperature", 0}, {"stream", true}}.dump());
  ASSERT_TRUE(r);
  EXPECT_THAT(r->body, HasSubstr("data: [DONE]"));
  std::string streamed;
  std::size_t at = 0;
  while ((at = r->body.find("data:{", at)) != std::string::npos) {
    const auto end = r->body.find("\n\n", at);
    streamed += Json::parse(r->body.substr(at + 5, end - at - 5))["choices"][0]["text"].get<std::string>();
    at = end;
  }
  const Json same = post_json("/v1/completions", {{"model", "fortune-gpt2"}, {"prompt", "Hello"}, {"max_tokens", 3}, {"temperature", 0}});
  EXPECT_EQ(streamed, same["choices"][0]["text"].get<std::string>());
  const Json embeddings = post_json("/v1/embeddings", {{"model", "lang-id-bert"}, {"input", {"a", "b"}}});
  EXPECT_EQ(embeddings["data"].size(), 2u);
  EXPECT_EQ(embeddings["data"][1]["index"], 1);
  const Json missing = post_json("/v1/embeddings", {{"model", "nope"}, {"input", "a"}}, 404);
  EXPECT_TRUE(missing["error"].contains("message"));
}

TEST_F(Server, KserveV2) {
  EXPECT_EQ(client().Get("/v2/health/live")->status, 200);
  EXPECT_EQ(client().Get("/v2/health/ready")->status, 200);
  EXPECT_EQ(Json::parse(client().Get("/v2/models/lang-id-bert")->body)["inputs"][0]["datatype"], "BYTES");
  EXPECT_EQ(client().Get("/v2/models/lang-id-bert/ready")->status, 200);
  EXPECT_EQ(client().Get("/v2/models/missing")->status, 404);
  const Json text = post_json("/v2/models/lang-id-bert/infer",
                              {{"id", "r1"}, {"inputs", {{{"name", "text"}, {"shape", {2}}, {"datatype", "BYTES"}, {"data", {"Hallo zusammen", "Ciao a tutti"}}}}}});
  EXPECT_EQ(text["id"], "r1");
  EXPECT_EQ(text["outputs"][0]["data"][0], "de");
  const Encoding ids = Pipeline::load(repo_model("lang-id-bert"))->encode(TaskInput{.text = "Ciao a tutti"});
  const Json by_ids = post_json("/v2/models/lang-id-bert/infer",
                                {{"inputs", {{{"name", "input_ids"}, {"shape", {1, ids.size()}}, {"datatype", "INT64"}, {"data", ids.ids}}}}});
  EXPECT_EQ(by_ids["outputs"][0]["data"][0], text["outputs"][0]["data"][1]);
  post_json("/v2/models/lang-id-bert/infer", {{"inputs", {{{"name", "text"}, {"shape", {3}}, {"datatype", "BYTES"}, {"data", {"a"}}}}}}, 400);
}

TEST_F(Server, BadRequestsGetTheApisErrorBodies) {
  auto r = post("/embed", "{not json");
  EXPECT_EQ(r->status, 400);
  EXPECT_TRUE(Json::parse(r->body).contains("error_type"));
  EXPECT_EQ(post_json("/embed", {{"inputs", 5}}, 422)["error_type"], "validation");
  EXPECT_EQ(post_json("/embed", {{"text", "x"}}, 422)["error_type"], "validation");
  EXPECT_EQ(post_json("/embed", {{"inputs", Json::array()}}, 422)["error_type"], "empty");
  r = post("/embed", "{\"inputs\": \"caf\xc3\"}");
  EXPECT_EQ(r->status, 400);
  EXPECT_THAT(r->body, HasSubstr("UTF-8"));
  std::string long_text;
  for (int i = 0; i < 400; ++i) long_text += "word ";
  EXPECT_EQ(post_json("/embed", {{"inputs", long_text}}, 413)["error_type"], "validation");
  EXPECT_EQ(post_json("/embed", {{"inputs", long_text}, {"truncate", true}}).size(), 1u);
  EXPECT_THAT(post_json("/models/unknown", {{"inputs", "x"}}, 404)["error"].get<std::string>(), HasSubstr("unknown"));
  EXPECT_EQ(post_json("/v1/completions", {{"model", "lang-id-bert"}, {"prompt", "x"}}, 422)["error"]["type"], "invalid_request_error");
  EXPECT_EQ(post_json("/generate", {{"inputs", "x"}, {"parameters", {{"temperature", -1}}}}, 422)["error_type"], "validation");
  EXPECT_EQ(post_json("/generate", {{"inputs", "x"}, {"parameters", {{"top_p", "high"}}}}, 422)["error_type"], "validation");
  r = post("/embed", std::string(5 << 20, ' '));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(client().Get("/no/such/route")->status, 404);
  // The server is still healthy after all of that.
  EXPECT_EQ(client().Get("/health")->status, 200);
}

TEST_F(Server, ConcurrentClientsGetTheSequentialAnswers) {
  const std::vector<std::string> texts = {"Hello there my friend", "Guten Tag", "Buongiorno a tutti", "Hej allihopa",
                                          "Dzień dobry", "Добрый день", "Bom dia a todos", "Goedemorgen allemaal"};
  std::vector<Json> sequential;
  for (const auto& t : texts) sequential.push_back(post_json("/embed", {{"inputs", t}}));
  // Eight keep-alive clients at once, each sending every text (64 requests, 8 in flight at a time).
  // (Bursts of new connections: ABurstOfNewConnectionsIsAllAnswered.)
  std::vector<std::future<std::vector<Json>>> futures;
  for (int c = 0; c < 8; ++c)
    futures.push_back(std::async(std::launch::async, [&texts] {
      auto connection = client();
      std::vector<Json> answers;
      for (const auto& t : texts) {
        auto r = connection.Post("/embed", Json{{"inputs", t}}.dump(), "application/json");
        answers.push_back(!r ? Json{{"transport_error", httplib::to_string(r.error())}}
                             : r->status == 200 ? Json::parse(r->body) : Json{{"status", r->status}});
      }
      return answers;
    }));
  for (auto& future : futures) {
    const std::vector<Json> answers = future.get();
    for (std::size_t i = 0; i < answers.size(); ++i) {
      const Json& got = answers[i];
      ASSERT_TRUE(got.is_array()) << got.dump();
      const Json& want = sequential[i];
      ASSERT_EQ(got[0].size(), want[0].size());
      for (std::size_t k = 0; k < got[0].size(); ++k) ASSERT_NEAR(got[0][k].get<double>(), want[0][k].get<double>(), 1e-5);
    }
  }
  EXPECT_THAT(client().Get("/metrics")->body, HasSubstr("snapformer_batch_size_inputs_count"));
}

// A burst of brand-new connections, all at once (a fleet's load balancer
// opening connections, 64 clients starting together): every one is answered.
// httplib listens with a backlog of 5; the server raises it (HttpServer::bind).
TEST_F(Server, ABurstOfNewConnectionsIsAllAnswered) {
  constexpr int kClients = 128;
  std::atomic<int> ready{0};
  std::vector<std::future<std::string>> futures;
  for (int c = 0; c < kClients; ++c)
    futures.push_back(std::async(std::launch::async, [&ready] {
      httplib::Client connection("127.0.0.1", server_->port());
      connection.set_read_timeout(60, 0);
      ++ready;
      while (ready < kClients) std::this_thread::yield();  // connect together
      auto r = connection.Post("/embed", R"({"inputs": "Guten Tag"})", "application/json");
      return !r ? "transport error: " + httplib::to_string(r.error()) : std::to_string(r->status);
    }));
  std::map<std::string, int> outcomes;
  for (auto& future : futures) outcomes[future.get()]++;
  EXPECT_EQ(outcomes["200"], kClients) << ::testing::PrintToString(outcomes);
}

// A port that a server holds cannot be bound by a second one (no silent
// sharing through SO_REUSEPORT: two replicas on one port would split traffic).
TEST_F(Server, ASecondServerOnTheSamePortIsRefused) {
  ServerOptions options;
  options.host = "127.0.0.1";
  options.port = server_->port();
  HttpServer second(std::make_shared<ModelRegistry>(), options);
  try {
    second.bind();
    FAIL() << "bound a port in use";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("(in use?)"));
  }
}

// A second server with tight limits: API key, one request at a time.
TEST(ServerLimits, ApiKeyAndOverload) {
  ServerOptions options;
  options.api_key = "secret";
  options.max_concurrent_requests = 1;
  options.cache = false;  // the slow requests repeat: cached answers would not hold the slot
  testing::LoopbackServer server({"fortune-gpt2=" + repo_model("fortune-gpt2")}, options);
  httplib::Client c("127.0.0.1", server.port());
  const std::string body = Json{{"inputs", "Hello"}, {"parameters", {{"max_new_tokens", 200}}}}.dump();
  auto r = c.Post("/generate", body, "application/json");
  EXPECT_EQ(r->status, 401);
  const httplib::Headers auth = {{"Authorization", "Bearer secret"}};
  // Hold the only slot with long generations while another request arrives.
  std::atomic<bool> done{false};
  std::thread slow([&] {
    httplib::Client c2("127.0.0.1", server.port());
    while (!done) c2.Post("/generate", auth, body, "application/json");
  });
  bool saw_429 = false;
  for (int i = 0; i < 200 && !saw_429; ++i) {
    auto q = c.Post("/generate", auth, Json{{"inputs", "Hi"}, {"parameters", {{"max_new_tokens", 1}}}}.dump(), "application/json");
    if (q && q->status == 429) {
      saw_429 = true;
      EXPECT_EQ(Json::parse(q->body)["error_type"], "overloaded");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  done = true;
  slow.join();
  EXPECT_TRUE(saw_429);
}

TEST(ServeCommand, SigtermDrainsAndExitsCleanly) {
  // The real binary: start, answer, then SIGTERM while a request is in flight.
  const std::string log = "/tmp/snapformer-serve-test-" + std::to_string(::getpid()) + ".log";
  const std::string command = testing::shell_quote(SNAPFORMER_BINARY) + " serve --log-requests --host 127.0.0.1 --port 18731 --model " +
                              testing::shell_quote(repo_model("fortune-gpt2")) + " >" + log + " 2>&1 & echo $!";
  FILE* pipe = ::popen(command.c_str(), "r");
  int pid = 0;
  ASSERT_EQ(std::fscanf(pipe, "%d", &pid), 1);
  ::pclose(pipe);
  httplib::Client c("127.0.0.1", 18731);
  bool up = false;
  for (int i = 0; i < 200 && !up; ++i) {
    auto r = c.Get("/health");
    up = r && r->status == 200;
    if (!up) std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  ASSERT_TRUE(up) << read_file(log);
  auto in_flight = std::async(std::launch::async, [] {
    httplib::Client c2("127.0.0.1", 18731);
    c2.set_read_timeout(30, 0);
    return c2.Post("/generate", Json{{"inputs", "Hello"}, {"parameters", {{"max_new_tokens", 60}}}}.dump(), "application/json");
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  ::kill(pid, SIGTERM);
  auto answered = in_flight.get();
  ASSERT_TRUE(answered);
  EXPECT_EQ(answered->status, 200);
  int status = 0;
  for (int i = 0; i < 200; ++i) {
    if (::kill(pid, 0) != 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  EXPECT_NE(::kill(pid, 0), 0) << "server still running after SIGTERM";
  (void)status;
  const std::string output = read_file(log);
  EXPECT_THAT(output, HasSubstr("snapformer: stopped"));
  // --log-requests: one JSON line per request.
  EXPECT_THAT(output, HasSubstr("\"route\":\"tgi_generate\""));
  EXPECT_THAT(output, HasSubstr("\"route\":\"health\""));
}

TEST(ServerLimits, SilentClientsTimeOutAndFreeTheirThreads) {
  ServerOptions options;
  options.max_concurrent_requests = 1;  // 5 connection threads
  options.client_timeout_seconds = 1;
  testing::LoopbackServer server({"lang-id-bert=" + repo_model("lang-id-bert")}, options);
  // Occupy every connection thread with clients that send half a request and go quiet.
  std::vector<int> sockets;
  for (int i = 0; i < 8; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(server.port()));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    const std::string partial = "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"inp";
    ASSERT_GT(::send(fd, partial.data(), partial.size(), 0), 0);
    sockets.push_back(fd);
  }
  // A well-behaved client is still answered once the silent ones time out.
  httplib::Client c("127.0.0.1", server.port());
  c.set_read_timeout(20, 0);
  const auto started = std::chrono::steady_clock::now();
  auto r = c.Post("/predict", Json{{"inputs", "Das ist ein schöner Tag"}}.dump(), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(10));
  // The server answered and closed every silent connection (recv reaches end of stream, not a timeout).
  char buffer[4096];
  for (int fd : sockets) {
    timeval wait{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof wait);
    ssize_t n;
    while ((n = ::recv(fd, buffer, sizeof buffer, 0)) > 0) {
    }
    EXPECT_EQ(n, 0) << "connection still open";
    ::close(fd);
  }
}

// /v1/chat/completions: the plain template on a folder without one, the
// folder's own template otherwise; the reply is what /v1/completions gives
// for the rendered prompt, streamed or not.
TEST(ChatCompletions, TemplatesStreamingAndErrors) {
  const auto dir = testing::scratch_directory("chat-model");
  for (const auto& entry : fs::directory_iterator(testing::model_path("tiny-gpt2")))
    fs::copy(entry.path(), dir / entry.path().filename());
  std::ofstream(dir / "tokenizer_config.json")
      << R"({"model_max_length": 128, "eos_token": "<|endoftext|>", "chat_template": "{% if messages[0]['role'] != 'user' and messages[0]['role'] != 'system' %}{{ raise_exception('the first message must be user or system') }}{% endif %}{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"})";
  testing::LoopbackServer server({"fortune-gpt2=" + repo_model("fortune-gpt2"), "chatml=" + dir.string()}, ServerOptions{});
  auto client = server.client();
  const auto post = [&](const std::string& path, const Json& body, int status = 200) {
    auto r = client.Post(path.c_str(), body.dump(), "application/json");
    EXPECT_TRUE(r);
    if (!r) return std::make_pair(Json(), std::string());
    EXPECT_EQ(r->status, status) << r->body;
    return std::make_pair(body.value("stream", false) ? Json() : Json::parse(r->body), r->body);
  };
  const Json messages = {{{"role", "system"}, {"content", "You tell fortunes."}}, {{"role", "user"}, {"content", "What will happen?"}}};

  // Plain template: "ROLE: CONTENT" lines, then "assistant:".
  const Json chat = post("/v1/chat/completions", {{"model", "fortune-gpt2"}, {"messages", messages}, {"max_tokens", 12}, {"temperature", 0}}).first;
  EXPECT_EQ(chat["object"], "chat.completion");
  EXPECT_EQ(chat["choices"][0]["message"]["role"], "assistant");
  const Json plain = post("/v1/completions", {{"model", "fortune-gpt2"}, {"prompt", "system: You tell fortunes.\nuser: What will happen?\nassistant:"},
                                              {"max_tokens", 12}, {"temperature", 0}, {"stop", {"\nuser:", "\nsystem:"}}}).first;
  std::string expected = plain["choices"][0]["text"].get<std::string>();
  expected.erase(0, std::min(expected.size(), expected.find_first_not_of(' ')));
  EXPECT_EQ(chat["choices"][0]["message"]["content"], expected);
  EXPECT_EQ(chat["usage"]["prompt_tokens"], plain["usage"]["prompt_tokens"]);

  // The folder's ChatML template.
  const std::string chatml_prompt =
      "<|im_start|>system\nYou tell fortunes.<|im_end|>\n<|im_start|>user\nWhat will happen?<|im_end|>\n<|im_start|>assistant\n";
  const Json templated = post("/v1/chat/completions", {{"model", "chatml"}, {"messages", messages}, {"max_tokens", 6}, {"temperature", 0}}).first;
  const Json raw = post("/v1/completions", {{"model", "chatml"}, {"prompt", chatml_prompt}, {"max_tokens", 6}, {"temperature", 0}}).first;
  EXPECT_EQ(templated["choices"][0]["message"]["content"], raw["choices"][0]["text"]);
  EXPECT_EQ(templated["usage"]["prompt_tokens"], raw["usage"]["prompt_tokens"]);
  EXPECT_EQ(templated["usage"]["completion_tokens"], 6);
  EXPECT_EQ(templated["choices"][0]["finish_reason"], "length");

  // Streamed: the role first, the same text in deltas, the finish reason, [DONE].
  const std::string stream = post("/v1/chat/completions", {{"model", "chatml"}, {"messages", messages}, {"max_tokens", 6}, {"temperature", 0}, {"stream", true}}).second;
  std::vector<Json> events;
  for (std::size_t at = 0; (at = stream.find("data:{", at)) != std::string::npos;) {
    const auto end = stream.find("\n\n", at);
    events.push_back(Json::parse(stream.substr(at + 5, end - at - 5)));
    at = end;
  }
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events.front()["object"], "chat.completion.chunk");
  EXPECT_EQ(events.front()["choices"][0]["delta"]["role"], "assistant");
  std::string streamed;
  for (const Json& e : events)
    if (e["choices"][0]["delta"].contains("content")) streamed += e["choices"][0]["delta"]["content"].get<std::string>();
  EXPECT_EQ(streamed, templated["choices"][0]["message"]["content"]);
  EXPECT_EQ(events.back()["choices"][0]["finish_reason"], "length");
  EXPECT_NE(stream.find("data: [DONE]"), std::string::npos);

  // Errors: OpenAI's error body with the reason.
  EXPECT_THAT(post("/v1/chat/completions", {{"model", "chatml"}, {"messages", {{{"role", "assistant"}, {"content", "x"}}}}}, 400).second,
              HasSubstr("the chat template refused the conversation: the first message must be user or system"));
  EXPECT_THAT(post("/v1/chat/completions", {{"model", "chatml"}}, 400).second, HasSubstr("missing field 'messages'"));
  EXPECT_THAT(post("/v1/chat/completions", {{"model", "chatml"}, {"messages", "hi"}}, 400).second, HasSubstr("'messages' must be a non-empty list"));
  EXPECT_THAT(post("/v1/chat/completions", {{"model", "chatml"}, {"messages", messages}, {"n", 2}}, 400).second, HasSubstr("only n = 1"));
  EXPECT_THAT(post("/v1/chat/completions", {{"model", "lang-id-bert"}, {"messages", messages}}, 404).second, HasSubstr("error"));
}

}  // namespace
}  // namespace snapformer
