// POST /api/v1/write: the remote_write ingest handler.
//
// A request goes through these stages, each a function below, in this order:
//
//   check       method, Content-Encoding, Content-Type -> the protocol (RW 1.0 or 2.0)
//   decompress  snappy, refused before allocating when the header claims too much
//   decode      into a Batch of views into the decompressed bytes
//   tenant, HA  each series' tenant (pipeline/tenancy.h), then HA-pair deduplication
//   limits      the tenant's limits (pipeline/limits.h): 429 over its rate, series refused
//   labels      the label pipeline (enrich, lb, relabel; cached), or the series as received
//   hand off    every sink takes the batch, or none does (reserve everywhere first)
//   account     counters, load-balancer evidence, the series tracker: accepted requests only
//
// The answers are those the remote_write specs and Prometheus expect (the table in
// docs/configuration.md). Never throws: every refusal is a status, a one-line reason and
// a counter, chosen by a RejectReason code. The per-request state lives in the worker's
// WorkerContext, which the caller hands in.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <atomic>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/clock.h"
#include "discovery/discovery.h"
#include "pipeline/ha_dedup.h"
#include "pipeline/limits.h"
#include "pipeline/tenancy.h"
#include "pipeline/worker_context.h"
#include "proxy/http_server.h"
#include "sinks/sink.h"

namespace rwgate::proxy {

// What the ingest path needs from the current configuration; swapped whole on reload.
struct IngestSnapshot {
  uint64_t max_decoded_bytes = 128ULL << 20;
  std::vector<std::shared_ptr<sinks::Sink>> sinks;
  std::vector<std::string> sink_names;  // by sink, as in the config
  pipeline::PipelineRules rules;        // per_sink has one entry per sink, in the same order
  std::shared_ptr<const discovery::Discovery> discovery;  // null: no source configured
  std::vector<prometheus::Counter*> relabel_dropped;      // by sink
  std::shared_ptr<lb::LbDetector> lb;                     // load-balancer detection; never null
  std::vector<uint32_t> sink_ids;           // by sink: stable across reloads (interned sink names)
  bool track_series = false;                // staleness.on_terminate with discovery on
  bool mark_seen = false;                   // coverage on: mark the instances series match
  std::shared_ptr<pipeline::HaTracker> ha;  // ha_dedup; null when off
  pipeline::TenancyConfig tenancy;
  relabel::NameValidation names = relabel::NameValidation::kUtf8;  // name_validation_scheme
  std::string config_yaml;                      // the running config, secrets redacted (/config)
  std::shared_ptr<sinks::TenantNames> tenants;  // null when tenancy is off
  // Per-tenant limits and accounting, with tenancy or limits; null when both are off.
  std::shared_ptr<pipeline::LimitsState> limits;
};

enum class RejectReason : uint8_t {
  kMethod,
  kContentEncoding,
  kContentType,
  kBodyTooLarge,
  kSnappy,
  kDecodedTooLarge,
  kProtobuf,
  kLabels,
  kSymbols,
  kHistogram,
  kEmptySeries,
  kTenant,       // a series without a tenant, or with an invalid tenant name
  kTenantLimit,  // a tenant past tenancy.max_tenants
  kRateLimited,  // 429: over the tenant's limits.ingestion_rate
  kLimits,       // 400 after forwarding the rest: series over one of the tenant's limits
  kQueueFull,
  kNoSink,
  kBufferError,
  kUnauthorized,  // --web.config.file basic_auth_users: missing or wrong credentials
  kCount,
};

// A refusal: what to answer and which counter to bump.
struct Rejection {
  int status;
  RejectReason reason;
  std::string message;      // one line
  std::string retry_after;  // empty: no Retry-After header
  std::string_view allow;   // 405: the Allow header
};

// The stages, exposed for tests. Each returns the refusal, or nothing when the request
// goes on.
std::optional<Rejection> check_request(const HttpRequest& req, proto::Protocol& protocol);
std::optional<Rejection> decompress(std::string_view body, uint64_t max_decoded_bytes,
                                    std::string& decoded);
std::optional<Rejection> decode(proto::Protocol protocol, pipeline::WorkerContext& ctx);
// Each series' tenant; with a request of several tenants, each sink's series are then
// grouped by tenant (pipeline::TenantGrouping), as sinks with tenants take them.
std::optional<Rejection> resolve_tenants(const IngestSnapshot& snap, pipeline::WorkerContext& ctx);
// Hands the batch to every sink, or to none: all reserve first, and a sink that refuses
// releases the others' reservations. `series_for(s)`: what sink s gets.
std::optional<Rejection> hand_off(std::span<const std::shared_ptr<sinks::Sink>> sinks,
                                  const proto::Batch& batch, size_t estimate,
                                  std::span<const std::vector<proto::SeriesOut>> per_sink,
                                  std::span<const proto::SeriesOut> as_received);

class IngestHandler {
 public:
  // `clock`: arrival times for the series trackers (the stale-marker sender's clock).
  explicit IngestHandler(prometheus::Registry& registry, const Clock& clock = Clock::system());

  void set_snapshot(std::shared_ptr<const IngestSnapshot> snapshot) {
    snapshot_.store(std::move(snapshot));
  }
  std::shared_ptr<const IngestSnapshot> snapshot() const { return snapshot_.load(); }

  // `ctx`: the state of the worker the request runs on.
  void handle(const HttpRequest& req, HttpResponse& res, pipeline::WorkerContext& ctx);
  // rwgate_samples_received_total (the status page's graph).
  double samples_received() const { return samples_received_.Value(); }
  // Counts a request refused before it reached handle() (413 from the HTTP layer).
  void count_rejected(RejectReason reason, int status);

 private:
  void reject(HttpResponse& res, Rejection r);
  void run_labels(const IngestSnapshot& snap, const discovery::DiscoverySnapshot* fleet,
                  const lb::LbVerdicts* verdicts, pipeline::WorkerContext& ctx);
  void account(const IngestSnapshot& snap, const discovery::DiscoverySnapshot* fleet,
               pipeline::WorkerContext& ctx);
  void answer(proto::Protocol protocol, const proto::Batch& batch, HttpResponse& res);
  void count_ha(const pipeline::HaDedupStats& stats);
  prometheus::Counter& requests_by_code(int status);

  std::atomic<std::shared_ptr<const IngestSnapshot>> snapshot_;
  const Clock& clock_;

  // Metric handles, resolved once.
  std::array<prometheus::Counter*, 9> requests_;  // 204 400 401 405 413 415 429 503 other
  std::array<prometheus::Counter*, static_cast<size_t>(RejectReason::kCount)> rejected_;
  prometheus::Counter& samples_received_;
  prometheus::Counter& histograms_received_;
  prometheus::Counter& exemplars_received_;
  prometheus::Counter& metadata_received_;
  prometheus::Histogram& duration_;
  prometheus::Counter& cache_hits_;
  prometheus::Counter& cache_misses_;
  prometheus::Counter& cache_evictions_;
  prometheus::Counter& enrich_hits_;
  prometheus::Counter& enrich_misses_;
  prometheus::Gauge& cache_entries_;
  std::array<prometheus::Counter*, 3> lb_series_;  // by LbAction: annotated, dropped, passed
  prometheus::Counter& late_samples_;
  prometheus::Counter& ha_dropped_series_;
  prometheus::Counter& ha_dropped_samples_;
  prometheus::Counter& ha_no_cluster_;
  prometheus::Counter& ha_failovers_;
  prometheus::Counter& ha_evicted_;
};

}  // namespace rwgate::proxy
