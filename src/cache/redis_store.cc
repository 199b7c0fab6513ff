#include "cache/redis_store.h"

namespace snapformer {

std::optional<std::string> string_or_nil(const RedisReply& reply, const std::string& where) {
  if (reply.is_nil()) return std::nullopt;
  if (reply.is_error()) throw RemoteStoreError(where + ": " + std::string(reply.text()));
  if (!reply.is_string()) throw RemoteStoreError(where + ": unexpected reply type to GET");
  return std::string(reply.text());
}

void expect_ok(const RedisReply& reply, const std::string& where) {
  if (reply.is_error()) throw RemoteStoreError(where + ": " + std::string(reply.text()));
}

std::vector<std::string_view> set_command(const std::string& key, const std::string& value, std::chrono::seconds ttl,
                                          std::string& ttl_text) {
  if (ttl.count() <= 0) return {"SET", key, value};
  ttl_text = std::to_string(ttl.count());
  return {"SET", key, value, "EX", ttl_text};
}

RedisStore::RedisStore(const std::string& url, std::chrono::milliseconds timeout)
    : pool_(parse_redis_url(url), timeout) {}

std::optional<std::string> RedisStore::get(const std::string& key) {
  return string_or_nil(pool_.run(std::vector<std::string_view>{"GET", key}), describe());
}

void RedisStore::set(const std::string& key, const std::string& value, std::chrono::seconds ttl) {
  std::string ttl_text;
  expect_ok(pool_.run(set_command(key, value, ttl, ttl_text)), describe());
}

std::string RedisStore::describe() const {
  return "redis://" + pool_.endpoint().name() + "/" + std::to_string(pool_.endpoint().db);
}

}  // namespace snapformer
