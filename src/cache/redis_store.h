// RedisStore: the RemoteStore of one Redis server (`--redis URL`): GET, and
// SET with EX for a TTL, over a pool of connections with timeouts.
#pragma once

#include <chrono>
#include <string>

#include "cache/redis_connection.h"
#include "cache/remote_store.h"

namespace snapformer {

class RedisStore final : public RemoteStore {
 public:
  // Does not connect yet (the server starts even while Redis is down).
  RedisStore(const std::string& url, std::chrono::milliseconds timeout);

  std::optional<std::string> get(const std::string& key) override;
  void set(const std::string& key, const std::string& value, std::chrono::seconds ttl) override;
  std::string describe() const override;

 private:
  RedisPool pool_;
};

// Reply handling shared with RedisClusterStore.
std::optional<std::string> string_or_nil(const RedisReply& reply, const std::string& where);
void expect_ok(const RedisReply& reply, const std::string& where);
std::vector<std::string_view> set_command(const std::string& key, const std::string& value, std::chrono::seconds ttl,
                                          std::string& ttl_text);

}  // namespace snapformer
