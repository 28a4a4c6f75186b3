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
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "coverage/config.h"
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
  std::vector<std::shared_ptr<sinks::Sink>> sinks;  // the sinks `config.sinks` selects
  // With tenancy: the series get their tenant as a sender's would (its label, or the
  // default), with no sender identity.
  bool tenancy = false;
  pipeline::TenancyConfig tenancy_config;
  std::shared_ptr<sinks::TenantNames> tenant_names;
};

class CoverageSender {
 public:
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
  using Labels = std::vector<std::pair<std::string, std::string>>;  // sorted by name
  struct Point {
    Labels labels;
    double value;
  };
  // The round's series, by their label key; empty when no series are to be sent.
  std::map<std::string, Point> series_of(const CoverageSetup& setup, int64_t now_s);
  // Sends `current` (and markers for what `sent` has and `current` not) to `sink`; true
  // when the sink took it all.
  bool send(const CoverageSetup& setup, sinks::Sink& sink, const std::map<std::string, Point>& current,
            const std::map<std::string, Labels>& sent, int64_t now_ms);
  void run();

  const std::shared_ptr<lb::LbDetector> lb_;
  const Clock& clock_;
  const int64_t started_s_;  // ingest marks instances from about then on
  prometheus::Counter& samples_sent_;
  prometheus::Counter& rounds_refused_;
  prometheus::Gauge& expected_;
  prometheus::Gauge& unmonitored_;

  mutable std::mutex mu_;  // guards setup_, stopping_ and the thread's wake-up
  std::condition_variable cv_;
  std::shared_ptr<const CoverageSetup> setup_ = std::make_shared<CoverageSetup>();
  bool stopping_ = false;
  bool reconfigured_ = false;
  std::thread thread_;

  std::mutex round_mu_;  // one round at a time; guards sent_
  // What each sink took last, by sink name then label key: what the next round ends when
  // it is not part of it.
  std::map<std::string, std::map<std::string, Labels>> sent_;
  bool warned_tenant_ = false;
};

}  // namespace rwgate::coverage
