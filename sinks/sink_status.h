// What the status page says of a sink: where it sends, whether its sends work, how full
// its queue is and how old the oldest unsent data is. Read off the sink when the page is
// asked for; the send path only records outcomes (SendHealth), never formats anything.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>

#include "base/clock.h"

namespace rwgate::sinks {

struct SinkStatus {
  std::string name;      // "<sink>", or "<sink>/<tenant>" for a tenant's sink
  std::string url;       // as it is sent to (sink URLs carry no user info)
  std::string protocol;  // "1.0" | "2.0"
  // ok: the last send was delivered (or none was needed yet); retrying: the last attempt
  // failed and will be tried again; failing: the store refused requests for good (4xx)
  // and none has been delivered since.
  std::string state = "ok";
  Clock::WallTime state_since{};  // zero: since start
  std::string last_error;         // the last failed attempt (empty: none since start)
  Clock::WallTime last_error_at{};
  int64_t queue_bytes = 0;
  int64_t queue_capacity_bytes = 0;
  bool disk = false;
  double buffer_undelivered = 0;     // disk mode: records written and not yet delivered
  double oldest_unsent_seconds = 0;  // the oldest data queued in memory (0: none)
  double forwarded_samples = 0;      // total, for rates
};

// The outcome of sends, written by the sink's thread and read by the status page. A
// delivery while the state is already ok costs one atomic load.
class SendHealth {
 public:
  void delivered() {
    if (state_.load(std::memory_order_relaxed) == kOk) return;
    std::lock_guard lock(mu_);
    set(kOk);
  }
  void retrying(const std::string& error) { failed(kRetrying, error); }
  void refused(const std::string& error) { failed(kFailing, error); }

  void fill(SinkStatus& out) const {
    static constexpr const char* kNames[] = {"ok", "retrying", "failing"};
    std::lock_guard lock(mu_);
    out.state = kNames[state_.load(std::memory_order_relaxed)];
    out.state_since = since_;
    out.last_error = last_error_;
    out.last_error_at = last_error_at_;
  }

 private:
  enum : uint8_t { kOk, kRetrying, kFailing };
  void failed(uint8_t state, const std::string& error) {
    std::lock_guard lock(mu_);
    last_error_ = error;
    last_error_at_ = Clock::system().wall();
    set(state);
  }
  void set(uint8_t state) {  // caller holds mu_
    if (state_.load(std::memory_order_relaxed) == state) return;
    state_.store(state, std::memory_order_relaxed);
    since_ = Clock::system().wall();
  }

  std::atomic<uint8_t> state_{kOk};
  mutable std::mutex mu_;  // guards the rest
  Clock::WallTime since_{};
  std::string last_error_;
  Clock::WallTime last_error_at_{};
};

}  // namespace rwgate::sinks
