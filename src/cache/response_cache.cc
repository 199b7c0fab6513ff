#include "cache/response_cache.h"

#include <iostream>

namespace snapformer {

namespace {
constexpr std::size_t kMaxQueuedWrites = 4096;
}  // namespace

ResponseCache::ResponseCache(ResponseCacheOptions options, std::unique_ptr<RemoteStore> remote)
    : options_(options),
      local_(options.max_entries, options.max_bytes, std::chrono::duration_cast<std::chrono::milliseconds>(options.ttl),
             [](const CachedResponse& r) { return r.bytes(); }),
      remote_(std::move(remote)) {
  if (remote_) writer_ = std::thread([this] { writer_loop(); });
}

ResponseCache::~ResponseCache() {
  {
    std::lock_guard<std::mutex> lock(queue_mutex_);
    stopping_ = true;
  }
  queue_changed_.notify_all();
  if (writer_.joinable()) writer_.join();
}

void ResponseCache::remote_failed(const std::string& what) {
  remote_errors_.fetch_add(1, std::memory_order_relaxed);
  if (breaker_.record_failure())
    std::cerr << "snapformer: cache store " << remote_->describe() << " is failing (" << what
              << "); answering without it, retrying every 2 s\n";
}

void ResponseCache::remote_succeeded() {
  if (breaker_.record_success()) std::cerr << "snapformer: cache store " << remote_->describe() << " is back\n";
}

std::optional<ResponseCache::Hit> ResponseCache::lookup(const std::string& key) {
  if (auto local = local_.get(key)) return Hit{std::move(*local), Source::kLocal};
  if (!remote_ || !breaker_.allow()) return std::nullopt;
  std::optional<std::string> value;
  try {
    value = remote_->get(store_key(key));
    remote_succeeded();
  } catch (const RemoteStoreError& e) {
    remote_failed(e.what());
    return std::nullopt;
  }
  if (!value) return std::nullopt;
  auto response = decode_cached_response(*value, key);
  if (!response) {  // corrupt, another version, or another key's value: ignore (it gets overwritten)
    rejected_.fetch_add(1, std::memory_order_relaxed);
    return std::nullopt;
  }
  remote_hits_.fetch_add(1, std::memory_order_relaxed);
  local_.put(key, *response);
  return Hit{std::move(*response), Source::kRemote};
}

void ResponseCache::store(const std::string& key, const CachedResponse& response) {
  local_.put(key, response);
  if (!remote_) return;
  std::string value = encode_cached_response(key, response);
  {
    std::lock_guard<std::mutex> lock(queue_mutex_);
    if (queue_.size() >= kMaxQueuedWrites) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    queue_.emplace_back(store_key(key), std::move(value));
  }
  queue_changed_.notify_all();
}

void ResponseCache::writer_loop() {
  std::unique_lock<std::mutex> lock(queue_mutex_);
  while (true) {
    queue_changed_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, and everything written
    auto [key, value] = std::move(queue_.front());
    queue_.pop_front();
    writing_ = true;
    lock.unlock();
    if (breaker_.allow()) {
      try {
        remote_->set(key, value, options_.ttl);
        writes_.fetch_add(1, std::memory_order_relaxed);
        remote_succeeded();
      } catch (const RemoteStoreError& e) {
        remote_failed(e.what());
      }
    } else {
      dropped_.fetch_add(1, std::memory_order_relaxed);
    }
    lock.lock();
    writing_ = false;
    queue_changed_.notify_all();
  }
}

void ResponseCache::flush() {
  std::unique_lock<std::mutex> lock(queue_mutex_);
  queue_changed_.wait(lock, [this] { return queue_.empty() && !writing_; });
}

ResponseCacheCounters ResponseCache::counters() const {
  const LruCacheStats local = local_.stats();
  ResponseCacheCounters c;
  c.local_hits = local.hits;
  c.remote_hits = remote_hits_.load();
  c.misses = local.misses - c.remote_hits;  // every remote hit was first a local miss
  c.evictions = local.evictions;
  c.expirations = local.expirations;
  c.entries = local.entries;
  c.bytes = local.bytes;
  c.remote_errors = remote_errors_.load();
  c.remote_rejected_values = rejected_.load();
  c.remote_writes = writes_.load();
  c.remote_writes_dropped = dropped_.load();
  c.remote_available = remote_ != nullptr && !breaker_.is_open();
  return c;
}

}  // namespace snapformer
