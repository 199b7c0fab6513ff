// CircuitBreaker: stops calling a failing dependency for a while, so that a
// Redis that is down or slow costs requests nothing but a flag check.
//
// Closed: calls go through. After `failures_to_open` consecutive failures it
// opens for `open_for`; then one call at a time may probe (half-open): a
// success closes it, a failure opens it again.
// Thread-safety: all methods may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>

namespace snapformer {

class CircuitBreaker {
 public:
  using Clock = std::chrono::steady_clock;
  CircuitBreaker(int failures_to_open, std::chrono::milliseconds open_for)
      : failures_to_open_(failures_to_open), open_for_(open_for) {}

  // True if a call may be made now.
  bool allow() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!open_) return true;
    if (probing_ || Clock::now() < reopen_at_) return false;
    probing_ = true;
    return true;
  }
  // Return whether the state changed (for a log line).
  bool record_success() {
    std::lock_guard<std::mutex> lock(mutex_);
    const bool was_open = open_;
    failures_ = 0;
    open_ = probing_ = false;
    return was_open;
  }
  bool record_failure() {
    std::lock_guard<std::mutex> lock(mutex_);
    probing_ = false;
    if (open_) {
      reopen_at_ = Clock::now() + open_for_;
      return false;
    }
    if (++failures_ < failures_to_open_) return false;
    open_ = true;
    reopen_at_ = Clock::now() + open_for_;
    return true;
  }
  bool is_open() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return open_;
  }

 private:
  const int failures_to_open_;
  const std::chrono::milliseconds open_for_;
  mutable std::mutex mutex_;
  int failures_ = 0;
  bool open_ = false, probing_ = false;
  Clock::time_point reopen_at_{};
};

}  // namespace snapformer
