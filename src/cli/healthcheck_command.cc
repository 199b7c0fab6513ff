// snapformer healthcheck [--host H] [--port P] [--timeout SECONDS]: exit 0
// when a server answers GET /health with 200, 1 otherwise. The container
// image's HEALTHCHECK, which has no curl or shell to run one with.
#include <httplib.h>

#include <iostream>

#include "cli/arguments.h"
#include "cli/commands.h"
#include "util/error.h"

namespace snapformer::cli {

int healthcheck_command(const std::vector<std::string>& raw) {
  const Arguments args(raw, {"help"}, {"host", "port", "timeout"});
  if (args.flag("help")) {
    std::cout << "usage: snapformer healthcheck [--host 127.0.0.1] [--port 8000] [--timeout 2]\n"
                 "Exit code 0 when the server answers GET /health with 200, else 1.\n";
    return 0;
  }
  const std::string host = args.value_or("host", "127.0.0.1");
  const int port = static_cast<int>(args.int_or("port", 8000));
  const double timeout = args.number_or("timeout", 2.0);
  if (port < 1 || port > 65535) throw Error("--port must be in 1..65535");
  if (timeout <= 0) throw Error("--timeout must be positive");
  httplib::Client client(host, port);
  const auto seconds = static_cast<time_t>(timeout);
  const auto microseconds = static_cast<time_t>((timeout - static_cast<double>(seconds)) * 1e6);
  client.set_connection_timeout(seconds, microseconds);
  client.set_read_timeout(seconds, microseconds);
  const auto reply = client.Get("/health");
  if (!reply) {
    std::cerr << "snapformer healthcheck: no answer from " << host << ":" << port << " ("
              << httplib::to_string(reply.error()) << ")\n";
    return 1;
  }
  if (reply->status != 200) {
    std::cerr << "snapformer healthcheck: /health answered " << reply->status << ": " << reply->body << "\n";
    return 1;
  }
  std::cout << reply->body << (reply->body.empty() || reply->body.back() != '\n' ? "\n" : "");
  return 0;
}

}  // namespace snapformer::cli
