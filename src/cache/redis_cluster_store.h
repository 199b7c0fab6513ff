// RedisClusterStore: the RemoteStore of a Redis Cluster (`--redis-cluster
// host:port,...`). Keys go to the master owning their hash slot (CRC16 of
// the key or of its {hash tag}, mod 16384), learned from CLUSTER SLOTS.
//
// Redirections: MOVED updates the slot's owner and schedules a topology
// refresh; ASK sends ASKING + the command to the importing node once, without
// changing the map (the slot is being migrated). A node that cannot be
// reached triggers a refresh and a retry; after five attempts the call
// throws RemoteStoreError. Topology refreshes are rate-limited to one per
// 100 ms.
//
// Thread-safety: all methods may be called concurrently (the slot map is
// behind a shared_mutex; each node has its own connection pool).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "cache/redis_connection.h"
#include "cache/remote_store.h"

namespace snapformer {

// The cluster hash slot of `key` (Redis Cluster specification).
std::uint16_t cluster_slot(std::string_view key);

class RedisClusterStore final : public RemoteStore {
 public:
  // `seeds`: "host:port,host:port,..." (any subset of the masters). `password`
  // (and `user`) are sent to every node. Does not connect yet.
  RedisClusterStore(const std::string& seeds, std::chrono::milliseconds timeout, const std::string& user = "",
                    const std::string& password = "");

  std::optional<std::string> get(const std::string& key) override;
  void set(const std::string& key, const std::string& value, std::chrono::seconds ttl) override;
  std::string describe() const override;

  // Redirections followed so far (for metrics and tests).
  uint64_t moved_redirections() const { return moved_.load(); }
  uint64_t ask_redirections() const { return ask_.load(); }

 private:
  RedisReply run_for_key(const std::string& key, const std::vector<std::string_view>& command);
  // Reloads the slot map from any reachable node. Throws when none answers.
  void refresh_topology();
  RedisPool& pool_for(const std::string& node);
  void refresh_if_due();

  std::vector<RedisEndpoint> seeds_;
  std::chrono::milliseconds timeout_;
  std::string user_, password_;
  mutable std::shared_mutex mutex_;
  std::vector<std::string> slot_owner_;  // "host:port" per slot, "" while unknown
  std::map<std::string, std::unique_ptr<RedisPool>> pools_;
  std::chrono::steady_clock::time_point last_refresh_{};
  std::atomic<uint64_t> moved_{0}, ask_{0};
};

}  // namespace snapformer
