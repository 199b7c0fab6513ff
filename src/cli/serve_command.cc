// `snapformer serve`: the HTTP server (docs/API.md).
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <filesystem>
#include <iostream>
#include <thread>

#include "cli/arguments.h"
#include "cli/commands.h"
#include "cli/model_folder.h"
#include "ops/threads.h"
#include "server/http_server.h"

namespace snapformer::cli {
namespace {

namespace fs = std::filesystem;

std::atomic<bool> stop_requested{false};
extern "C" void on_stop_signal(int) { stop_requested = true; }

// The embedded demo models: $SNAPFORMER_MODELS, or models/ beside the
// binary's build folder, or ./models.
fs::path default_models_directory() {
  if (const char* env = std::getenv("SNAPFORMER_MODELS")) return env;
  std::error_code error;
  const fs::path exe = fs::read_symlink("/proc/self/exe", error);
  if (!error) {
    for (const fs::path& candidate : {exe.parent_path().parent_path() / "models", exe.parent_path() / "models"})
      if (fs::is_directory(candidate / "lang-id-bert")) return candidate;
  }
  return "models";
}

}  // namespace

int serve_command(const std::vector<std::string>& raw) {
  const Arguments args(raw, {"log-requests", "help", "no-cache"},
                       {"model", "host", "port", "threads", "max-batch-tokens", "max-concurrent-requests",
                        "max-input-length", "api-key", "max-body-bytes", "request-timeout", "client-timeout", "dtype",
                        "cache-entries", "cache-bytes", "cache-ttl", "tokenization-cache-entries", "redis", "redis-cluster",
                        "redis-user", "redis-password", "redis-timeout-ms"});
  if (args.flag("help")) {
    std::cout << "usage: snapformer serve [--model [NAME=]DIR|ORG/NAME[@REV]]... [--host H] [--port P] [--threads N]\n"
                 "       [--max-batch-tokens N] [--max-concurrent-requests N] [--max-input-length N]\n"
                 "       [--api-key KEY] [--max-body-bytes N] [--request-timeout SECONDS] [--client-timeout SECONDS]\n"
                 "       [--log-requests] [--dtype fp32|bf16|int8]\n"
                 "       [--no-cache] [--cache-entries N] [--cache-bytes N] [--cache-ttl SECONDS]\n"
                 "       [--tokenization-cache-entries N] [--redis redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]]\n"
                 "       [--redis-cluster HOST:PORT,...] [--redis-user U] [--redis-password P] [--redis-timeout-ms MS]\n"
                 "Without --model: the embedded lang-id-bert and fortune-gpt2 demo models.\n";
    return 0;
  }
  ServerOptions options;
  options.host = args.value_or("host", "0.0.0.0");
  options.port = static_cast<int>(args.int_or("port", 8000));
  options.threads = static_cast<int>(args.int_or("threads", 0));
  options.max_batch_tokens = args.int_or("max-batch-tokens", 16384);
  options.max_concurrent_requests = static_cast<int>(args.int_or("max-concurrent-requests", 128));
  options.max_input_length = args.int_or("max-input-length", 0);
  options.api_key = args.value_or("api-key", "");
  options.max_body_bytes = static_cast<std::size_t>(args.int_or("max-body-bytes", 4 << 20));
  options.request_timeout_seconds = args.number_or("request-timeout", 60);
  options.log_requests = args.flag("log-requests");
  options.client_timeout_seconds = static_cast<int>(args.int_or("client-timeout", 10));
  if (options.client_timeout_seconds < 1) throw Error("--client-timeout must be at least 1 second");
  if (options.port < 0 || options.port > 65535) throw Error("--port must be in 0..65535");
  if (options.max_concurrent_requests < 1) throw Error("--max-concurrent-requests must be at least 1");
  if (options.max_batch_tokens < 1) throw Error("--max-batch-tokens must be at least 1");
  options.cache = !args.flag("no-cache");
  const int64_t cache_entries = args.int_or("cache-entries", 100000);
  const int64_t cache_bytes = args.int_or("cache-bytes", int64_t{256} << 20);
  const int64_t cache_ttl = args.int_or("cache-ttl", 0);
  const int64_t tokenization_entries = args.int_or("tokenization-cache-entries", 100000);
  if (cache_entries < 1 || cache_bytes < 1) throw Error("--cache-entries and --cache-bytes must be at least 1");
  if (cache_ttl < 0) throw Error("--cache-ttl must be 0 (no expiry) or a number of seconds");
  if (tokenization_entries < 0) throw Error("--tokenization-cache-entries must be 0 (off) or more");
  options.response_cache.max_entries = static_cast<std::size_t>(cache_entries);
  options.response_cache.max_bytes = static_cast<std::size_t>(cache_bytes);
  options.response_cache.ttl = std::chrono::seconds(cache_ttl);
  options.tokenization_cache_entries = static_cast<std::size_t>(tokenization_entries);
  options.redis_url = args.value_or("redis", "");
  options.redis_cluster = args.value_or("redis-cluster", "");
  options.redis_user = args.value_or("redis-user", "");
  options.redis_password = args.value_or("redis-password", "");
  options.redis_timeout_ms = static_cast<int>(args.int_or("redis-timeout-ms", 100));
  if (options.redis_timeout_ms < 1) throw Error("--redis-timeout-ms must be at least 1");
  ops::set_num_threads(options.threads);

  auto registry = std::make_shared<ModelRegistry>();
  std::vector<std::string> specs = args.values("model");
  if (specs.empty()) {
    const fs::path dir = default_models_directory();
    specs = {(dir / "lang-id-bert").string(), (dir / "fortune-gpt2").string()};
  }
  LoadOptions load_options;
  if (const auto dtype = args.value("dtype")) load_options.precision = ops::parse_precision(*dtype);
  for (const std::string& spec : specs) registry->load(served_model_spec(spec), load_options);

  HttpServer server(registry, options);
  server.bind();
  std::signal(SIGTERM, on_stop_signal);
  std::signal(SIGINT, on_stop_signal);
  std::thread watcher([&server] {
    while (!stop_requested) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    server.stop();  // stop accepting; in-flight requests finish
  });

  const std::string base = "http://" + (options.host == "0.0.0.0" ? std::string("localhost") : options.host) + ":" +
                           std::to_string(server.port());
  std::cout << "snapformer serving on " << base << " (" << ops::num_threads() << " threads)\n";
  for (const auto& m : registry->models()) {
    std::cout << "  model '" << m.name << "': " << m.pipeline->config().architecture << ", tasks:";
    for (Task t : m.pipeline->tasks()) std::cout << " " << task_name(t);
    std::cout << "\n";
  }
  const ServedModel* first = registry->models().empty() ? nullptr : &registry->models().front();
  std::cout << "try:\n";
  if (first && first->pipeline->supports(Task::kClassify))
    std::cout << "  curl " << base << "/models/" << first->name
              << " -H 'Content-Type: application/json' -d '{\"inputs\": \"Guten Morgen, wie geht es dir?\"}'\n";
  if (registry->first_supporting(Task::kGenerate))
    std::cout << "  curl " << base << "/generate -H 'Content-Type: application/json' "
              << "-d '{\"inputs\": \"The meaning of life is\", \"parameters\": {\"max_new_tokens\": 20}}'\n";
  std::cout << "  curl " << base << "/health    curl " << base << "/metrics    (docs/API.md lists every route)\n"
            << std::flush;
  server.run();
  stop_requested = true;
  watcher.join();
  std::cout << "snapformer: stopped\n";
  return 0;
}

}  // namespace snapformer::cli
