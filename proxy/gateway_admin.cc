// The gateway's admin endpoints: the discovery cache and the load-balancer verdicts as
// JSON (and the gauges /metrics refreshes from them), EventBridge events in, and the
// status page's view of everything the gateway runs. Routed by Gateway::route().
#include <boost/beast/http.hpp>

#include "discovery/discovery_json.h"
#include "discovery/sd_export.h"
#include "discovery/sources/eventbridge.h"
#include "lb/fix.h"
#include "lb/report_json.h"
#include "proxy/gateway.h"
#include "proxy/pages.h"

namespace rwgate::proxy {

namespace http = boost::beast::http;

// Instances listed per source, for every source (file and http set theirs as they refresh;
// this also covers the push sources, grpc and eventbridge).
void Gateway::refresh_discovery_gauges() {
  std::shared_ptr<const discovery::Discovery> d;
  {
    std::lock_guard lock(reload_mu_);
    d = discovery_;
  }
  if (!d) return;
  for (const auto& [source, n] : d->cache().listed_per_source()) {
    source_metrics_.instances.Add({{"source", source}}).Set(static_cast<double>(n));
  }
}

void Gateway::refresh_lb_gauges() {
  std::map<std::vector<std::string>, int> counts;
  for (const lb::LbTargetReport& r : lb_detector_->report())
    ++counts[{r.job, r.verdict, r.evidence}];
  std::lock_guard lock(lb_gauges_mu_);
  for (const auto& labels : lb_gauge_labels_) counts.try_emplace(labels, 0);
  for (const auto& [labels, n] : counts) {
    lb_gauge_labels_.insert(labels);
    lb_targets_.Add({{"job", labels[0]}, {"verdict", labels[1]}, {"evidence", labels[2]}}).Set(n);
  }
}

namespace {

// A Host header fit to be written into a URL (no spaces, quotes or YAML punctuation).
bool plain_host(std::string_view host) {
  if (host.empty() || host.size() > 255) return false;
  for (const char c : host) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '-' || c == ':' || c == '[' || c == ']' || c == '_';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

std::vector<lb::LbTargetReport> Gateway::lb_reports(const HttpRequest& req) {
  std::vector<lb::LbTargetReport> reports = lb_detector_->report();
  if (reports.empty()) return reports;
  lb::FixContext ctx;
  const std::shared_ptr<const WebConfig> wc = web_config_ ? web_config_->current() : nullptr;
  const std::string_view host = req[http::field::host];
  // The fix's URL is rwgate as the asker reached it, which Prometheus can reach too.
  ctx.rwgate_url = std::string(wc && wc->tls ? "https://" : "http://") +
                   (plain_host(host) ? std::string(host) : std::string("<rwgate host:port>"));
  ctx.basic_auth = wc && !wc->users.empty();
  const std::shared_ptr<const IngestSnapshot> snap = ingest_.snapshot();
  const auto fleet = snap->discovery ? snap->discovery->cache().snapshot() : nullptr;
  ctx.fleet = fleet.get();
  lb::add_fixes(reports, ctx);
  return reports;
}

void Gateway::lb_targets_json(const HttpRequest& req, HttpResponse& res) {
  res.result(http::status::ok);
  res.set(http::field::content_type, "application/json");
  res.body() = lb::lb_targets_json(lb_reports(req));
}

void Gateway::serve_sd(const HttpRequest& req, HttpResponse& res) {
  auto answer = [&](http::status status, std::string body, bool json) {
    sd_requests_.Add({{"code", std::to_string(static_cast<int>(status))}}).Increment();
    res.result(status);
    res.set(http::field::content_type, json ? "application/json" : "text/plain; charset=utf-8");
    res.body() = std::move(body);
  };
  discovery::SdQuery query;
  if (Status st = discovery::parse_sd_query(req.target(), query); !st)
    return answer(http::status::bad_request, st.reason() + "\n", false);
  const std::shared_ptr<const IngestSnapshot> snap = ingest_.snapshot();
  if (snap->discovery == nullptr)
    return answer(http::status::not_found, "discovery is off: no source is configured\n", false);
  // Before every source has listed once, an empty or partial answer would make
  // Prometheus drop targets it scrapes; an error makes it keep them.
  if (!snap->discovery->listed_once())
    return answer(http::status::service_unavailable,
                  "discovery has not listed every source yet; try again shortly\n", false);
  discovery::SdAnswer a = discovery::sd_targets(*snap->discovery->cache().snapshot(), query);
  answer(static_cast<http::status>(a.status), std::move(a.body), a.status == 200);
}

void Gateway::discovery_json(HttpResponse& res) {
  std::shared_ptr<const discovery::Discovery> d;
  {
    std::lock_guard lock(reload_mu_);
    d = discovery_;
  }
  res.result(http::status::ok);
  res.set(http::field::content_type, "application/json");
  res.body() = discovery::discovery_json(d.get());
}

prometheus::Counter& Gateway::event_counter(std::string_view type, EventOutcome outcome) {
  static constexpr const char* kOutcomes[] = {"applied", "ignored", "malformed", "unauthorized"};
  const auto types = discovery::counted_event_types();
  size_t t = types.size() - 1;  // "other"
  for (size_t i = 0; i < types.size(); ++i) {
    if (types[i] == type) t = i;
  }
  std::lock_guard lock(events_mu_);
  if (event_counters_.empty()) event_counters_.resize(types.size(), {});
  prometheus::Counter*& c = event_counters_[t][static_cast<size_t>(outcome)];
  if (c == nullptr) {
    c = &events_.Add(
        {{"type", std::string(types[t])}, {"result", kOutcomes[static_cast<size_t>(outcome)]}});
  }
  return *c;
}

void Gateway::aws_events(const HttpRequest& req, HttpResponse& res) {
  if (req.method() != http::verb::post) {
    res.set(http::field::allow, "POST");
    return text_response(res, http::status::method_not_allowed, "use POST\n");
  }
  std::shared_ptr<discovery::Discovery> d;
  std::string key;
  {
    std::lock_guard lock(reload_mu_);
    if (!config_.discovery.eventbridge_enabled || !discovery_) {
      return text_response(res, http::status::not_found,
                           "EventBridge events are off (discovery.eventbridge.enabled)\n");
    }
    d = discovery_;
    key = config_.discovery.eventbridge_api_key;
  }
  const std::string_view given = req["X-Api-Key"];
  // Constant-time compare: the key must not leak through response timing.
  if (!key.empty() &&
      (given.size() != key.size() || CRYPTO_memcmp(given.data(), key.data(), key.size()) != 0)) {
    event_counter("other", EventOutcome::kUnauthorized).Increment();
    return text_response(res, http::status::unauthorized, "missing or wrong X-Api-Key\n");
  }
  const discovery::EventResult r = discovery::apply_eventbridge_event(req.body(), d->cache());
  const EventOutcome outcome = r.status == 400 ? EventOutcome::kMalformed
                               : r.applied     ? EventOutcome::kApplied
                                               : EventOutcome::kIgnored;
  event_counter(r.counted_type, outcome).Increment();
  text_response(res, r.status == 400 ? http::status::bad_request : http::status::ok,
                r.message + "\n");
}

StatusView Gateway::status_view(const HttpRequest& req) {
  StatusView v;
  v.now = Clock::system().wall();
  v.started = started_;
  v.config_file = config_path_;
  {
    std::lock_guard lock(status_mu_);
    v.reload = last_reload_;
  }
  const std::shared_ptr<const IngestSnapshot> snap = ingest_.snapshot();
  for (const auto& sink : snap->sinks) sink->status(v.sinks);
  v.sink_rates = status_history_.sink_rates();
  if (snap->discovery != nullptr) {
    const discovery::DiscoveryCache& cache = snap->discovery->cache();
    v.fleet = cache.snapshot();
    v.listed = cache.listed_per_source();
    v.last_success = cache.last_report_per_source();
    v.failures = cache.failures_per_source();
  }
  v.lb_targets = lb_reports(req);
  v.tracking = snap->track_series;
  const staleness::StaleMarkerSender::Summary stale = stale_markers_->summary();
  v.tracked_series = stale.tracked_series;
  v.tracked_instances = stale.tracked_instances;
  v.markers_sent = stale.markers_sent;
  v.tenants = snap->tenants != nullptr ? snap->tenants->size() : 0;
  v.ha_clusters = snap->ha != nullptr ? snap->ha->clusters() : 0;
  v.history = status_history_.points();
  return v;
}

void Gateway::sample_status_loop() {
  std::vector<sinks::SinkStatus> sinks;
  std::unique_lock lock(status_mu_);
  while (!status_stopping_) {
    lock.unlock();
    sinks.clear();
    for (const auto& sink : ingest_.snapshot()->sinks) sink->status(sinks);
    status_history_.sample(Clock::system().wall(), ingest_.samples_received(), sinks);
    lock.lock();
    status_cv_.wait_for(lock, std::chrono::seconds(5), [this] { return status_stopping_; });
  }
}

}  // namespace rwgate::proxy
