#include "proxy/ingest.h"

#include <snappy.h>

#include <boost/beast/http.hpp>
#include <chrono>
#include <optional>

#include "proto/decode.h"
#include "proto/hash.h"

namespace rwgate::proxy {

namespace http = boost::beast::http;

namespace {

constexpr const char* kReasonNames[] = {"method",         "content_encoding", "content_type",
                                        "body_too_large", "snappy",           "decoded_too_large",
                                        "protobuf",       "labels",           "symbols",
                                        "queue_full",     "no_sink",          "buffer_error"};
static_assert(std::size(kReasonNames) == static_cast<size_t>(RejectReason::kCount));

constexpr int kCodes[] = {204, 400, 405, 413, 415, 503};

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Reads the protocol from Content-Type, as the RW 2.0 spec negotiates it:
//   (absent) | application/x-protobuf                       -> RW 1.0
//   application/x-protobuf;proto=prometheus.WriteRequest    -> RW 1.0
//   application/x-protobuf;proto=io.prometheus.write.v2.Request -> RW 2.0
std::optional<proto::Protocol> protocol_of(std::string_view content_type, std::string& why) {
  if (content_type.empty()) return proto::Protocol::kV1;
  const std::string ct = lower(content_type);
  std::string_view rest = ct;
  const size_t semi = rest.find(';');
  std::string_view media = rest.substr(0, semi);
  while (!media.empty() && media.back() == ' ') media.remove_suffix(1);
  if (media != "application/x-protobuf") {
    why = "unsupported Content-Type \"" + std::string(content_type) +
          "\"; want application/x-protobuf";
    return std::nullopt;
  }
  if (semi == std::string_view::npos) return proto::Protocol::kV1;
  std::string_view params = rest.substr(semi + 1);
  while (!params.empty()) {
    const size_t next = params.find(';');
    std::string_view p = params.substr(0, next);
    while (!p.empty() && p.front() == ' ') p.remove_prefix(1);
    while (!p.empty() && p.back() == ' ') p.remove_suffix(1);
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

RejectReason classify(const std::string& reason) {
  if (reason.starts_with("invalid protobuf")) return RejectReason::kProtobuf;
  if (reason.starts_with("invalid labels")) return RejectReason::kLabels;
  return RejectReason::kSymbols;
}

// Per-thread scratch: a connection stays on one thread and a request is handled to the end
// before the next, so these are reused without locks or per-request allocation.
struct Scratch {
  std::string decoded;
  proto::Decoder decoder;
  proto::Batch batch;
  relabel::SeriesCache cache;
  relabel::PipelineStats stats;
  std::vector<proto::SeriesOut> as_received;
  std::vector<std::vector<proto::SeriesOut>> per_sink;
};

}  // namespace

IngestHandler::IngestHandler(prometheus::Registry& registry)
    : requests_family_(prometheus::BuildCounter()
                           .Name("rwgate_ingest_requests_total")
                           .Help("Requests to /api/v1/write, by HTTP status code.")
                           .Register(registry)),
      samples_received_(prometheus::BuildCounter()
                            .Name("rwgate_received_samples_total")
                            .Help("Float samples accepted at ingest.")
                            .Register(registry)
                            .Add({})),
      histograms_received_(prometheus::BuildCounter()
                               .Name("rwgate_received_histograms_total")
                               .Help("Native histogram samples accepted at ingest.")
                               .Register(registry)
                               .Add({})),
      exemplars_received_(prometheus::BuildCounter()
                              .Name("rwgate_received_exemplars_total")
                              .Help("Exemplars accepted at ingest.")
                              .Register(registry)
                              .Add({})),
      metadata_received_(prometheus::BuildCounter()
                             .Name("rwgate_received_metadata_total")
                             .Help("Metric metadata entries accepted at ingest.")
                             .Register(registry)
                             .Add({})),
      duration_(prometheus::BuildHistogram()
                    .Name("rwgate_ingest_request_duration_seconds")
                    .Help("Time to handle a /api/v1/write request, from a read body to the answer.")
                    .Register(registry)
                    .Add({}, prometheus::Histogram::BucketBoundaries{0.0001, 0.00025, 0.0005, 0.001,
                                                                     0.0025, 0.005, 0.01, 0.025,
                                                                     0.05, 0.1, 0.25, 1})),
      cache_hits_(prometheus::BuildCounter()
                      .Name("rwgate_relabel_cache_hits_total")
                      .Help("Series whose label pipeline result came from the cache.")
                      .Register(registry)
                      .Add({})),
      cache_misses_(prometheus::BuildCounter()
                        .Name("rwgate_relabel_cache_misses_total")
                        .Help("Series whose label pipeline result was computed (and cached).")
                        .Register(registry)
                        .Add({})),
      cache_evictions_(prometheus::BuildCounter()
                           .Name("rwgate_relabel_cache_evictions_total")
                           .Help("Cache entries evicted to make room (relabel.cache_max_entries).")
                           .Register(registry)
                           .Add({})),
      enrich_hits_(prometheus::BuildCounter()
                       .Name("rwgate_enrich_hits_total")
                       .Help("Series whose instance was found in the discovery cache.")
                       .Register(registry)
                       .Add({})),
      enrich_misses_(prometheus::BuildCounter()
                         .Name("rwgate_enrich_misses_total")
                         .Help("Series whose instance was not found in the discovery cache.")
                         .Register(registry)
                         .Add({})),
      cache_entries_(prometheus::BuildGauge()
                         .Name("rwgate_relabel_cache_entries")
                         .Help("Entries in the per-series result caches of all ingest threads.")
                         .Register(registry)
                         .Add({})),
      late_samples_(prometheus::BuildCounter()
                        .Name("rwgate_staleness_late_samples_dropped_total")
                        .Help("Samples dropped because their instance is gone "
                              "(staleness.drop_late_samples).")
                        .Register(registry)
                        .Add({})) {
  for (size_t i = 0; i < std::size(kCodes); ++i) {
    requests_[i] = &requests_family_.Add({{"code", std::to_string(kCodes[i])}});
  }
  auto& lb_series = prometheus::BuildCounter()
                        .Name("rwgate_lb_series_total")
                        .Help(
                            "Series of targets judged to be load balancers, by what was done "
                            "with them (annotated, dropped, passed), one per series per request.")
                        .Register(registry);
  lb_series_[static_cast<size_t>(relabel::LbAction::kAnnotate)] =
      &lb_series.Add({{"action", "annotated"}});
  lb_series_[static_cast<size_t>(relabel::LbAction::kDrop)] =
      &lb_series.Add({{"action", "dropped"}});
  lb_series_[static_cast<size_t>(relabel::LbAction::kPass)] =
      &lb_series.Add({{"action", "passed"}});
  requests_[6] = &requests_family_.Add({{"code", "other"}});
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
  return *requests_[6];
}

relabel::SeriesTracker& IngestHandler::tracker() {
  // A connection stays on its thread, so a thread's tracker sees its senders' series.
  thread_local const IngestHandler* owner = nullptr;
  thread_local relabel::SeriesTracker* mine = nullptr;
  if (owner != this) {
    std::lock_guard lock(trackers_mu_);
    trackers_.push_back(std::make_unique<relabel::SeriesTracker>());
    mine = trackers_.back().get();
    owner = this;
  }
  return *mine;
}

std::vector<relabel::SeriesTracker*> IngestHandler::trackers() {
  std::lock_guard lock(trackers_mu_);
  std::vector<relabel::SeriesTracker*> out;
  for (auto& t : trackers_) out.push_back(t.get());
  return out;
}

void IngestHandler::count_rejected(RejectReason reason, int status) {
  rejected_[static_cast<size_t>(reason)]->Increment();
  requests_by_code(status).Increment();
}

void IngestHandler::reject(HttpResponse& res, int status, RejectReason reason,
                           std::string message) {
  count_rejected(reason, status);
  res.result(static_cast<http::status>(status));
  res.set(http::field::content_type, "text/plain; charset=utf-8");
  message.push_back('\n');
  res.body() = std::move(message);
}

// Hands the detector this request's identity/counter samples and the series of flagged
// targets: one lock per request, and only when there is something to say.
void IngestHandler::observe_load_balancers(const IngestSnapshot& snap, const proto::Batch& batch,
                                           const discovery::DiscoverySnapshot* fleet,
                                           std::span<const relabel::LbFlag> flagged) {
  thread_local std::vector<relabel::LbObservation> observations;
  thread_local std::vector<relabel::LbFlaggedSeries> series;
  thread_local std::vector<std::string> reasons;  // for load balancers discovery listed
  observations.clear();
  series.clear();
  reasons.clear();
  relabel::collect_lb_observations(snap.rules.lb, batch, observations);
  uint64_t by_action[3] = {0, 0, 0};
  reasons.reserve(flagged.size());  // views into it are taken as it fills
  for (const relabel::LbFlag& f : flagged) {
    ++by_action[static_cast<size_t>(f.action)];
    const auto labels = batch.labels_of(batch.series[f.index]);
    const std::string_view instance = proto::label_value(labels, "instance");
    std::string_view reason, asg;
    if (f.name_pattern >= 0) {
      reason = snap.rules.lb.names->description(f.name_pattern);
    } else if (f.name_pattern == relabel::kLbDiscovered && fleet != nullptr) {
      if (const auto* lb = fleet->load_balancer(discovery::host_of(instance))) {
        reasons.push_back("the DNS name of " + lb->type + " load balancer " + lb->name +
                          ", which the aws discovery source lists");
        reason = reasons.back();
        if (!lb->asgs.empty()) asg = lb->asgs.front();
      }
    }
    series.push_back(relabel::LbFlaggedSeries{proto::label_value(labels, "job"), instance,
                                              proto::hash_labels(labels), reason, asg});
  }
  for (size_t a = 0; a < 3; ++a) {
    if (by_action[a] > 0) lb_series_[a]->Increment(static_cast<double>(by_action[a]));
  }
  snap.lb->observe(observations, series);
}

void IngestHandler::handle(const HttpRequest& req, HttpResponse& res) {
  const auto started = std::chrono::steady_clock::now();
  struct ObserveOnExit {
    prometheus::Histogram& h;
    std::chrono::steady_clock::time_point t0;
    ~ObserveOnExit() {
      h.Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
  } observe{duration_, started};

  if (req.method() != http::verb::post) {
    res.set(http::field::allow, "POST");
    return reject(res, 405, RejectReason::kMethod, "method not allowed; use POST");
  }
  if (auto it = req.find(http::field::content_encoding);
      it != req.end() && lower(it->value()) != "snappy") {
    return reject(res, 415, RejectReason::kContentEncoding,
                  "unsupported Content-Encoding \"" + std::string(it->value()) + "\"; want snappy");
  }
  std::string why;
  const auto protocol = protocol_of(req[http::field::content_type], why);
  if (!protocol) return reject(res, 415, RejectReason::kContentType, why);

  const std::shared_ptr<const IngestSnapshot> snap = snapshot_.load();
  const std::string& body = req.body();
  size_t decoded_len = 0;
  if (!snappy::GetUncompressedLength(body.data(), body.size(), &decoded_len)) {
    return reject(res, 400, RejectReason::kSnappy,
                  "bad snappy: cannot read the uncompressed length");
  }
  // Refuse before allocating: the header alone can claim any size.
  if (decoded_len > snap->max_decoded_bytes) {
    return reject(res, 400, RejectReason::kDecodedTooLarge,
                  "decoded size " + std::to_string(decoded_len) + " bytes is over the limit of " +
                      std::to_string(snap->max_decoded_bytes) + " bytes");
  }
  thread_local Scratch scratch;
  scratch.decoded.resize(decoded_len);
  if (!snappy::RawUncompress(body.data(), body.size(), scratch.decoded.data())) {
    return reject(res, 400, RejectReason::kSnappy, "bad snappy: corrupt compressed data");
  }
  proto::Batch& batch = scratch.batch;
  if (Status st = scratch.decoder.decode(*protocol, scratch.decoded, batch); !st) {
    return reject(res, 400, classify(st.reason()), st.reason());
  }

  if (snap->sinks.empty()) {
    res.set(http::field::retry_after, "30");
    return reject(
        res, 503, RejectReason::kNoSink,
        "no sink is configured; start rwgate with --sink.url or a config file with sinks");
  }
  // Labels: every series through the rules (cached), or as received when there are none.
  const size_t nsinks = snap->sinks.size();
  // Held until the sinks have the batch: direct enrichment hands them views into it.
  std::shared_ptr<const discovery::DiscoverySnapshot> fleet;
  std::shared_ptr<const relabel::LbVerdicts> verdicts;
  if (snap->rules.empty()) {
    scratch.as_received.clear();
    for (size_t i = 0; i < batch.series.size(); ++i) {
      const proto::Series& s = batch.series[i];
      const auto labels = batch.labels_of(s);
      scratch.as_received.push_back(
          {static_cast<uint32_t>(i), labels, proto::hash_labels(labels), s.raw_labels});
    }
  } else {
    relabel::PipelineStats& stats = scratch.stats;
    stats.hits = stats.misses = stats.evictions = stats.enrich_hits = stats.enrich_misses = 0;
    const size_t before = scratch.cache.size();
    if (snap->discovery != nullptr) fleet = snap->discovery->cache().snapshot();
    if (snap->lb != nullptr) verdicts = snap->lb->verdicts();
    scratch.cache.run(snap->rules, fleet.get(), batch, scratch.per_sink, stats, verdicts.get());
    cache_hits_.Increment(static_cast<double>(stats.hits));
    cache_misses_.Increment(static_cast<double>(stats.misses));
    cache_evictions_.Increment(static_cast<double>(stats.evictions));
    cache_entries_.Increment(static_cast<double>(scratch.cache.size()) -
                             static_cast<double>(before));
  }
  auto series_for = [&](size_t s) -> std::span<const proto::SeriesOut> {
    if (snap->rules.empty()) return scratch.as_received;
    return scratch.per_sink[s];
  };

  // Every sink must take the batch, or none does: reserve everywhere first.
  const size_t estimate = decoded_len + 64;
  size_t reserved = 0;
  for (; reserved < snap->sinks.size(); ++reserved) {
    if (!snap->sinks[reserved]->try_reserve(estimate)) break;
  }
  if (reserved < snap->sinks.size()) {
    const std::string full = snap->sinks[reserved]->name();
    for (size_t i = 0; i < reserved; ++i) snap->sinks[i]->cancel_reservation(estimate);
    res.set(http::field::retry_after, "5");
    return reject(
        res, 503, RejectReason::kQueueFull,
        "sink \"" + full + "\" queue is full (or its buffer is unavailable); retry later");
  }
  for (size_t s = 0; s < nsinks; ++s) {
    if (Status st = snap->sinks[s]->enqueue(batch, series_for(s), estimate); !st) {
      // Sinks before this one took the data: a retry duplicates it there (at least once).
      for (size_t t = s + 1; t < nsinks; ++t) snap->sinks[t]->cancel_reservation(estimate);
      res.set(http::field::retry_after, "5");
      return reject(
          res, 503, RejectReason::kBufferError,
          "sink \"" + snap->sinks[s]->name() + "\" cannot buffer the data: " + st.reason());
    }
  }

  // Outcomes per series count once, for accepted requests only (a 503 is retried).
  if (!snap->rules.empty()) {
    enrich_hits_.Increment(static_cast<double>(scratch.stats.enrich_hits));
    enrich_misses_.Increment(static_cast<double>(scratch.stats.enrich_misses));
    for (size_t s = 0; s < nsinks; ++s) {
      if (scratch.stats.dropped_per_sink[s] > 0) {
        snap->relabel_dropped[s]->Increment(static_cast<double>(scratch.stats.dropped_per_sink[s]));
      }
    }
  }
  if (snap->lb != nullptr && !snap->rules.empty())
    observe_load_balancers(*snap, batch, fleet.get(), scratch.stats.lb_flagged);
  if (!snap->rules.empty() && fleet != nullptr) {
    if (scratch.stats.late_samples > 0)
      late_samples_.Increment(static_cast<double>(scratch.stats.late_samples));
    // After the enqueue: a marker taken from the tracker then always follows the sample.
    if (snap->track_series) {
      tracker().track({batch, scratch.per_sink, snap->sink_ids, scratch.stats.records,
                       fleet->generation(), relabel::tracker_now_s()});
    }
  }

  samples_received_.Increment(static_cast<double>(batch.samples.size()));
  histograms_received_.Increment(static_cast<double>(batch.histograms.size()));
  exemplars_received_.Increment(static_cast<double>(batch.exemplars.size()));
  size_t metadata = batch.metadata.size();  // RW 1.0: per family; RW 2.0: per series
  for (const proto::Series& series : batch.series) metadata += series.metadata.present ? 1 : 0;
  metadata_received_.Increment(static_cast<double>(metadata));
  requests_by_code(204).Increment();
  res.result(http::status::no_content);
  if (*protocol == proto::Protocol::kV2) {
    res.set("X-Prometheus-Remote-Write-Samples-Written", std::to_string(batch.samples.size()));
    res.set("X-Prometheus-Remote-Write-Histograms-Written",
            std::to_string(batch.histograms.size()));
    res.set("X-Prometheus-Remote-Write-Exemplars-Written", std::to_string(batch.exemplars.size()));
  }
}

}  // namespace rwgate::proxy
