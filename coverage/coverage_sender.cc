#include "coverage/coverage_sender.h"

#include <algorithm>
#include <cmath>

#include "base/log.h"
#include "proto/sample_batch.h"

namespace rwgate::coverage {

namespace {

constexpr std::string_view kMonitored = "rwgate_fleet_instance_monitored";
constexpr std::string_view kInstances = "rwgate_fleet_instances";

prometheus::Gauge& gauge(prometheus::Registry& registry, const char* name, const char* help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(registry).Add({});
}

int64_t seconds_of(const Clock& clock) { return clock.wall_ms() / 1000; }

bool selected(const CoverageConfig& config, const std::string& sink) {
  return config.sinks.empty() ||
         std::find(config.sinks.begin(), config.sinks.end(), sink) != config.sinks.end();
}

}  // namespace

CoverageSender::CoverageSender(std::shared_ptr<lb::LbDetector> lb, prometheus::Registry& registry,
                               const Clock& clock)
    : lb_(std::move(lb)),
      clock_(clock),
      samples_sent_(prometheus::BuildCounter()
                        .Name("rwgate_coverage_samples_sent_total")
                        .Help("Coverage samples (rwgate_fleet_*) and their staleness markers "
                              "handed to the sinks.")
                        .Register(registry)
                        .Add({})),
      rounds_refused_(prometheus::BuildCounter()
                          .Name("rwgate_coverage_rounds_not_sent_total")
                          .Help("Coverage requests a sink did not take (its queue was full, or "
                                "the series got no tenant); the next round sends them again.")
                          .Register(registry)
                          .Add({})),
      expected_(gauge(registry, "rwgate_coverage_expected_instances",
                      "Instances expected to report, past their first coverage.window.")),
      unmonitored_(gauge(registry, "rwgate_coverage_unmonitored_instances",
                         "Expected instances no series arrived for within coverage.window.")),
      watching_since_s_(seconds_of(clock)) {}

CoverageSender::~CoverageSender() { stop(); }

void CoverageSender::configure(CoverageSetup setup) {
  {
    std::lock_guard lock(mu_);
    // Nothing was marked while coverage was off: a window of grace, as after a start.
    if (setup.config.enabled && !setup_->config.enabled) watching_since_s_ = seconds_of(clock_);
    setup_ = std::make_shared<const CoverageSetup>(std::move(setup));
    reconfigured_ = true;
  }
  {
    std::lock_guard lock(round_mu_);
    warned_tenant_ = false;
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

std::shared_ptr<const CoverageSetup> CoverageSender::current_setup() const {
  std::lock_guard lock(mu_);
  return setup_;
}

CoverageReport CoverageSender::report(const CoverageSetup& setup, int64_t now_s) const {
  if (!setup.config.enabled || setup.discovery == nullptr)
    return CoverageReport{nullptr, now_s, {}};
  int64_t since;
  {
    std::lock_guard lock(mu_);
    since = watching_since_s_;
  }
  return compute_coverage(setup.config, setup.discovery->cache().snapshot(), lb_->report(), now_s,
                          since);
}

CoverageSender::Points CoverageSender::series_of(const CoverageSetup& setup, int64_t now_s) {
  const CoverageReport r = report(setup, now_s);
  expected_.Set(static_cast<double>(r.expected()));
  unmonitored_.Set(static_cast<double>(r.expected() - r.monitored()));
  Points out;
  if (!setup.config.emit_series) return out;
  auto put = [&](LabelSet labels, double value) {
    std::erase_if(labels, [](const auto& l) { return l.second.empty(); });  // no label
    std::sort(labels.begin(), labels.end());
    out.insert_or_assign(std::move(labels), value);
  };
  for (const GroupCoverage& g : r.groups) {
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

std::set<CoverageSender::LabelSet> CoverageSender::send(const CoverageSetup& setup,
                                                        sinks::Sink& sink, const Points& current,
                                                        const std::set<LabelSet>& sent,
                                                        int64_t now_ms) {
  // The round's samples, then a marker for each series it no longer has.
  std::vector<std::pair<const LabelSet*, double>> items;
  for (const auto& [labels, value] : current) items.emplace_back(&labels, value);
  for (const LabelSet& labels : sent) {
    if (!current.contains(labels)) items.emplace_back(&labels, proto::stale_nan());
  }
  // What the sink holds afterwards: what it held, plus what it took, minus what was ended.
  std::set<LabelSet> holds = sent;
  std::vector<proto::Label> views;
  for (size_t from = 0; from < items.size(); from += kSeriesPerRequest) {
    const size_t n = std::min(items.size() - from, kSeriesPerRequest);
    proto::OneSampleBatch b;
    for (size_t i = from; i < from + n; ++i) {
      views.clear();
      for (const auto& [name, value] : *items[i].first) views.push_back({name, value});
      b.add(views, items[i].second, now_ms, 0);
    }
    if (setup.tenancy_config.enabled) {
      pipeline::TenantResolver resolver;
      if (auto refused = resolver.resolve(setup.tenancy_config, *setup.tenant_names, "", b.batch)) {
        if (!warned_tenant_) {  // once per config: every round would say the same
          log::warn("coverage series get no tenant; set tenancy.default to send them",
                    {{"sink", sink.name()}, {"error", refused->message}});
          warned_tenant_ = true;
        }
        rounds_refused_.Increment();
        continue;
      }
    }
    b.finish();
    if (!sink.try_reserve(b.batch, b.outs, b.bytes)) {
      rounds_refused_.Increment();
      continue;
    }
    if (!sink.enqueue(b.batch, b.outs, b.bytes)) {
      rounds_refused_.Increment();
      continue;
    }
    samples_sent_.Increment(static_cast<double>(n));
    for (size_t i = from; i < from + n; ++i) {
      if (std::isnan(items[i].second)) {
        holds.erase(*items[i].first);
      } else {
        holds.insert(*items[i].first);
      }
    }
  }
  return holds;
}

void CoverageSender::round() {
  const std::shared_ptr<const CoverageSetup> setup = current_setup();
  // Before any source reported (a discovery just restarted), the empty fleet is not news:
  // ending every series now would only start them again a moment later.
  if (setup->config.enabled && setup->discovery != nullptr &&
      setup->discovery->cache().snapshot()->generation() == 0)
    return;
  std::lock_guard lock(round_mu_);
  // Never two rounds at one timestamp: a sample and its marker at the same time would get
  // a whole request refused by the store.
  const int64_t now_ms = last_round_ms_ = std::max(clock_.wall_ms(), last_round_ms_ + 1);
  const Points current = series_of(*setup, now_ms / 1000);
  const Points none;
  std::map<std::string, std::set<LabelSet>> next;
  for (const std::shared_ptr<sinks::Sink>& sink : setup->sinks) {
    const std::set<LabelSet>& sent = sent_[sink->name()];
    const bool chosen = selected(setup->config, sink->name());
    if (!chosen && sent.empty()) continue;
    std::set<LabelSet> holds = send(*setup, *sink, chosen ? current : none, sent, now_ms);
    if (!holds.empty()) next[sink->name()] = std::move(holds);
  }
  sent_ = std::move(next);  // a sink removed by a reload: its series end by lookback
}

std::string CoverageSender::json() const {
  const std::shared_ptr<const CoverageSetup> setup = current_setup();
  return coverage_json(setup->config, report(*setup, seconds_of(clock_)));
}

}  // namespace rwgate::coverage
