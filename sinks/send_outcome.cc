#include "sinks/send_outcome.h"

#include <algorithm>

namespace rwgate::sinks {

SendClass classify(int status, bool retry_on_http_429) {
  if (status / 100 == 2) return SendClass::kDelivered;
  if (status == kNoAnswer || status / 100 == 5) return SendClass::kRetry;
  if (status == 429 && retry_on_http_429) return SendClass::kRetry;
  return SendClass::kFinalFailure;
}

std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value) {
  if (value.empty() || value.size() > 6) return std::nullopt;
  int64_t secs = 0;
  for (const char c : value) {
    if (c < '0' || c > '9') return std::nullopt;
    secs = secs * 10 + (c - '0');
  }
  return std::chrono::seconds(secs);
}

std::chrono::milliseconds Backoff::next(std::optional<std::chrono::milliseconds> retry_after,
                                        uint64_t random) {
  const int64_t half = current_.count() / 2;
  auto wait = std::chrono::milliseconds(
      half + static_cast<int64_t>(random % static_cast<uint64_t>(half + 1)));
  if (retry_after) {
    wait = std::clamp<std::chrono::milliseconds>(*retry_after, min_, std::chrono::minutes(5));
  }
  // The base doubles even when Retry-After decided this wait: the store's hint is for
  // now, and the next failure without one should not start over from min_backoff.
  current_ = std::min(current_ * 2, max_);
  return wait;
}

SendCounters::SendCounters(prometheus::Family<prometheus::Counter>& family,
                           prometheus::Labels labels)
    : family_(family), labels_(std::move(labels)) {}

prometheus::Counter& SendCounters::of(int status) {
  const bool cacheable = status >= 0 && status < static_cast<int>(by_status_.size());
  if (cacheable && by_status_[status] != nullptr) return *by_status_[status];
  prometheus::Labels labels = labels_;
  labels.emplace("status", status == kNoAnswer ? "error" : std::to_string(status));
  prometheus::Counter& c = family_.Add(labels);
  if (cacheable) by_status_[status] = &c;
  return c;
}

}  // namespace rwgate::sinks
