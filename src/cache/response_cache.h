// ResponseCache: answers of deterministic requests, in two tiers: a sharded
// in-process LRU, and optionally a RemoteStore (Redis) shared by replicas.
//
// lookup(): the LRU, then the store (a store hit is copied into the LRU).
// store(): into the LRU at once; into the store by a background writer
// (bounded queue; when full, writes are dropped and counted), so a slow
// store never delays an answer. Store failures (down, slow, corrupt or
// foreign values) are misses: counted in /metrics, logged once when the
// circuit breaker opens and once when the store is back; requests are still
// answered. The store reconnects by itself.
//
// Keys are the full cache keys (see HttpServer); the store sees only
// store_key() hashes, with the full key inside the value to reject collisions.
//
// Thread-safety: all methods may be called from any thread.
#pragma once

#include <chrono>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "cache/cached_response.h"
#include "cache/circuit_breaker.h"
#include "cache/remote_store.h"
#include "util/lru_cache.h"

namespace snapformer {

struct ResponseCacheOptions {
  std::size_t max_entries = 100000;
  std::size_t max_bytes = std::size_t{256} << 20;
  std::chrono::seconds ttl{0};  // 0: entries never expire
};

struct ResponseCacheCounters {
  uint64_t local_hits = 0, remote_hits = 0, misses = 0, evictions = 0, expirations = 0;
  uint64_t remote_errors = 0, remote_rejected_values = 0, remote_writes = 0, remote_writes_dropped = 0;
  std::size_t entries = 0, bytes = 0;
  bool remote_available = false;  // a store is configured and its breaker is closed
};

class ResponseCache {
 public:
  enum class Source { kLocal, kRemote };
  struct Hit {
    CachedResponse response;
    Source source;
  };

  ResponseCache(ResponseCacheOptions options, std::unique_ptr<RemoteStore> remote);
  ~ResponseCache();  // finishes queued store writes (bounded by the store's timeouts)

  std::optional<Hit> lookup(const std::string& key);
  void store(const std::string& key, const CachedResponse& response);
  // Waits until every queued store write has been attempted (tests, benchmarks).
  void flush();
  ResponseCacheCounters counters() const;
  bool has_remote() const { return remote_ != nullptr; }

 private:
  void writer_loop();
  void remote_failed(const std::string& what);
  void remote_succeeded();

  ResponseCacheOptions options_;
  LruCache<CachedResponse> local_;
  std::unique_ptr<RemoteStore> remote_;
  CircuitBreaker breaker_{3, std::chrono::seconds(2)};

  mutable std::mutex queue_mutex_;
  std::condition_variable queue_changed_;
  std::deque<std::pair<std::string, std::string>> queue_;  // (store key, encoded value)
  bool writing_ = false, stopping_ = false;
  std::thread writer_;

  std::atomic<uint64_t> remote_hits_{0}, remote_errors_{0}, rejected_{0}, writes_{0}, dropped_{0};
};

}  // namespace snapformer
