// RedisConnection: one hiredis connection with connect and command timeouts,
// and a small pool of them per server (RedisPool).
//
// hiredis 0.14 (Debian 12) has no TLS support, so connections are plain TCP;
// `--redis` refuses rediss:// URLs with a clear error.
//
// Ownership: a RedisConnection owns its redisContext; RedisReply owns a reply.
// Thread-safety: a connection is used by one thread at a time (the pool hands
// each out exclusively); RedisPool is thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

struct redisContext;
struct redisReply;

namespace snapformer {

struct RedisEndpoint {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string user;      // ACL user ("" = default)
  std::string password;  // "" = no AUTH
  int db = 0;

  std::string name() const { return host + ":" + std::to_string(port); }
};

// Parses redis://[[user]:password@]host[:port][/db]. Throws Error naming the
// problem (scheme, port, db, rediss:// without TLS support).
RedisEndpoint parse_redis_url(const std::string& url);
// Parses "host:port".
RedisEndpoint parse_host_port(const std::string& text);

// One reply: nil, a string (bulk or status), an integer, an error or an array.
class RedisReply {
 public:
  explicit RedisReply(redisReply* reply);
  ~RedisReply();
  RedisReply(RedisReply&& other) noexcept;
  RedisReply& operator=(RedisReply&&) = delete;

  bool is_nil() const;
  bool is_error() const;
  bool is_string() const;  // bulk string or status
  bool is_array() const;
  bool is_integer() const;
  std::string_view text() const;  // string, status or error text
  long long integer() const;
  std::size_t size() const;           // array elements
  const redisReply* element(std::size_t i) const;
  const redisReply* raw() const { return reply_; }

 private:
  redisReply* reply_;
};

class RedisConnection {
 public:
  // Connects, authenticates and selects the database. Throws RemoteStoreError.
  RedisConnection(const RedisEndpoint& endpoint, std::chrono::milliseconds timeout);
  ~RedisConnection();
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  // Sends the commands in one round trip and returns their replies in order
  // (binary-safe arguments). Throws RemoteStoreError on I/O errors and
  // timeouts, after which the connection must be discarded.
  std::vector<RedisReply> run(const std::vector<std::vector<std::string_view>>& commands);
  RedisReply run(const std::vector<std::string_view>& command);

 private:
  redisContext* context_ = nullptr;
  std::string name_;
};

// Idle connections to one endpoint, created on demand. A connection that
// failed is dropped, so the next lease reconnects.
class RedisPool {
 public:
  RedisPool(RedisEndpoint endpoint, std::chrono::milliseconds timeout, std::size_t max_idle = 16);

  // Runs `commands` on a pooled connection (see RedisConnection::run).
  std::vector<RedisReply> run(const std::vector<std::vector<std::string_view>>& commands);
  RedisReply run(const std::vector<std::string_view>& command);
  const RedisEndpoint& endpoint() const { return endpoint_; }

 private:
  std::unique_ptr<RedisConnection> lease();
  void give_back(std::unique_ptr<RedisConnection> connection);

  RedisEndpoint endpoint_;
  std::chrono::milliseconds timeout_;
  std::size_t max_idle_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<RedisConnection>> idle_;
};

}  // namespace snapformer
