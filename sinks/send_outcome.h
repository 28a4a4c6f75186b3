// What a store's answer to one remote_write request means, and how long to wait before the
// next attempt. Pure functions and small value types, so the rules are tested on their own
// (tests/unit/sinks/send_outcome_test.cc) and the sink's retry loop only acts on them.
//
// The rules are Prometheus remote_write's (docs/configuration.md, "Retries"):
//
//   answer                                   class          what the sink does
//   ─────────────────────────────────────    ─────────────  ──────────────────────────────
//   2xx                                      kDelivered     count as forwarded, next request
//   5xx; 429 with retry_on_http_429: true;   kRetry         wait (Backoff), send it again
//     no answer (network error, timeout,
//     connection closed)
//   anything else (other 4xx, 429 without    kFinalFailure  count as dropped (rejected),
//     retry_on_http_429, 1xx, 3xx: redirects                next request
//     are not followed)
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace rwgate::sinks {

// The status of an attempt that got no HTTP answer at all.
inline constexpr int kNoAnswer = 0;

enum class SendClass { kDelivered, kRetry, kFinalFailure };

// One HTTP exchange with the store, as the retry loop sees it.
struct SendOutcome {
  int status = kNoAnswer;
  // Why it failed: the start of the store's answer, or the network error. Empty on 2xx.
  std::string error_text;
  std::optional<std::chrono::milliseconds> retry_after;  // the answer's Retry-After
  uint64_t auth_version = 0;  // Credentials version the request was sent with
};

// The class of an answer with HTTP `status` (kNoAnswer: none came).
SendClass classify(int status, bool retry_on_http_429);

// Parses Retry-After given in seconds. The HTTP-date form is rare from stores and, like
// anything else that is not a plain number of at most 6 digits, gives nullopt.
std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value);

// The waits between attempts of one request. Attempt n (from 1) waits a random time in
// [b/2, b] with b = min_backoff * 2^(n-1), capped at max_backoff: full jitter on the upper
// half, so shards that failed together do not retry together. A store's Retry-After wins,
// clamped to [min_backoff, 5 min]: a "0" must not make the sink spin.
class Backoff {
 public:
  Backoff(std::chrono::milliseconds min_backoff, std::chrono::milliseconds max_backoff)
      : min_(min_backoff), max_(max_backoff), current_(min_backoff) {}

  // The wait before the next attempt; `random` is any uniformly random number.
  std::chrono::milliseconds next(std::optional<std::chrono::milliseconds> retry_after,
                                 uint64_t random);

 private:
  std::chrono::milliseconds min_;
  std::chrono::milliseconds max_;
  std::chrono::milliseconds current_;
};

// One sink's rwgate_sends_total children, by status ("error" for kNoAnswer). The docs
// promise that a status's series appears with its first send, so a child is resolved the
// first time its status is seen and kept: after that, counting a send is one array index
// and one atomic add, with no label lookup. Not thread-safe: the sink's I/O thread owns it.
class SendCounters {
 public:
  // `labels`: the sink's own (sink, and tenant for a tenant's sink); status is added.
  SendCounters(prometheus::Family<prometheus::Counter>& family, prometheus::Labels labels);
  prometheus::Counter& of(int status);

 private:
  prometheus::Family<prometheus::Counter>& family_;
  prometheus::Labels labels_;
  // Indexed by status; HTTP statuses have three digits, so 0 (kNoAnswer) to 999.
  std::array<prometheus::Counter*, 1000> by_status_{};
};

}  // namespace rwgate::sinks
