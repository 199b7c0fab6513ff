// An HttpServer in the test process on a free loopback port, serving on its
// own thread from construction until destruction (stop, then join).
#pragma once

#include <httplib.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "server/http_server.h"

namespace snapformer::testing {

class LoopbackServer {
 public:
  // `models`: ModelRegistry::load specs ("NAME=DIR" or DIR). host and port are overridden.
  LoopbackServer(const std::vector<std::string>& models, ServerOptions options) {
    auto registry = std::make_shared<ModelRegistry>();
    for (const std::string& spec : models) registry->load(spec);
    options.host = "127.0.0.1";
    options.port = 0;
    server_ = std::make_unique<HttpServer>(registry, options);
    server_->bind();
    thread_ = std::thread([this] { server_->run(); });
    while (!server_->ready()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ~LoopbackServer() {
    server_->stop();
    thread_.join();
  }
  LoopbackServer(const LoopbackServer&) = delete;
  LoopbackServer& operator=(const LoopbackServer&) = delete;

  HttpServer& server() { return *server_; }
  int port() const { return server_->port(); }
  // A new client with a 30 s read timeout.
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", server_->port());
    c.set_read_timeout(30, 0);
    return c;
  }

 private:
  std::unique_ptr<HttpServer> server_;
  std::thread thread_;
};

}  // namespace snapformer::testing
