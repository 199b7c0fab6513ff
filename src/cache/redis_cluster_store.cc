#include "cache/redis_cluster_store.h"

#include <hiredis/hiredis.h>

#include <mutex>
#include <thread>

#include "cache/redis_store.h"

namespace snapformer {

namespace {

constexpr std::size_t kSlots = 16384;
constexpr int kAttempts = 5;

// CRC16-CCITT (XMODEM): polynomial 0x1021, initial value 0, as the spec says.
std::uint16_t crc16(std::string_view data) {
  std::uint16_t crc = 0;
  for (unsigned char byte : data) {
    crc ^= static_cast<std::uint16_t>(byte << 8);
    for (int bit = 0; bit < 8; ++bit) crc = (crc & 0x8000) ? static_cast<std::uint16_t>((crc << 1) ^ 0x1021) : static_cast<std::uint16_t>(crc << 1);
  }
  return crc;
}

bool starts_with(std::string_view text, std::string_view prefix) { return text.substr(0, prefix.size()) == prefix; }

// "MOVED 3999 127.0.0.1:6381" -> {3999, "127.0.0.1:6381"}
bool parse_redirect(std::string_view text, std::size_t& slot, std::string& node) {
  const auto first = text.find(' ');
  const auto second = text.find(' ', first + 1);
  if (first == std::string_view::npos || second == std::string_view::npos) return false;
  slot = std::strtoul(std::string(text.substr(first + 1, second - first - 1)).c_str(), nullptr, 10);
  node = std::string(text.substr(second + 1));
  return slot < kSlots && !node.empty();
}

}  // namespace

std::uint16_t cluster_slot(std::string_view key) {
  // Only the part between the first '{' and the next '}' is hashed, if non-empty.
  if (const auto open = key.find('{'); open != std::string_view::npos) {
    const auto close = key.find('}', open + 1);
    if (close != std::string_view::npos && close > open + 1) key = key.substr(open + 1, close - open - 1);
  }
  return static_cast<std::uint16_t>(crc16(key) % kSlots);
}

RedisClusterStore::RedisClusterStore(const std::string& seeds, std::chrono::milliseconds timeout,
                                     const std::string& user, const std::string& password)
    : timeout_(timeout), user_(user), password_(password), slot_owner_(kSlots) {
  std::size_t at = 0;
  while (at <= seeds.size()) {
    const std::size_t comma = std::min(seeds.find(',', at), seeds.size());
    if (comma > at) seeds_.push_back(parse_host_port(seeds.substr(at, comma - at)));
    at = comma + 1;
  }
  if (seeds_.empty()) throw Error("--redis-cluster: expected host:port,host:port,...");
}

RedisPool& RedisClusterStore::pool_for(const std::string& node) {
  {
    std::shared_lock<std::shared_mutex> lock(mutex_);
    if (auto it = pools_.find(node); it != pools_.end()) return *it->second;
  }
  std::unique_lock<std::shared_mutex> lock(mutex_);
  auto& pool = pools_[node];
  if (!pool) {
    RedisEndpoint endpoint = parse_host_port(node);
    endpoint.user = user_;
    endpoint.password = password_;
    pool = std::make_unique<RedisPool>(endpoint, timeout_);
  }
  return *pool;
}

void RedisClusterStore::refresh_topology() {
  std::vector<std::string> candidates;
  {
    std::shared_lock<std::shared_mutex> lock(mutex_);
    for (const auto& [node, pool] : pools_) candidates.push_back(node);
  }
  for (const RedisEndpoint& seed : seeds_) candidates.push_back(seed.name());
  std::string last_error = "no node configured";
  for (const std::string& node : candidates) {
    try {
      const RedisReply reply = pool_for(node).run(std::vector<std::string_view>{"CLUSTER", "SLOTS"});
      if (!reply.is_array()) throw RemoteStoreError(node + ": CLUSTER SLOTS: " + std::string(reply.text()));
      std::vector<std::string> owners(kSlots);
      const std::string queried_host = parse_host_port(node).host;
      for (std::size_t i = 0; i < reply.size(); ++i) {
        const redisReply* range = reply.element(i);
        if (range->type != REDIS_REPLY_ARRAY || range->elements < 3) continue;
        const redisReply* master = range->element[2];
        if (master->type != REDIS_REPLY_ARRAY || master->elements < 2) continue;
        std::string host(master->element[0]->str, master->element[0]->len);
        if (host.empty() || host == "?") host = queried_host;  // "": the node we asked
        const std::string owner = host + ":" + std::to_string(master->element[1]->integer);
        const auto first = static_cast<std::size_t>(range->element[0]->integer);
        const auto last = static_cast<std::size_t>(range->element[1]->integer);
        for (std::size_t s = first; s <= last && s < kSlots; ++s) owners[s] = owner;
      }
      std::unique_lock<std::shared_mutex> lock(mutex_);
      slot_owner_ = std::move(owners);
      last_refresh_ = std::chrono::steady_clock::now();
      return;
    } catch (const Error& e) {
      last_error = e.what();
    }
  }
  throw RemoteStoreError("redis cluster: no node answered CLUSTER SLOTS (" + last_error + ")");
}

void RedisClusterStore::refresh_if_due() {
  {
    std::shared_lock<std::shared_mutex> lock(mutex_);
    if (std::chrono::steady_clock::now() - last_refresh_ < std::chrono::milliseconds(100)) return;
  }
  refresh_topology();
}

RedisReply RedisClusterStore::run_for_key(const std::string& key, const std::vector<std::string_view>& command) {
  const std::size_t slot = cluster_slot(key);
  std::string ask_node;  // set by an ASK redirection for the next attempt only
  std::string last_error;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    std::string node = ask_node;
    if (node.empty()) {
      std::shared_lock<std::shared_mutex> lock(mutex_);
      node = slot_owner_[slot];
    }
    if (node.empty()) {
      refresh_if_due();
      std::shared_lock<std::shared_mutex> lock(mutex_);
      node = slot_owner_[slot];
      if (node.empty()) throw RemoteStoreError("redis cluster: no node serves slot " + std::to_string(slot));
    }
    try {
      RedisReply reply = ask_node.empty() ? pool_for(node).run(command)
                                          : std::move(pool_for(node).run(std::vector<std::vector<std::string_view>>{{"ASKING"}, command})[1]);
      ask_node.clear();
      if (!reply.is_error()) return reply;
      const std::string_view text = reply.text();
      std::size_t redirected_slot = 0;
      std::string target;
      if (starts_with(text, "MOVED ") && parse_redirect(text, redirected_slot, target)) {
        moved_.fetch_add(1, std::memory_order_relaxed);
        {
          std::unique_lock<std::shared_mutex> lock(mutex_);
          slot_owner_[redirected_slot] = target;
        }
        try {
          refresh_if_due();  // a MOVED usually means more slots moved
        } catch (const RemoteStoreError&) {
        }
        continue;
      }
      if (starts_with(text, "ASK ") && parse_redirect(text, redirected_slot, target)) {
        ask_.fetch_add(1, std::memory_order_relaxed);
        ask_node = target;
        continue;
      }
      if (starts_with(text, "TRYAGAIN") || starts_with(text, "CLUSTERDOWN")) {
        last_error = std::string(text);
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        continue;
      }
      return reply;  // another error: the caller reports it
    } catch (const RemoteStoreError& e) {
      last_error = e.what();
      ask_node.clear();
      try {
        refresh_if_due();
      } catch (const RemoteStoreError&) {
      }
    }
  }
  throw RemoteStoreError("redis cluster: slot " + std::to_string(slot) + " failed after " + std::to_string(kAttempts) +
                         " attempts (" + last_error + ")");
}

std::optional<std::string> RedisClusterStore::get(const std::string& key) {
  return string_or_nil(run_for_key(key, std::vector<std::string_view>{"GET", key}), describe());
}

void RedisClusterStore::set(const std::string& key, const std::string& value, std::chrono::seconds ttl) {
  std::string ttl_text;
  expect_ok(run_for_key(key, set_command(key, value, ttl, ttl_text)), describe());
}

std::string RedisClusterStore::describe() const {
  std::string text = "redis-cluster ";
  for (std::size_t i = 0; i < seeds_.size(); ++i) {
    if (i > 0) text += ',';
    text += seeds_[i].name();
  }
  return text;
}

}  // namespace snapformer
