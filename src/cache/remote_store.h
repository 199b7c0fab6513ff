// RemoteStore: a key-value tier shared by every replica (Redis or a Redis
// Cluster), behind the in-process LRU of the response cache.
//
// Contract: get() returns the stored bytes or nullopt when the key is absent;
// both methods throw RemoteStoreError when the store cannot answer within
// its timeout (down, slow, refusing), and never block longer than a few
// timeouts. Implementations reconnect by themselves on later calls.
// Thread-safety: every method may be called from any thread.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "util/error.h"

namespace snapformer {

class RemoteStoreError : public Error {
 public:
  using Error::Error;
};

class RemoteStore {
 public:
  virtual ~RemoteStore() = default;
  virtual std::optional<std::string> get(const std::string& key) = 0;
  // ttl zero: no expiry.
  virtual void set(const std::string& key, const std::string& value, std::chrono::seconds ttl) = 0;
  // For logs: "redis://host:port/db" or "redis-cluster host:port,...".
  virtual std::string describe() const = 0;
};

}  // namespace snapformer
