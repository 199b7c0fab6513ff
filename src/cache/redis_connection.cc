#include "cache/redis_connection.h"

#include <hiredis/hiredis.h>

#include <cstdlib>

#include "cache/remote_store.h"

namespace snapformer {

namespace {

timeval to_timeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

int parse_port(const std::string& text, const std::string& where) {
  char* end = nullptr;
  const long port = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || port < 1 || port > 65535) throw Error(where + ": bad port '" + text + "'");
  return static_cast<int>(port);
}

}  // namespace

RedisEndpoint parse_host_port(const std::string& text) {
  RedisEndpoint endpoint;
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) throw Error("'" + text + "': expected host:port");
  endpoint.host = text.substr(0, colon);
  endpoint.port = parse_port(text.substr(colon + 1), "'" + text + "'");
  return endpoint;
}

RedisEndpoint parse_redis_url(const std::string& url) {
  const std::string where = "--redis '" + url + "'";
  if (url.rfind("rediss://", 0) == 0)
    throw Error(where + ": TLS (rediss://) needs hiredis 1.0 with SSL; this build has hiredis 0.14 without it");
  if (url.rfind("redis://", 0) != 0) throw Error(where + ": expected redis://[[user]:password@]host[:port][/db]");
  std::string rest = url.substr(8);
  RedisEndpoint endpoint;
  if (const auto at = rest.rfind('@'); at != std::string::npos) {
    const std::string credentials = rest.substr(0, at);
    rest = rest.substr(at + 1);
    const auto colon = credentials.find(':');
    if (colon == std::string::npos) {
      endpoint.password = credentials;
    } else {
      endpoint.user = credentials.substr(0, colon);
      endpoint.password = credentials.substr(colon + 1);
    }
  }
  if (const auto slash = rest.find('/'); slash != std::string::npos) {
    const std::string db = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
    if (!db.empty()) {
      char* end = nullptr;
      const long value = std::strtol(db.c_str(), &end, 10);
      if (*end != '\0' || value < 0 || value > 1000000) throw Error(where + ": bad database number '" + db + "'");
      endpoint.db = static_cast<int>(value);
    }
  }
  if (const auto colon = rest.rfind(':'); colon != std::string::npos) {
    endpoint.port = parse_port(rest.substr(colon + 1), where);
    rest = rest.substr(0, colon);
  }
  if (rest.empty()) throw Error(where + ": missing host");
  endpoint.host = rest;
  return endpoint;
}

RedisReply::RedisReply(redisReply* reply) : reply_(reply) {}
RedisReply::~RedisReply() {
  if (reply_ != nullptr) freeReplyObject(reply_);
}
RedisReply::RedisReply(RedisReply&& other) noexcept : reply_(other.reply_) { other.reply_ = nullptr; }
bool RedisReply::is_nil() const { return reply_->type == REDIS_REPLY_NIL; }
bool RedisReply::is_error() const { return reply_->type == REDIS_REPLY_ERROR; }
bool RedisReply::is_string() const { return reply_->type == REDIS_REPLY_STRING || reply_->type == REDIS_REPLY_STATUS; }
bool RedisReply::is_array() const { return reply_->type == REDIS_REPLY_ARRAY; }
bool RedisReply::is_integer() const { return reply_->type == REDIS_REPLY_INTEGER; }
std::string_view RedisReply::text() const {
  return reply_->str != nullptr ? std::string_view(reply_->str, reply_->len) : std::string_view();
}
long long RedisReply::integer() const { return reply_->integer; }
std::size_t RedisReply::size() const { return reply_->type == REDIS_REPLY_ARRAY ? reply_->elements : 0; }
const redisReply* RedisReply::element(std::size_t i) const { return reply_->element[i]; }

RedisConnection::RedisConnection(const RedisEndpoint& endpoint, std::chrono::milliseconds timeout)
    : name_(endpoint.name()) {
  context_ = redisConnectWithTimeout(endpoint.host.c_str(), endpoint.port, to_timeval(timeout));
  if (context_ == nullptr) throw RemoteStoreError("redis " + name_ + ": cannot allocate a connection");
  if (context_->err != 0) {
    const std::string message = context_->errstr;
    redisFree(context_);
    context_ = nullptr;
    throw RemoteStoreError("redis " + name_ + ": " + message);
  }
  redisSetTimeout(context_, to_timeval(timeout));
  std::vector<std::vector<std::string_view>> setup;
  if (!endpoint.password.empty()) {
    if (endpoint.user.empty()) setup.push_back({"AUTH", endpoint.password});
    else setup.push_back({"AUTH", endpoint.user, endpoint.password});
  }
  const std::string db = std::to_string(endpoint.db);
  if (endpoint.db != 0) setup.push_back({"SELECT", db});
  if (!setup.empty()) {
    for (const RedisReply& reply : run(setup)) {
      if (reply.is_error()) {
        const std::string message(reply.text());
        redisFree(context_);
        context_ = nullptr;
        throw RemoteStoreError("redis " + name_ + ": " + message);
      }
    }
  }
}

RedisConnection::~RedisConnection() {
  if (context_ != nullptr) redisFree(context_);
}

std::vector<RedisReply> RedisConnection::run(const std::vector<std::vector<std::string_view>>& commands) {
  for (const auto& command : commands) {
    std::vector<const char*> argv;
    std::vector<std::size_t> lengths;
    for (std::string_view arg : command) {
      argv.push_back(arg.data());
      lengths.push_back(arg.size());
    }
    if (redisAppendCommandArgv(context_, static_cast<int>(argv.size()), argv.data(), lengths.data()) != REDIS_OK)
      throw RemoteStoreError("redis " + name_ + ": " + context_->errstr);
  }
  std::vector<RedisReply> replies;
  for (std::size_t i = 0; i < commands.size(); ++i) {
    void* reply = nullptr;
    if (redisGetReply(context_, &reply) != REDIS_OK || reply == nullptr) {
      const std::string message = context_->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK)
                                      ? std::string("timed out")
                                      : std::string(context_->errstr);
      throw RemoteStoreError("redis " + name_ + ": " + message);
    }
    replies.emplace_back(static_cast<redisReply*>(reply));
  }
  return replies;
}

RedisReply RedisConnection::run(const std::vector<std::string_view>& command) {
  auto replies = run(std::vector<std::vector<std::string_view>>{command});
  return std::move(replies.front());
}

RedisPool::RedisPool(RedisEndpoint endpoint, std::chrono::milliseconds timeout, std::size_t max_idle)
    : endpoint_(std::move(endpoint)), timeout_(timeout), max_idle_(max_idle) {}

std::unique_ptr<RedisConnection> RedisPool::lease() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!idle_.empty()) {
      auto connection = std::move(idle_.back());
      idle_.pop_back();
      return connection;
    }
  }
  return std::make_unique<RedisConnection>(endpoint_, timeout_);
}

void RedisPool::give_back(std::unique_ptr<RedisConnection> connection) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (idle_.size() < max_idle_) idle_.push_back(std::move(connection));
}

std::vector<RedisReply> RedisPool::run(const std::vector<std::vector<std::string_view>>& commands) {
  bool reused = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    reused = !idle_.empty();
  }
  auto connection = lease();
  try {
    auto replies = connection->run(commands);
    give_back(std::move(connection));
    return replies;
  } catch (const RemoteStoreError&) {
    // An idle connection may have died with a restarted server: one retry on
    // a fresh connection. (The failed one is dropped either way.)
    if (!reused) throw;
  }
  connection = std::make_unique<RedisConnection>(endpoint_, timeout_);
  auto replies = connection->run(commands);
  give_back(std::move(connection));
  return replies;
}

RedisReply RedisPool::run(const std::vector<std::string_view>& command) {
  auto replies = run(std::vector<std::vector<std::string_view>>{command});
  return std::move(replies.front());
}

}  // namespace snapformer
