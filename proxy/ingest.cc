#include "proxy/ingest.h"

#include <snappy.h>

#include <algorithm>
#include <boost/beast/http.hpp>
#include <chrono>

#include "coverage/coverage.h"
#include "proto/decode.h"
#include "proto/hash.h"

namespace rwgate::proxy {

namespace http = boost::beast::http;

namespace {

constexpr const char* kReasonNames[] = {
    "method",       "content_encoding",  "content_type", "body_too_large",
    "snappy",       "decoded_too_large", "protobuf",     "labels",
    "symbols",      "histogram",         "empty_series", "tenant",
    "tenant_limit", "rate_limited",      "limits",       "queue_full",
    "no_sink",      "buffer_error",      "unauthorized"};
static_assert(std::size(kReasonNames) == static_cast<size_t>(RejectReason::kCount));

constexpr int kCodes[] = {204, 400, 401, 405, 413, 415, 429, 503};

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

// Reads the protocol from Content-Type, as the RW 2.0 spec negotiates it:
//   (absent) | application/x-protobuf                       -> RW 1.0
//   application/x-protobuf;proto=prometheus.WriteRequest    -> RW 1.0
//   application/x-protobuf;proto=io.prometheus.write.v2.Request -> RW 2.0
std::optional<proto::Protocol> protocol_of(std::string_view content_type, std::string& why) {
  if (content_type.empty()) return proto::Protocol::kV1;
  const std::string ct = lower(content_type);
  const std::string_view rest = ct;
  const size_t semi = rest.find(';');
  if (trim(rest.substr(0, semi)) != "application/x-protobuf") {
    why = "unsupported Content-Type \"" + std::string(content_type) +
          "\"; want application/x-protobuf";
    return std::nullopt;
  }
  if (semi == std::string_view::npos) return proto::Protocol::kV1;
  std::string_view params = rest.substr(semi + 1);
  while (!params.empty()) {
    const size_t next = params.find(';');
    const std::string_view p = trim(params.substr(0, next));
    if (p.starts_with("proto=")) {
      const std::string_view v = p.substr(6);
      if (v == "prometheus.writerequest") return proto::Protocol::kV1;
      if (v == "io.prometheus.write.v2.request") return proto::Protocol::kV2;
      why = "unsupported remote_write message \"" + std::string(content_type) +
            "\"; want proto=prometheus.WriteRequest or proto=io.prometheus.write.v2.Request";
      return std::nullopt;
    }
    if (next == std::string_view::npos) break;
    params.remove_prefix(next + 1);
  }
  return proto::Protocol::kV1;
}

RejectReason reason_of(proto::DecodeError e) {
  switch (e) {
    case proto::DecodeError::kProtobuf:
      return RejectReason::kProtobuf;
    case proto::DecodeError::kLabels:
      return RejectReason::kLabels;
    case proto::DecodeError::kHistogram:
      return RejectReason::kHistogram;
    case proto::DecodeError::kEmptySeries:
      return RejectReason::kEmptySeries;
    case proto::DecodeError::kSymbols:
      break;
  }
  return RejectReason::kSymbols;
}

bool several_tenants(const proto::Batch& batch) {
  for (const proto::Series& s : batch.series) {
    if (s.tenant != batch.series.front().tenant) return true;
  }
  return false;
}

prometheus::Counter& counter(prometheus::Registry& registry, const char* name, const char* help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(registry).Add({});
}

}  // namespace

std::optional<Rejection> check_request(const HttpRequest& req, proto::Protocol& protocol) {
  if (req.method() != http::verb::post)
    return Rejection{405, RejectReason::kMethod, "method not allowed; use POST", "", "POST"};
  if (auto it = req.find(http::field::content_encoding);
      it != req.end() && lower(it->value()) != "snappy") {
    return Rejection{
        415, RejectReason::kContentEncoding,
        "unsupported Content-Encoding \"" + std::string(it->value()) + "\"; want snappy"};
  }
  std::string why;
  const auto p = protocol_of(req[http::field::content_type], why);
  if (!p) return Rejection{415, RejectReason::kContentType, why};
  protocol = *p;
  return std::nullopt;
}

std::optional<Rejection> decompress(std::string_view body, uint64_t max_decoded_bytes,
                                    std::string& decoded) {
  size_t decoded_len = 0;
  if (!snappy::GetUncompressedLength(body.data(), body.size(), &decoded_len))
    return Rejection{400, RejectReason::kSnappy, "bad snappy: cannot read the uncompressed length"};
  // Refuse before allocating: the header alone can claim any size.
  if (decoded_len > max_decoded_bytes) {
    return Rejection{400, RejectReason::kDecodedTooLarge,
                     "decoded size " + std::to_string(decoded_len) +
                         " bytes is over the limit of " + std::to_string(max_decoded_bytes) +
                         " bytes"};
  }
  decoded.resize(decoded_len);
  if (!snappy::RawUncompress(body.data(), body.size(), decoded.data()))
    return Rejection{400, RejectReason::kSnappy, "bad snappy: corrupt compressed data"};
  return std::nullopt;
}

std::optional<Rejection> decode(proto::Protocol protocol, pipeline::WorkerContext& ctx) {
  if (Status st = ctx.decoder.decode(protocol, ctx.decoded, ctx.batch); !st)
    return Rejection{400, reason_of(st.code<proto::DecodeError>()), st.reason()};
  return std::nullopt;
}

std::optional<Rejection> hand_off(std::span<const std::shared_ptr<sinks::Sink>> sinks,
                                  const proto::Batch& batch, size_t estimate,
                                  std::span<const std::vector<proto::SeriesOut>> per_sink,
                                  std::span<const proto::SeriesOut> as_received) {
  auto series_for = [&](size_t s) {
    return per_sink.empty() ? as_received : std::span<const proto::SeriesOut>(per_sink[s]);
  };
  size_t reserved = 0;
  for (; reserved < sinks.size(); ++reserved) {
    if (!sinks[reserved]->try_reserve(batch, series_for(reserved), estimate)) break;
  }
  if (reserved < sinks.size()) {
    for (size_t i = 0; i < reserved; ++i)
      sinks[i]->cancel_reservation(batch, series_for(i), estimate);
    return Rejection{503, RejectReason::kQueueFull,
                     "sink \"" + sinks[reserved]->name() +
                         "\" queue is full (or its buffer is unavailable); retry later",
                     "5"};
  }
  for (size_t s = 0; s < sinks.size(); ++s) {
    if (Status st = sinks[s]->enqueue(batch, series_for(s), estimate); !st) {
      // Sinks before this one took the data: a retry duplicates it there (at least once).
      for (size_t t = s + 1; t < sinks.size(); ++t)
        sinks[t]->cancel_reservation(batch, series_for(t), estimate);
      return Rejection{503, RejectReason::kBufferError,
                       "sink \"" + sinks[s]->name() + "\" cannot buffer the data: " + st.reason(),
                       "5"};
    }
  }
  return std::nullopt;
}

std::optional<Rejection> resolve_tenants(const IngestSnapshot& snap, pipeline::WorkerContext& ctx) {
  std::optional<pipeline::TenantRefusal> refusal =
      ctx.tenants.resolve(snap.tenancy, *snap.tenants, ctx.identity, ctx.batch);
  if (!refusal) return std::nullopt;
  return Rejection{400,
                   refusal->kind == pipeline::TenantRefusal::Kind::kTooMany
                       ? RejectReason::kTenantLimit
                       : RejectReason::kTenant,
                   std::move(refusal->message)};
}

IngestHandler::IngestHandler(prometheus::Registry& registry, const Clock& clock)
    : clock_(clock),
      samples_received_(
          counter(registry, "rwgate_received_samples_total", "Float samples accepted at ingest.")),
      histograms_received_(counter(registry, "rwgate_received_histograms_total",
                                   "Native histogram samples accepted at ingest.")),
      exemplars_received_(
          counter(registry, "rwgate_received_exemplars_total", "Exemplars accepted at ingest.")),
      metadata_received_(counter(registry, "rwgate_received_metadata_total",
                                 "Metric metadata entries accepted at ingest.")),
      duration_(prometheus::BuildHistogram()
                    .Name("rwgate_ingest_request_duration_seconds")
                    .Help("Time to handle a /api/v1/write request, from a read body to the answer.")
                    .Register(registry)
                    .Add({}, prometheus::Histogram::BucketBoundaries{0.0001, 0.00025, 0.0005, 0.001,
                                                                     0.0025, 0.005, 0.01, 0.025,
                                                                     0.05, 0.1, 0.25, 1})),
      cache_hits_(counter(registry, "rwgate_relabel_cache_hits_total",
                          "Series whose label pipeline result came from the cache.")),
      cache_misses_(counter(registry, "rwgate_relabel_cache_misses_total",
                            "Series whose label pipeline result was computed (and cached).")),
      cache_evictions_(counter(registry, "rwgate_relabel_cache_evictions_total",
                               "Cache entries evicted to make room (relabel.cache_max_entries).")),
      enrich_hits_(counter(registry, "rwgate_enrich_hits_total",
                           "Series whose instance was found in the discovery cache.")),
      enrich_misses_(counter(registry, "rwgate_enrich_misses_total",
                             "Series whose instance was not found in the discovery cache.")),
      cache_entries_(prometheus::BuildGauge()
                         .Name("rwgate_relabel_cache_entries")
                         .Help("Entries in the per-series result caches of all ingest threads.")
                         .Register(registry)
                         .Add({})),
      late_samples_(counter(registry, "rwgate_staleness_late_samples_dropped_total",
                            "Samples dropped because their instance is gone "
                            "(staleness.drop_late_samples).")),
      ha_dropped_series_(counter(registry, "rwgate_ha_deduplicated_series_total",
                                 "Series of HA replicas that are not elected, dropped (the "
                                 "request is still answered 2xx).")),
      ha_dropped_samples_(counter(registry, "rwgate_ha_deduplicated_samples_total",
                                  "Samples and histogram samples of those series.")),
      ha_no_cluster_(counter(registry, "rwgate_ha_series_without_cluster_total",
                             "Series with the replica label but no cluster label, passed on "
                             "untouched.")),
      ha_failovers_(counter(registry, "rwgate_ha_failovers_total",
                            "Elections of another replica after the elected one was silent for "
                            "ha_dedup.failover_timeout.")),
      ha_evicted_(counter(registry, "rwgate_ha_clusters_evicted_total",
                          "HA clusters forgotten to stay within ha_dedup.max_clusters (the one "
                          "idle longest first).")) {
  auto& requests = prometheus::BuildCounter()
                       .Name("rwgate_ingest_requests_total")
                       .Help("Requests to /api/v1/write, by HTTP status code.")
                       .Register(registry);
  for (size_t i = 0; i < std::size(kCodes); ++i)
    requests_[i] = &requests.Add({{"code", std::to_string(kCodes[i])}});
  requests_[std::size(kCodes)] = &requests.Add({{"code", "other"}});
  auto& lb_series = prometheus::BuildCounter()
                        .Name("rwgate_lb_series_total")
                        .Help(
                            "Series of targets judged to be load balancers, by what was done "
                            "with them (annotated, dropped, passed), one per series per request.")
                        .Register(registry);
  lb_series_[static_cast<size_t>(lb::LbAction::kAnnotate)] =
      &lb_series.Add({{"action", "annotated"}});
  lb_series_[static_cast<size_t>(lb::LbAction::kDrop)] = &lb_series.Add({{"action", "dropped"}});
  lb_series_[static_cast<size_t>(lb::LbAction::kPass)] = &lb_series.Add({{"action", "passed"}});
  auto& rejected = prometheus::BuildCounter()
                       .Name("rwgate_rejected_requests_total")
                       .Help("Requests to /api/v1/write refused, by reason.")
                       .Register(registry);
  for (size_t i = 0; i < rejected_.size(); ++i)
    rejected_[i] = &rejected.Add({{"reason", kReasonNames[i]}});
}

prometheus::Counter& IngestHandler::requests_by_code(int status) {
  for (size_t i = 0; i < std::size(kCodes); ++i) {
    if (kCodes[i] == status) return *requests_[i];
  }
  return *requests_[std::size(kCodes)];
}

void IngestHandler::count_rejected(RejectReason reason, int status) {
  rejected_[static_cast<size_t>(reason)]->Increment();
  requests_by_code(status).Increment();
}

void IngestHandler::reject(HttpResponse& res, Rejection r) {
  count_rejected(r.reason, r.status);
  res.result(static_cast<http::status>(r.status));
  if (!r.allow.empty()) res.set(http::field::allow, r.allow);
  if (!r.retry_after.empty()) res.set(http::field::retry_after, r.retry_after);
  res.set(http::field::content_type, "text/plain; charset=utf-8");
  r.message.push_back('\n');
  res.body() = std::move(r.message);
}

// Every series through the label pipeline (cached), or as received when there are no rules.
void IngestHandler::run_labels(const IngestSnapshot& snap,
                               const discovery::DiscoverySnapshot* fleet,
                               const lb::LbVerdicts* verdicts, pipeline::WorkerContext& ctx) {
  const proto::Batch& batch = ctx.batch;
  if (snap.rules.empty()) {
    ctx.as_received.clear();
    for (size_t i = 0; i < batch.series.size(); ++i) {
      const proto::Series& s = batch.series[i];
      const auto labels = batch.labels_of(s);
      ctx.as_received.push_back(
          {static_cast<uint32_t>(i), labels, proto::hash_labels(labels), s.raw_labels});
    }
    return;
  }
  pipeline::PipelineStats& stats = ctx.stats;
  stats.hits = stats.misses = stats.evictions = stats.enrich_hits = stats.enrich_misses = 0;
  const size_t before = ctx.pipeline.size();
  ctx.pipeline.run(snap.rules, fleet, batch, ctx.per_sink, stats, verdicts);
  cache_hits_.Increment(static_cast<double>(stats.hits));
  cache_misses_.Increment(static_cast<double>(stats.misses));
  cache_evictions_.Increment(static_cast<double>(stats.evictions));
  cache_entries_.Increment(static_cast<double>(ctx.pipeline.size()) - static_cast<double>(before));
}

// What an accepted request changes beyond the sinks. Outcomes per series count once, for
// accepted requests only (a 503 is retried).
void IngestHandler::account(const IngestSnapshot& snap, const discovery::DiscoverySnapshot* fleet,
                            pipeline::WorkerContext& ctx) {
  const proto::Batch& batch = ctx.batch;
  const pipeline::PipelineStats& stats = ctx.stats;
  if (!snap.rules.empty()) {
    enrich_hits_.Increment(static_cast<double>(stats.enrich_hits));
    enrich_misses_.Increment(static_cast<double>(stats.enrich_misses));
    for (size_t s = 0; s < snap.sinks.size(); ++s) {
      if (stats.dropped_per_sink[s] > 0)
        snap.relabel_dropped[s]->Increment(static_cast<double>(stats.dropped_per_sink[s]));
    }
    if (snap.lb != nullptr) {
      // One lock on the detector per request, with everything the request says.
      ctx.lb_evidence.collect(snap.rules.lb, batch, fleet, stats.lb_flagged);
      for (size_t a = 0; a < 3; ++a) {
        if (const uint64_t n = ctx.lb_evidence.by_action()[a]; n > 0)
          lb_series_[a]->Increment(static_cast<double>(n));
      }
      snap.lb->observe(ctx.lb_evidence.observations(), ctx.lb_evidence.flagged());
    }
    if (fleet != nullptr) {
      if (stats.late_samples > 0) late_samples_.Increment(static_cast<double>(stats.late_samples));
      // After the enqueue: a marker taken from the tracker then always follows the sample.
      if (snap.track_series) {
        ctx.tracker.track({batch, ctx.per_sink, snap.sink_ids, stats.records, fleet->generation(),
                           clock_.steady_seconds()});
      }
    }
  }
  samples_received_.Increment(static_cast<double>(batch.samples.size()));
  histograms_received_.Increment(static_cast<double>(batch.histograms.size()));
  exemplars_received_.Increment(static_cast<double>(batch.exemplars.size()));
  size_t metadata = batch.metadata.size();  // RW 1.0: per family; RW 2.0: per series
  for (const proto::Series& series : batch.series) metadata += series.metadata.present ? 1 : 0;
  metadata_received_.Increment(static_cast<double>(metadata));
}

void IngestHandler::answer(proto::Protocol protocol, const proto::Batch& batch, HttpResponse& res) {
  requests_by_code(204).Increment();
  res.result(http::status::no_content);
  if (protocol == proto::Protocol::kV2) {
    res.set("X-Prometheus-Remote-Write-Samples-Written", std::to_string(batch.samples.size()));
    res.set("X-Prometheus-Remote-Write-Histograms-Written",
            std::to_string(batch.histograms.size()));
    res.set("X-Prometheus-Remote-Write-Exemplars-Written", std::to_string(batch.exemplars.size()));
  }
}

void IngestHandler::count_ha(const pipeline::HaDedupStats& stats) {
  if (stats.dropped_series > 0) {
    ha_dropped_series_.Increment(static_cast<double>(stats.dropped_series));
    ha_dropped_samples_.Increment(static_cast<double>(stats.dropped_samples));
  }
  if (stats.no_cluster > 0) ha_no_cluster_.Increment(static_cast<double>(stats.no_cluster));
  if (stats.failovers > 0) ha_failovers_.Increment(static_cast<double>(stats.failovers));
  if (stats.evicted > 0) ha_evicted_.Increment(static_cast<double>(stats.evicted));
}

void IngestHandler::handle(const HttpRequest& req, HttpResponse& res,
                           pipeline::WorkerContext& ctx) {
  struct ObserveOnExit {
    prometheus::Histogram& h;
    std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();
    ~ObserveOnExit() {
      h.Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
  } observe{duration_};

  proto::Protocol protocol = proto::Protocol::kV1;
  if (auto r = check_request(req, protocol)) return reject(res, std::move(*r));
  const std::shared_ptr<const IngestSnapshot> snap = snapshot_.load();
  if (auto r = decompress(req.body(), snap->max_decoded_bytes, ctx.decoded))
    return reject(res, std::move(*r));
  if (auto r = decode(protocol, ctx)) return reject(res, std::move(*r));
  ctx.recent.offer(ctx.batch);  // for the trace page, before any stage edits the labels
  if (snap->sinks.empty()) {
    return reject(res, {503, RejectReason::kNoSink,
                        "no sink is configured; start rwgate with --sink.url or a config file "
                        "with sinks",
                        "30"});
  }
  // First, on the labels as sent: the tenant, then HA pairs, told apart by them.
  if (snap->tenants != nullptr) {
    if (auto r = resolve_tenants(*snap, ctx)) return reject(res, std::move(*r));
  }
  if (snap->ha != nullptr) count_ha(snap->ha->dedup(ctx.batch));
  pipeline::LimitsOutcome limited;
  if (snap->limits != nullptr) {
    limited = snap->limits->apply(ctx.batch);
    if (limited.throttled) {
      return reject(res, {429, RejectReason::kRateLimited, std::move(*limited.throttled),
                          std::to_string(limited.retry_after_s)});
    }
    if (limited.too_large)
      return reject(res, {400, RejectReason::kRateLimited, std::move(*limited.too_large)});
  }
  // Held until the sinks have the batch: the direct path hands them views into it.
  std::shared_ptr<const discovery::DiscoverySnapshot> fleet;
  std::shared_ptr<const lb::LbVerdicts> verdicts;
  if (!snap->rules.empty()) {
    if (snap->discovery != nullptr) fleet = snap->discovery->cache().snapshot();
    if (snap->lb != nullptr) verdicts = snap->lb->verdicts();
  }
  run_labels(*snap, fleet.get(), verdicts.get(), ctx);
  // Fleet coverage: what arrived was scraped, whether the sinks take it now or the sender
  // sends it again after a 503 (marking twice is harmless).
  if (snap->mark_seen && fleet != nullptr)
    coverage::mark_seen(*fleet, ctx.stats.records, clock_.wall_ms() / 1000);
  if (snap->tenants != nullptr && several_tenants(ctx.batch)) {
    if (snap->rules.empty()) {
      ctx.tenant_grouping.group(ctx.batch, ctx.as_received);
    } else {
      for (auto& series : ctx.per_sink) ctx.tenant_grouping.group(ctx.batch, series);
    }
  }
  const std::span<const std::vector<proto::SeriesOut>> per_sink =
      snap->rules.empty() ? std::span<const std::vector<proto::SeriesOut>>() : ctx.per_sink;
  if (auto r =
          hand_off(snap->sinks, ctx.batch, ctx.decoded.size() + 64, per_sink, ctx.as_received)) {
    if (snap->limits != nullptr) snap->limits->refund(limited);  // the retry pays, not this
    return reject(res, std::move(*r));
  }
  account(*snap, fleet.get(), ctx);
  if (snap->limits != nullptr) snap->limits->count_accepted(limited.accepted);
  // Series over a limit: the rest went on; the answer names the first refusal.
  if (limited.refused)
    return reject(res, {400, RejectReason::kLimits, std::move(*limited.refused)});
  answer(protocol, ctx.batch, res);
}

}  // namespace rwgate::proxy
