// Sends the fleet's coverage to the stores, every `interval`, so that users alert on it
// next to their own data:
//
//   rwgate_fleet_instance_monitored{asg, availability_zone, instance_id, lifecycle_state}
//       1 or 0, for each expected instance
//   rwgate_fleet_instances{asg, monitored="true"|"false"}
//       how many of a group's expected instances are (not) monitored
//
// A series that is not part of the next round (the instance left the expected set, or
// changed lifecycle state, or the group is gone) is ended with a staleness marker, as the
// series of a gone instance are. The series go to the sinks as they are, past the label
// pipeline (they are rwgate's own), each sink's round in one request; a sink whose queue
// is full gets the next round instead, and its markers are kept until one is taken.
//
// One thread; GET /api/v1/coverage reads json() from the HTTP threads.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "coverage/config.h"
#include "coverage/coverage.h"
#include "discovery/discovery.h"
#include "lb/detector.h"
#include "pipeline/tenancy.h"
#include "sinks/sink.h"
#include "sinks/tenant_names.h"

namespace rwgate::coverage {

// What a round needs, from the running config.
struct CoverageSetup {
  CoverageConfig config;
  std::shared_ptr<discovery::Discovery> discovery;  // null: no discovery, nothing expected
  // Every running sink, selected by config.sinks or not: one that is not (any more) gets
  // the markers that end what it was sent before.
  std::vector<std::shared_ptr<sinks::Sink>> sinks;
  // With tenancy (tenancy_config.enabled): the series get their tenant as a sender's would
  // (its label, or the default), with no sender identity.
  pipeline::TenancyConfig tenancy_config;
  std::shared_ptr<sinks::TenantNames> tenant_names;
};

class CoverageSender {
 public:
  // At most this many series in one request to a sink.
  static constexpr size_t kSeriesPerRequest = 2000;

  // `lb`: the flagged targets that explain unmonitored groups. `clock`: the rounds' "now"
  // and the instances' last-seen times (ingest marks them with the same clock).
  CoverageSender(std::shared_ptr<lb::LbDetector> lb, prometheus::Registry& registry,
                 const Clock& clock = Clock::system());
  ~CoverageSender();

  // On every config apply. A round follows at once.
  void configure(CoverageSetup setup);
  void start();
  void stop();  // no markers: series of a stopped rwgate end by the stores' lookback

  // One round now (tests and the thread).
  void round();
  // The coverage now, as GET /api/v1/coverage answers.
  std::string json() const;

 private:
  using LabelSet = std::vector<std::pair<std::string, std::string>>;  // sorted by name
  using Points = std::map<LabelSet, double>;
  std::shared_ptr<const CoverageSetup> current_setup() const;
  // The coverage now, with the snapshot it reads; an empty report when coverage is off.
  CoverageReport report(const CoverageSetup& setup, int64_t now_s) const;
  // The round's series (empty when none are to be sent).
  Points series_of(const CoverageSetup& setup, int64_t now_s);
  // Sends `current` to `sink`, and markers for what `sent` holds and `current` does not;
  // returns what the sink holds afterwards (the new `sent`).
  std::set<LabelSet> send(const CoverageSetup& setup, sinks::Sink& sink, const Points& current,
                          const std::set<LabelSet>& sent, int64_t now_ms);
  void run();

  const std::shared_ptr<lb::LbDetector> lb_;
  const Clock& clock_;
  prometheus::Counter& samples_sent_;
  prometheus::Counter& rounds_refused_;
  prometheus::Gauge& expected_;
  prometheus::Gauge& unmonitored_;

  mutable std::mutex mu_;  // guards setup_, watching_since_s_, stopping_, the thread's wake-up
  std::condition_variable cv_;
  std::shared_ptr<const CoverageSetup> setup_ = std::make_shared<CoverageSetup>();
  int64_t watching_since_s_;  // when coverage (and ingest's marking) was last turned on
  bool stopping_ = false;
  bool reconfigured_ = false;
  std::thread thread_;

  std::mutex round_mu_;  // one round at a time; guards sent_, warned_tenant_, last_round_ms_
  // The series each sink holds from us, by sink name: what a round ends when it is not
  // part of it.
  std::map<std::string, std::set<LabelSet>> sent_;
  bool warned_tenant_ = false;
  int64_t last_round_ms_ = 0;
};

}  // namespace rwgate::coverage
