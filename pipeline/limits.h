// Per-tenant limits: what one tenant may send, whatever the others do, in bounded memory.
//
//   limits:
//     default: {ingestion_rate: 0, ingestion_burst: 0, max_series: 0,
//               max_label_names_per_series: 0, max_label_value_length: 0}    # 0: no limit
//     tenants: {team-a: {ingestion_rate: 50000}}   # a tenant's keys override the default's
//     series_idle_timeout: 15m                     # a series is active until idle this long
//
// The checks, in the order they run on a request (after the tenant stage and HA dedup):
//   1. per series: more label names than max_label_names_per_series, or a value longer
//      than max_label_value_length (bytes): the series is refused;
//   2. per tenant: the request's samples (float and histogram) against a token bucket of
//      ingestion_rate a second holding at most ingestion_burst (default: one second's
//      worth). Short of tokens: the whole request is refused, 429 with Retry-After, as
//      Mimir's distributor does, and no tenant's tokens are taken. A request larger than
//      the burst could never pass: it gets 400 instead, so that the sender does not resend
//      it for ever. A request a sink then refuses (503) gets its tokens back;
//   3. per series: a series not among the tenant's active ones when it has max_series of
//      them is refused; the active ones keep flowing.
// A request with refused series forwards the rest and is answered 400 naming the first
// refusal (Prometheus drops a request answered 400 and does not resend it), as Mimir does.
// Every refusal is counted by tenant and reason.
//
// Without `tenancy`, every series belongs to one tenant named "" and `default` applies.
//
// State per tenant (kept across reloads): the bucket, counters, and for tenants with a
// max_series the hashes of their active series (at most max_series of them); each behind
// the tenant's own lock, taken once per request per tenant.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/registry.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/clock.h"
#include "base/duration.h"
#include "proto/batch.h"
#include "sinks/tenant_names.h"

namespace YAML {
class Node;
}
namespace rwgate::yaml {
class Reader;
}

namespace rwgate::pipeline {

struct TenantLimits {
  double ingestion_rate = 0;  // samples a second; 0: no limit
  uint64_t ingestion_burst = 0;
  uint64_t max_series = 0;
  uint32_t max_label_names_per_series = 0;
  uint32_t max_label_value_length = 0;
  bool operator==(const TenantLimits&) const = default;
};

// The top-level `limits` section; present = on.
struct LimitsConfig {
  bool enabled = false;
  TenantLimits defaults;
  std::map<std::string, TenantLimits> tenants;  // every key filled (default's where unset)
  Duration series_idle_timeout = std::chrono::minutes(15);
};

void read_limits(yaml::Reader& r, const YAML::Node& node, bool tenancy, LimitsConfig& out);

// Why series are refused or a request is throttled; the `reason` label of the counters.
enum class LimitReason : uint8_t {
  kRate,
  kMaxSeries,
  kLabelNames,
  kLabelValueLength,
  kCount,
};

// What the limits did to one request.
struct LimitsOutcome {
  std::optional<std::string> throttled;  // 429: why (the request is refused whole)
  int retry_after_s = 0;
  // 400: a tenant's samples in the request are more than its bucket can ever hold.
  std::optional<std::string> too_large;
  std::optional<std::string> refused;  // 400 after forwarding the rest: the first refusal
  // Accepted samples by tenant, for LimitsState::count_accepted once the sinks took them.
  std::vector<std::pair<uint32_t, uint64_t>> accepted;
};

// One tenant, for /api/v1/tenants.
struct TenantReport {
  std::string tenant;
  double samples_per_second;
  uint64_t samples_total;
  std::optional<uint64_t> active_series;  // only counted where max_series is set
  TenantLimits limits;
  std::array<uint64_t, static_cast<size_t>(LimitReason::kCount)> refused;  // samples
};

// Shared by the ingest threads; outlives reloads.
class LimitsState {
 public:
  LimitsState(prometheus::Registry& registry, std::shared_ptr<const sinks::TenantNames> names,
              const Clock& clock = Clock::system());
  ~LimitsState();

  // A reload: every tenant's limits are looked up again on its next request.
  void configure(std::shared_ptr<const LimitsConfig> config);

  // Applies the limits to `batch`: refused series are taken out of batch.series.
  LimitsOutcome apply(proto::Batch& batch);
  // The samples of a request the sinks took (LimitsOutcome::accepted).
  void count_accepted(std::span<const std::pair<uint32_t, uint64_t>> accepted);
  // The request was not taken after all (a sink's queue was full: 503): its tokens go
  // back, so that the sender's retry is not charged twice.
  void refund(const LimitsOutcome& outcome);

  std::vector<TenantReport> report() const;
  // GET /api/v1/tenants: {"tenants": [{"tenant", "samples_per_second", "samples_total",
  // "active_series" (null: not counted), "limits": {...}, "refused_samples": {reason: n}}]}.
  std::string report_json() const;

 private:
  struct Tenant;
  struct Scratch;
  // The three checks of apply(), in order; take_tokens false: throttled (429).
  void check_labels(const proto::Batch& batch, Scratch& scratch);
  bool take_tokens(Scratch& scratch);
  void check_active_series(const proto::Batch& batch, Scratch& scratch);
  // The state of `tenant`, made on first use, its limits current. Never null.
  Tenant& tenant(uint32_t id);
  const TenantLimits& limits_of(Tenant& t);                      // caller holds t.mu
  void refuse(Tenant& t, LimitReason reason, uint64_t samples);  // caller holds t.mu
  // Tokens back into the bucket, up to its burst. Caller holds t.mu.
  static void give_back(Tenant& t, const TenantLimits& limits, uint64_t samples);

  prometheus::Family<prometheus::Counter>& discarded_;
  const std::shared_ptr<const sinks::TenantNames> names_;
  const Clock& clock_;
  mutable std::mutex config_mu_;  // guards config_; generation_ changes under it
  std::shared_ptr<const LimitsConfig> config_;
  std::atomic<uint64_t> generation_{0};
  mutable std::shared_mutex tenants_mu_;          // guards the table (not the tenants)
  std::vector<std::unique_ptr<Tenant>> tenants_;  // by tenant id
};

}  // namespace rwgate::pipeline
