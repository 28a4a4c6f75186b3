// Fleet coverage: which instances that discovery expects to report are sending nothing.
//
// Every Prometheus sees only the targets in its own config; rwgate sees every series that
// arrives, matched to its instance by enrichment, and every instance discovery lists. An
// expected instance (live, in one of `lifecycle_states`) is monitored while a series
// matched to it arrived within `window`; the others are "nobody is monitoring this": not
// scraped at all, a Prometheus shard down, or reachable only through a load balancer.
//
// Cost on the request path: ingest marks each matched instance's InstanceActivity once per
// request at most (mark_seen below); there is no state per series. Everything else runs
// off the request path, every `interval` and on GET /api/v1/coverage.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "coverage/config.h"
#include "discovery/instance.h"
#include "lb/detector.h"

namespace rwgate::coverage {

// Marks the instances a request's series matched (`records`, by series: null for none) as
// seen at `now_s`. Series of one instance usually come together, so a repeat of the last
// instance costs one compare; InstanceActivity::mark writes once a second at most.
inline void mark_seen(const discovery::DiscoverySnapshot& fleet,
                      std::span<const discovery::InstanceRecord* const> records, int64_t now_s) {
  const discovery::InstanceRecord* last = nullptr;
  for (const discovery::InstanceRecord* r : records) {
    if (r == nullptr || r == last) continue;
    last = r;
    if (discovery::InstanceActivity* a = fleet.activity(*r)) a->mark(now_s);
  }
}

// Why an expected instance is not monitored, where rwgate can tell.
enum class Reason : uint8_t {
  kNone,          // it is monitored
  kLoadBalancer,  // its group is scraped through a flagged load balancer
  kStopped,       // it did send, and stopped
  kNeverSeen,     // nothing of it ever arrived (since rwgate started)
};
const char* reason_name(Reason r);  // none, load_balancer, stopped_sending, never_seen

struct InstanceCoverage {
  const discovery::InstanceRecord* record;  // into CoverageReport::fleet
  int64_t last_seen_s = 0;                  // 0: never
  Reason reason = Reason::kNone;
  std::string detail;  // the reason in words ("it stopped sending at 2026-...")

  bool monitored() const { return reason == Reason::kNone; }
  // The instance id, or the address of a target listed without one.
  std::string id() const;
};

// The address an instance is scraped on as discovery lists it: its private IP, or the
// host of its file_sd/http_sd target.
std::string address_of(const discovery::InstanceRecord& r);

struct GroupCoverage {
  std::string asg;  // empty: instances in no Auto Scaling group
  size_t monitored = 0;
  std::vector<InstanceCoverage> instances;  // every expected instance, by id()
  // Instances listed (or watched: since coverage was turned on) for less than the window
  // that have sent nothing since: a new instance is not "unmonitored" before its first
  // scrapes could have arrived. Not in `instances`, nor in any series.
  size_t waiting = 0;
};

struct CoverageReport {
  std::shared_ptr<const discovery::DiscoverySnapshot> fleet;  // what `record`s point into
  int64_t at_s = 0;
  std::vector<GroupCoverage> groups;  // by name

  size_t expected() const;
  size_t monitored() const;
};

// The coverage of `fleet` at `now_s`. `lb_targets`: the load-balancer detector's flagged
// targets; one whose host is a load balancer discovery lists with Auto Scaling groups
// behind it explains why those groups' instances send nothing of their own.
// `watching_since_s`: when ingest started marking instances (coverage turned on).
CoverageReport compute_coverage(const CoverageConfig& config,
                                std::shared_ptr<const discovery::DiscoverySnapshot> fleet,
                                std::span<const lb::LbTargetReport> lb_targets, int64_t now_s,
                                int64_t watching_since_s = 0);

// Whether `record` is expected to report: live, and in one of the lifecycle states. An
// instance in no Auto Scaling group has no lifecycle state: it counts as InService while
// its EC2 state is running or unknown.
bool expected(const CoverageConfig& config, const discovery::InstanceRecord& record);

// GET /api/v1/coverage:
// {"at", "window", "lifecycle_states", "expected", "monitored",
//  "groups": [{"asg", "expected", "monitored", "waiting",
//              "unmonitored": [{"instance_id", "address", "availability_zone",
//                               "lifecycle_state", "reason", "detail", "last_seen"}]}]}
// `enabled` false: {"enabled": false, ...} with no groups.
std::string coverage_json(const CoverageConfig& config, const CoverageReport& report);

}  // namespace rwgate::coverage
