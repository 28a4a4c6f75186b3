#include "coverage/coverage_sender.h"

#include <cstring>

#include "base/log.h"
#include "coverage/coverage.h"
#include "proto/hash.h"

namespace rwgate::coverage {

namespace {

constexpr std::string_view kMonitored = "rwgate_fleet_instance_monitored";
constexpr std::string_view kInstances = "rwgate_fleet_instances";

prometheus::Gauge& gauge(prometheus::Registry& registry, const char* name, const char* help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(registry).Add({});
}

// "name\xffvalue\xfe..." : equal keys, equal label sets.
std::string key_of(const std::vector<std::pair<std::string, std::string>>& labels) {
  std::string key;
  for (const auto& [n, v] : labels) {
    key += n;
    key += '\xff';
    key += v;
    key += '\xfe';
  }
  return key;
}

// One request: a sample (or marker) per series; the labels are views into the caller's
// strings, which outlive the enqueue.
struct RoundBatch {
  proto::Batch batch;
  std::vector<proto::SeriesOut> outs;
  size_t bytes = 0;

  void add(const std::vector<std::pair<std::string, std::string>>& labels, double value,
           int64_t ts_ms) {
    proto::Series s;
    s.labels_begin = static_cast<uint32_t>(batch.labels.size());
    s.labels_count = static_cast<uint32_t>(labels.size());
    s.samples_begin = static_cast<uint32_t>(batch.samples.size());
    s.samples_count = 1;
    for (const auto& [n, v] : labels) {
      batch.labels.push_back({n, v});
      bytes += n.size() + v.size() + 4;
    }
    batch.samples.push_back({value, ts_ms});
    batch.series.push_back(s);
    bytes += 16;
  }
  void finish() {
    for (uint32_t i = 0; i < batch.series.size(); ++i) {
      const auto labels = batch.labels_of(batch.series[i]);
      outs.push_back({i, labels, proto::hash_labels(labels)});
    }
  }
};

}  // namespace

CoverageSender::CoverageSender(std::shared_ptr<lb::LbDetector> lb, prometheus::Registry& registry,
                               const Clock& clock)
    : lb_(std::move(lb)),
      clock_(clock),
      started_s_(clock.wall_ms() / 1000),
      samples_sent_(prometheus::BuildCounter()
                        .Name("rwgate_coverage_samples_sent_total")
                        .Help("Coverage samples (rwgate_fleet_*) and their staleness markers "
                              "handed to the sinks.")
                        .Register(registry)
                        .Add({})),
      rounds_refused_(prometheus::BuildCounter()
                          .Name("rwgate_coverage_rounds_not_sent_total")
                          .Help("Coverage rounds a sink did not take (its queue was full, or "
                                "the series got no tenant); the next round is sent instead.")
                          .Register(registry)
                          .Add({})),
      expected_(gauge(registry, "rwgate_coverage_expected_instances",
                      "Instances discovery lists that are expected to report (coverage).")),
      unmonitored_(gauge(registry, "rwgate_coverage_unmonitored_instances",
                         "Expected instances no series arrived for within coverage.window.")) {}

CoverageSender::~CoverageSender() { stop(); }

void CoverageSender::configure(CoverageSetup setup) {
  {
    std::lock_guard lock(mu_);
    setup_ = std::make_shared<const CoverageSetup>(std::move(setup));
    reconfigured_ = true;
  }
  cv_.notify_all();
}

void CoverageSender::start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
}

void CoverageSender::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void CoverageSender::run() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    const auto interval = setup_->config.interval;
    cv_.wait_for(lock, interval, [this] { return stopping_ || reconfigured_; });
    if (stopping_) break;
    reconfigured_ = false;
    lock.unlock();
    round();
    lock.lock();
  }
}

std::map<std::string, CoverageSender::Point> CoverageSender::series_of(const CoverageSetup& setup,
                                                                       int64_t now_s) {
  std::map<std::string, Point> out;
  if (!setup.config.enabled || setup.discovery == nullptr) {
    expected_.Set(0);
    unmonitored_.Set(0);
    return out;
  }
  const auto fleet = setup.discovery->cache().snapshot();
  const std::vector<lb::LbTargetReport> lb_targets = lb_->report();
  const CoverageReport report = compute_coverage(setup.config, *fleet, lb_targets, now_s, started_s_);
  expected_.Set(static_cast<double>(report.expected));
  unmonitored_.Set(static_cast<double>(report.expected - report.monitored));
  if (!setup.config.emit_series) return out;
  auto put = [&](Labels labels, double value) {
    std::erase_if(labels, [](const auto& l) { return l.second.empty(); });
    std::sort(labels.begin(), labels.end());
    std::string key = key_of(labels);
    out.insert_or_assign(std::move(key), Point{std::move(labels), value});
  };
  for (const GroupCoverage& g : report.groups) {
    for (const InstanceCoverage& c : g.instances) {
      put({{"__name__", std::string(kMonitored)},
           {"asg", g.asg},
           {"availability_zone", c.record->availability_zone},
           {"instance_id", c.id()},
           {"lifecycle_state", c.record->lifecycle_state}},
          c.monitored() ? 1 : 0);
    }
    const double monitored = static_cast<double>(g.monitored);
    put({{"__name__", std::string(kInstances)}, {"asg", g.asg}, {"monitored", "true"}}, monitored);
    put({{"__name__", std::string(kInstances)}, {"asg", g.asg}, {"monitored", "false"}},
        static_cast<double>(g.instances.size()) - monitored);
  }
  return out;
}

bool CoverageSender::send(const CoverageSetup& setup, sinks::Sink& sink,
                          const std::map<std::string, Point>& current,
                          const std::map<std::string, Labels>& sent, int64_t now_ms) {
  RoundBatch b;
  for (const auto& [key, p] : current) b.add(p.labels, p.value, now_ms);
  double stale;
  std::memcpy(&stale, &proto::kStaleNaNBits, sizeof stale);
  for (const auto& [key, labels] : sent) {
    if (!current.contains(key)) b.add(labels, stale, now_ms);
  }
  if (b.batch.series.empty()) return true;
  if (setup.tenancy) {
    pipeline::TenantResolver resolver;
    if (auto refused =
            resolver.resolve(setup.tenancy_config, *setup.tenant_names, "", b.batch)) {
      if (!warned_tenant_) {  // once: it is the config, every round would say the same
        log::warn("coverage series get no tenant; set tenancy.default to send them",
                  {{"error", refused->message}});
        warned_tenant_ = true;
      }
      return false;
    }
  }
  b.finish();
  if (!sink.try_reserve(b.batch, b.outs, b.bytes)) return false;
  if (!sink.enqueue(b.batch, b.outs, b.bytes)) return false;
  samples_sent_.Increment(static_cast<double>(b.outs.size()));
  return true;
}

void CoverageSender::round() {
  std::shared_ptr<const CoverageSetup> setup;
  {
    std::lock_guard lock(mu_);
    setup = setup_;
  }
  std::lock_guard lock(round_mu_);
  const int64_t now_ms = clock_.wall_ms();
  const std::map<std::string, Point> current = series_of(*setup, now_ms / 1000);
  std::map<std::string, std::map<std::string, Labels>> next;
  for (const std::shared_ptr<sinks::Sink>& sink : setup->sinks) {
    std::map<std::string, Labels>& sent = sent_[sink->name()];
    if (!send(*setup, *sink, current, sent, now_ms)) {
      rounds_refused_.Increment();
      next[sink->name()] = std::move(sent);  // its markers wait for the next round
      continue;
    }
    std::map<std::string, Labels>& now_sent = next[sink->name()];
    for (const auto& [key, p] : current) now_sent.emplace(key, p.labels);
  }
  sent_ = std::move(next);  // a sink no longer selected: its series end by lookback
}

std::string CoverageSender::json() const {
  std::shared_ptr<const CoverageSetup> setup;
  {
    std::lock_guard lock(mu_);
    setup = setup_;
  }
  CoverageReport report;
  report.at_s = clock_.wall_ms() / 1000;
  if (setup->config.enabled && setup->discovery != nullptr) {
    const auto fleet = setup->discovery->cache().snapshot();
    report = compute_coverage(setup->config, *fleet, lb_->report(), report.at_s, started_s_);
  }
  return coverage_json(setup->config, report);
}

}  // namespace rwgate::coverage
