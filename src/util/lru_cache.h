// LruCache: a sharded, size-bounded, optionally expiring map from string keys
// to values, evicting the least recently used entry of a shard when a bound
// is passed.
//
// Bounds: at most `max_entries` entries and `max_bytes` bytes in total (each
// shard gets an equal part of both; a value's bytes are what `bytes_of`
// says plus its key). An entry older than `ttl` (zero: never) is a miss and is
// dropped when found. Values are returned by copy (callers keep them without
// holding a lock), so cache small values or shared_ptrs.
//
// Thread-safety: every method may be called from any thread; a shard is
// locked only for the lookup or insertion itself (16 shards spread the load
// of many HTTP threads).
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace snapformer {

struct LruCacheStats {
  uint64_t hits = 0, misses = 0, evictions = 0, expirations = 0;
  std::size_t entries = 0, bytes = 0;
};

template <typename Value>
class LruCache {
 public:
  using Clock = std::chrono::steady_clock;
  using BytesOf = std::function<std::size_t(const Value&)>;

  LruCache(std::size_t max_entries, std::size_t max_bytes, std::chrono::milliseconds ttl, BytesOf bytes_of,
           std::function<Clock::time_point()> now = Clock::now)
      : shards_(kShards), ttl_(ttl), bytes_of_(std::move(bytes_of)), now_(std::move(now)) {
    for (Shard& shard : shards_) {
      shard.max_entries = std::max<std::size_t>(1, max_entries / kShards);
      shard.max_bytes = std::max<std::size_t>(1, max_bytes / kShards);
    }
  }

  std::optional<Value> get(const std::string& key) {
    Shard& shard = shard_of(key);
    std::lock_guard<std::mutex> lock(shard.mutex);
    const auto found = shard.index.find(key);
    if (found == shard.index.end()) {
      misses_.fetch_add(1, std::memory_order_relaxed);
      return std::nullopt;
    }
    auto entry = found->second;
    if (ttl_.count() > 0 && now_() - entry->stored > ttl_) {
      shard.erase(entry);
      expirations_.fetch_add(1, std::memory_order_relaxed);
      misses_.fetch_add(1, std::memory_order_relaxed);
      return std::nullopt;
    }
    shard.order.splice(shard.order.begin(), shard.order, entry);  // most recently used first
    hits_.fetch_add(1, std::memory_order_relaxed);
    return entry->value;
  }

  // Inserts or replaces. A value larger than a shard's byte bound is not kept.
  void put(const std::string& key, Value value) {
    const std::size_t bytes = key.size() + bytes_of_(value) + kEntryOverhead;
    Shard& shard = shard_of(key);
    std::lock_guard<std::mutex> lock(shard.mutex);
    if (const auto found = shard.index.find(key); found != shard.index.end()) shard.erase(found->second);
    if (bytes > shard.max_bytes) return;
    while (!shard.order.empty() && (shard.order.size() >= shard.max_entries || shard.bytes + bytes > shard.max_bytes)) {
      shard.erase(std::prev(shard.order.end()));
      evictions_.fetch_add(1, std::memory_order_relaxed);
    }
    shard.order.push_front(Entry{key, std::move(value), bytes, now_()});
    shard.index.emplace(shard.order.front().key, shard.order.begin());
    shard.bytes += bytes;
  }

  LruCacheStats stats() const {
    LruCacheStats s;
    s.hits = hits_.load();
    s.misses = misses_.load();
    s.evictions = evictions_.load();
    s.expirations = expirations_.load();
    for (const Shard& shard : shards_) {
      std::lock_guard<std::mutex> lock(shard.mutex);
      s.entries += shard.order.size();
      s.bytes += shard.bytes;
    }
    return s;
  }

 private:
  static constexpr std::size_t kShards = 16;
  static constexpr std::size_t kEntryOverhead = 96;  // list node, index node, bookkeeping

  struct Entry {
    std::string key;
    Value value;
    std::size_t bytes;
    Clock::time_point stored;
  };
  struct Shard {
    mutable std::mutex mutex;
    std::list<Entry> order;
    std::unordered_map<std::string, typename std::list<Entry>::iterator> index;
    std::size_t bytes = 0, max_entries = 0, max_bytes = 0;

    void erase(typename std::list<Entry>::iterator entry) {
      bytes -= entry->bytes;
      index.erase(entry->key);
      order.erase(entry);
    }
  };

  Shard& shard_of(const std::string& key) { return shards_[std::hash<std::string>{}(key) % kShards]; }

  std::vector<Shard> shards_;
  std::chrono::milliseconds ttl_;
  BytesOf bytes_of_;
  std::function<Clock::time_point()> now_;
  std::atomic<uint64_t> hits_{0}, misses_{0}, evictions_{0}, expirations_{0};
};

}  // namespace snapformer
