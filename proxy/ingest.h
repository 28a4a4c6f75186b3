// POST /api/v1/write: the remote_write ingest handler.
//
// Checks the request (method, encoding, content type, sizes), decompresses and decodes it
// into a Batch in per-thread scratch space, hands it to every sink, and answers as the
// remote_write specs and Prometheus expect (see the table in docs/configuration.md).
// Never throws: every refusal is a status, a one-line reason and a counter.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

#include "discovery/sources.h"
#include "proxy/http_server.h"
#include "relabel/series_cache.h"
#include "relabel/series_tracker.h"
#include "sinks/sink.h"

namespace rwgate::proxy {

// What the ingest path needs from the current configuration; swapped whole on reload.
struct IngestSnapshot {
  uint64_t max_decoded_bytes = 128ULL << 20;
  std::vector<std::shared_ptr<sinks::Sink>> sinks;
  relabel::PipelineRules rules;  // per_sink has one entry per sink, in the same order
  std::shared_ptr<const discovery::Discovery> discovery;  // null: no source configured
  std::vector<prometheus::Counter*> relabel_dropped;      // by sink
  std::shared_ptr<relabel::LbDetector> lb;                // load-balancer detection; never null
  std::vector<uint32_t> sink_ids;  // by sink: stable across reloads (interned sink names)
  bool track_series = false;       // staleness.on_terminate with discovery on
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
  kQueueFull,
  kNoSink,
  kBufferError,
  kCount,
};

class IngestHandler {
 public:
  explicit IngestHandler(prometheus::Registry& registry);

  void set_snapshot(std::shared_ptr<const IngestSnapshot> snapshot) {
    snapshot_.store(std::move(snapshot));
  }
  std::shared_ptr<const IngestSnapshot> snapshot() const { return snapshot_.load(); }

  void handle(const HttpRequest& req, HttpResponse& res);
  // Counts a request refused before it reached handle() (413 from the HTTP layer).
  void count_rejected(RejectReason reason, int status);

  // Every ingest thread's series tracker (for the stale marker sender).
  std::vector<relabel::SeriesTracker*> trackers();

 private:
  void reject(HttpResponse& res, int status, RejectReason reason, std::string message);
  prometheus::Counter& requests_by_code(int status);
  void observe_load_balancers(const IngestSnapshot& snap, const proto::Batch& batch,
                              const discovery::DiscoverySnapshot* fleet,
                              std::span<const relabel::LbFlag> flagged);

  std::atomic<std::shared_ptr<const IngestSnapshot>> snapshot_;

  prometheus::Family<prometheus::Counter>& requests_family_;
  std::array<prometheus::Counter*, 7> requests_;  // 204 400 405 413 415 503 other
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

  relabel::SeriesTracker& tracker();  // this thread's
  std::mutex trackers_mu_;            // guards trackers_
  std::vector<std::unique_ptr<relabel::SeriesTracker>> trackers_;
};

}  // namespace rwgate::proxy
