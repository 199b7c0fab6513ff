// Real processes for the cache tests: redis-server instances (standalone or
// cluster nodes) and `snapformer serve` processes, on free loopback ports.
#pragma once

#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace snapformer::testing {

// A port that was free a moment ago (bound to 0, then released).
inline int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  socklen_t length = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

// Runs a command line and returns its standard output.
inline std::string shell(const std::string& command) {
  std::string out;
  if (FILE* pipe = ::popen((command + " 2>/dev/null").c_str(), "r")) {
    char buffer[4096];
    std::size_t n;
    while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) out.append(buffer, n);
    ::pclose(pipe);
  }
  return out;
}

// A child process started with execvp; killed (SIGKILL) when destroyed.
class ChildProcess {
 public:
  ChildProcess() = default;
  explicit ChildProcess(const std::vector<std::string>& argv) { start(argv); }
  ~ChildProcess() { kill(SIGKILL); }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  void start(const std::vector<std::string>& argv) {
    pid_ = ::fork();
    if (pid_ == 0) {
      std::vector<char*> args;
      for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      ::execvp(args[0], args.data());
      ::_exit(127);
    }
  }
  void kill(int signal) {
    if (pid_ <= 0) return;
    ::kill(pid_, signal);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
};

// One redis-server on 127.0.0.1, without persistence, in its own directory;
// a cluster node when `cluster` (its bus on a second free port: the default
// port + 10000 may not exist).
class RedisServer {
 public:
  explicit RedisServer(bool cluster = false, std::vector<std::string> extra = {})
      : port_(free_port()), extra_(std::move(extra)) {
    if (cluster)
      extra_.insert(extra_.end(), {"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                                   "--cluster-node-timeout", "2000", "--cluster-port", std::to_string(free_port())});
    dir_ = std::filesystem::temp_directory_path() / ("snapformer-redis-" + std::to_string(::getpid()) + "-" +
                                                     std::to_string(port_));
    std::filesystem::create_directories(dir_);
    start();
  }
  ~RedisServer() {
    stop();
    std::filesystem::remove_all(dir_);
  }

  void start() {
    std::vector<std::string> argv{"redis-server", "--port", std::to_string(port_), "--bind", "127.0.0.1",
                                  "--save", "", "--appendonly", "no", "--dir", dir_.string()};
    argv.insert(argv.end(), extra_.begin(), extra_.end());
    process_.start(argv);
    const auto answering = [this] {  // PONG, or NOAUTH from a server with a password
      const std::string reply = cli("PING");
      return reply.find("PONG") != std::string::npos || reply.find("NOAUTH") != std::string::npos;
    };
    for (int i = 0; i < 500 && !answering(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  void stop() { process_.kill(SIGKILL); }
  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string url() const { return "redis://" + address(); }
  // redis-cli against this server; arguments are passed to the shell as they are.
  std::string cli(const std::string& arguments) const {
    return shell("redis-cli -h 127.0.0.1 -p " + std::to_string(port_) + " " + arguments);
  }

 private:
  int port_;
  std::vector<std::string> extra_;
  std::filesystem::path dir_;
  ChildProcess process_;
};

// Polls until `condition` holds, for up to `milliseconds` (what other
// processes do, such as writes to Redis, happens asynchronously).
template <typename Condition>
bool eventually(Condition condition, int milliseconds = 3000) {
  for (int waited = 0; waited < milliseconds; waited += 10) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return condition();
}

// A Redis Cluster of `masters` redis-server processes on loopback, slots
// spread by `redis-cli --cluster create`; ready (cluster_state:ok) when built.
class RedisCluster {
 public:
  explicit RedisCluster(int masters = 3) {
    for (int i = 0; i < masters; ++i) nodes_.push_back(std::make_unique<RedisServer>(/*cluster=*/true));
    std::string create = "redis-cli --cluster create";
    for (const auto& n : nodes_) create.append(" ").append(n->address());
    shell(create + " --cluster-replicas 0 --cluster-yes");
    ready_ = eventually(
        [&] {
          for (const auto& n : nodes_)
            if (n->cli("CLUSTER INFO").find("cluster_state:ok") == std::string::npos) return false;
          return true;
        },
        10000);
  }
  bool ready() const { return ready_; }
  // Two nodes' addresses, for --redis-cluster (the rest are discovered).
  std::string seeds() const { return nodes_[0]->address() + "," + nodes_[1]->address(); }
  RedisServer& node(int i) { return *nodes_[static_cast<std::size_t>(i)]; }
  const RedisServer& node(int i) const { return *nodes_[static_cast<std::size_t>(i)]; }
  int size() const { return static_cast<int>(nodes_.size()); }

 private:
  std::vector<std::unique_ptr<RedisServer>> nodes_;
  bool ready_ = false;
};

// `snapformer serve` as a separate process, ready when /health answers 200.
class ServeProcess {
 public:
  explicit ServeProcess(std::vector<std::string> arguments) : port_(free_port()) {
    std::vector<std::string> argv{SNAPFORMER_BINARY, "serve", "--host", "127.0.0.1", "--port", std::to_string(port_),
                                  "--threads", "1"};
    argv.insert(argv.end(), arguments.begin(), arguments.end());
    process_.start(argv);
    httplib::Client client("127.0.0.1", port_);
    for (int i = 0; i < 1000; ++i) {
      if (auto r = client.Get("/health"); r && r->status == 200) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  ~ServeProcess() { process_.kill(SIGTERM); }
  int port() const { return port_; }
  // Ends the process at once, as a crash or a lost machine would.
  void kill() { process_.kill(SIGKILL); }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(30, 0);
    return c;
  }

 private:
  int port_;
  ChildProcess process_;
};

}  // namespace snapformer::testing
