// Load-balancer detection: is a target's `instance` really a load balancer?
//
// A target is a (job, instance) pair, as the sender labelled its series. Two kinds of
// evidence make a verdict:
//
// By name (LbNamePatterns). The host of `instance` (port stripped, lower-cased) is a DNS
// name that only load balancers get: AWS Classic ELB, ALB, NLB and GWLB names (with their
// internal- and dualstack. forms, and China regions' .amazonaws.com.cn), Azure's
// *.cloudapp.azure.com, an operator's host_patterns, or an LB name discovery reported.
// A name match is `confirmed` at once, with no behaviour needed.
//
// By behaviour (LbDetector). One process has one start time. For each series of an
// identity metric (process_start_time_seconds) the detector keeps its last kWindow
// values, one per scrape; a sample not newer than the last one kept is ignored (retries,
// replays, HA duplicates). In that window:
//   switch       v[i] != v[i-1]
//   back-switch  a switch to a value lower than v[i-1], or to one already in v[0..i-2]
// A process that restarts moves forward to a new, later start time: switches, never a
// back-switch. Only several processes answering in turn go back. For each series of a
// counter metric (process_cpu_seconds_total) a `decrease` is v[i] < v[i-1]; one process's
// counter goes down only when it restarts, so decreases are supporting evidence.
//   confirmed  an identity series has >= 2 back-switches in its window, or >= 1 while a
//              counter series of the target has >= 2 decreases in its window
//   suspected  >= 1 back-switch, or, for a target without identity series, a counter
//              with >= 3 decreases (report only: with identity data, a counter decrease
//              may be a restart, which the identity series tells apart)
// With three backends in round robin (A B C A B …) that is `suspected` at the 4th scrape
// and `confirmed` at the 5th. A confirmed verdict sticks until a full window of the
// identity series shows no switch at all (the fix was applied), or the target goes idle.
//
// State is small and bounded: at most kMaxTargets targets, kMaxWatchesPerTarget watched
// series each of kWindow doubles, at most kMaxSeriesPerTarget series hashes per flagged
// target; a target not heard of for kForgetAfter is forgotten, and when full the least
// recently seen unflagged target makes room.
//
// Threads: the ingest path reads verdicts through an immutable LbVerdicts snapshot swapped
// atomically (no lock); it hands observations over once per request, under one mutex.
#pragma once

#include <re2/set.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "base/clock.h"
#include "proto/batch.h"

namespace rwgate::lb {

enum class LbAction : uint8_t { kAnnotate, kDrop, kPass };
const char* lb_action_name(LbAction a);

// Host-name evidence: built-in cloud LB patterns, operator patterns, discovered names.
class LbNamePatterns {
 public:
  // `extra` are RE2 patterns, anchored at both ends, matched against the lower-cased host.
  // Returns null with `error` set when one does not compile.
  static std::shared_ptr<const LbNamePatterns> build(const std::vector<std::string>& extra,
                                                     std::string& error);

  // The description of the first pattern `host` matches ("AWS Application or Classic Load
  // Balancer DNS name"), or -1. `host` is the instance label's host, any case.
  int match(std::string_view host) const;
  const std::string& description(int pattern) const { return descriptions_[pattern]; }

  // AWS region embedded in an AWS load balancer DNS name, or empty.
  static std::string aws_region_of(std::string_view host);

 private:
  LbNamePatterns() : set_(RE2::Options(), RE2::ANCHOR_BOTH) {}
  RE2::Set set_;
  std::vector<std::string> descriptions_;
};

// What the label pipeline does with load-balanced targets. Immutable; from the config.
struct LbRules {
  bool enabled = false;  // false: detection is off (no action, no reports)
  LbAction action = LbAction::kAnnotate;
  std::string label = "scrape_via";                   // annotate adds label="load_balancer"
  std::map<std::string, LbAction, std::less<>> jobs;  // per-job override of action
  std::shared_ptr<const LbNamePatterns> names;
  std::vector<std::string> identity_metrics = {"process_start_time_seconds"};
  std::vector<std::string> counter_metrics = {"process_cpu_seconds_total"};

  LbAction action_for(std::string_view job) const {
    auto it = jobs.find(job);
    return it == jobs.end() ? action : it->second;
  }
};

inline constexpr std::string_view kLbLabelValue = "load_balancer";

// Targets with a confirmed behaviour verdict, for the pipeline. Immutable.
struct LbVerdicts {
  uint64_t generation = 0;
  std::unordered_set<std::string> confirmed;  // target_key(job, instance)
};

// "job\xffinstance": the key of a target in every table here.
std::string target_key(std::string_view job, std::string_view instance);

// One sample of a watched metric, as ingest saw it.
struct LbObservation {
  std::string_view job;
  std::string_view instance;
  uint64_t series_hash;  // of the series' input labels: which identity series
  std::string_view metric;
  bool identity;  // an identity metric (else a counter)
  double value;
  int64_t timestamp_ms;
};

// A series of a flagged target that the pipeline annotated, dropped or passed.
// Appends an observation for every sample of an identity or counter metric in `batch`.
// The views point into the batch.
void collect_lb_observations(const LbRules& rules, const proto::Batch& batch,
                             std::vector<LbObservation>& out);

struct LbFlaggedSeries {
  std::string_view job;
  std::string_view instance;
  uint64_t series_hash;
  std::string_view name_reason;  // flagged by name: the pattern's description; empty: behaviour
  std::string_view asg;          // the Auto Scaling group behind it, when discovery knows
};

// One flagged target, as /api/v1/lb-targets shows it.
struct LbTargetReport {
  std::string job;
  std::string instance;
  std::string verdict;  // suspected | confirmed
  std::vector<std::string> reasons;
  std::string evidence;  // name | behaviour
  int64_t first_seen_ms = 0;
  int64_t last_seen_ms = 0;
  size_t series = 0;
  std::string asg;  // the Auto Scaling group behind it, when discovery said
  std::string fix;  // a scrape config that scrapes each instance instead (lb/fix.h)
};

class LbDetector {
 public:
  static constexpr size_t kWindow = 20;
  static constexpr size_t kMaxTargets = 10000;
  static constexpr size_t kMaxWatchesPerTarget = 4;
  static constexpr size_t kMaxSeriesPerTarget = 100000;
  static constexpr std::chrono::minutes kForgetAfter{15};

  // `clock`: first/last seen and idle expiry (tests pass a ManualClock); outlives this.
  explicit LbDetector(const Clock& clock = Clock::system());

  // Applies one request's observations and flagged series; publishes new verdicts when
  // one changed.
  void observe(std::span<const LbObservation> observations,
               std::span<const LbFlaggedSeries> flagged);

  std::shared_ptr<const LbVerdicts> verdicts() const { return verdicts_.load(); }

  // Every flagged target (suspected or confirmed) the sender still scrapes, in (job,
  // instance) order; `fix` is left to lb/fix.h, which knows how rwgate is reached.
  std::vector<LbTargetReport> report() const;

 private:
  struct Watch {
    uint64_t series_hash = 0;
    std::string metric;
    bool identity = false;
    int64_t last_ts = INT64_MIN;
    double values[kWindow];
    uint8_t count = 0;  // values held, oldest first
  };
  struct Target {
    std::string job;
    std::string instance;
    std::vector<Watch> watches;
    int64_t first_seen_ms = 0;
    int64_t last_seen_ms = 0;
    std::string name_reason;  // flagged by name: what the host matched
    std::string asg;          // behind the load balancer, when discovery said
    bool confirmed = false;   // behaviour verdict, sticky (see the top of this file)
    bool suspected = false;
    // The sender ended its identity or counter series with staleness markers: it no longer
    // scrapes the target (the fix was applied, or the scrape fails). Not reported until a
    // sample comes again; the verdict and its window are kept for that.
    bool ended = false;
    std::string reason;        // the numbers behind the behaviour verdict
    std::string counter_note;  // supporting counter evidence, if any
    std::unordered_set<uint64_t> series;
  };
  Target& target(std::string_view job, std::string_view instance, int64_t now);
  // Recomputes t's verdict; true when `confirmed` flipped.
  bool judge(Target& t) const;
  void expire(int64_t now);

  const Clock& clock_;

  mutable std::mutex mu_;  // guards targets_, next_generation_, verdicts_changed_
  std::unordered_map<std::string, Target> targets_;  // by target_key
  uint64_t next_generation_ = 1;
  bool verdicts_changed_ = false;  // a target's `confirmed` flipped, or a confirmed one went
  int64_t last_expiry_ms_ = 0;

  std::atomic<std::shared_ptr<const LbVerdicts>> verdicts_;
};

}  // namespace rwgate::lb
