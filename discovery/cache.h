// The discovery cache: merges what every source reports into one immutable snapshot.
//
// Sources report in two ways: a full list (file_sd, http_sd, the AWS APIs: "this is
// everything I know now") or one record at a time (gRPC Upsert/Remove, EventBridge
// events). For each (source, instance) the cache keeps the record and when it was last
// reported or changed. The merged record of an instance overlays the sources' records in
// order of their report times, so later reports win field by field: an EventBridge
// "terminating" event overrides the InService of a file read earlier, until the file
// changes again.
//
// An instance a source stops listing is not dropped at once: it stays until no source has
// listed it for `missing_after`, then it is gone. Readers never lock: they take the
// current snapshot (shared_ptr<const DiscoverySnapshot>) with one atomic load; writers
// rebuild and swap it under the cache's mutex.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "discovery/instance.h"

namespace rwgate::discovery {

struct ChangeEvent {
  enum class Kind { kAdded, kChanged, kGone };
  Kind kind;
  InstanceRecord before;  // empty for kAdded
  InstanceRecord after;   // empty for kGone
};

class DiscoveryCache {
 public:
  static constexpr std::chrono::hours kGoneRetention{1};
  static constexpr size_t kMaxGone = 10000;

  // `clock`: where "now" comes from (tests pass a ManualClock); it outlives the cache.
  // `activities`: where the instances' activity lives (null: a table of its own).
  explicit DiscoveryCache(std::chrono::milliseconds missing_after,
                          const Clock& clock = Clock::system(),
                          std::shared_ptr<InstanceActivities> activities = nullptr);

  // A source's complete current list; what it listed before and does not list now starts
  // its missing_after countdown.
  void replace_source(const std::string& source, const std::vector<InstanceRecord>& records);
  // A source's complete list of load balancers (replaces what it said before).
  void replace_load_balancers(const std::string& source, std::vector<LoadBalancerRecord> lbs);
  // One record from an incremental source; merged over what that source said before.
  // `event`: a one-time report (EventBridge) that lasts while another source lists the
  // instance, or missing_after; otherwise (gRPC) it lasts until remove().
  void upsert(const std::string& source, const InstanceRecord& record, bool event = false);
  // An incremental source forgets an instance (its countdown starts).
  void remove(const std::string& source, const std::string& key);
  // Drops instances no source has listed for missing_after. Called periodically.
  void expire();

  std::shared_ptr<const DiscoverySnapshot> snapshot() const { return snapshot_.load(); }
  // Called (under the cache's lock, in order) with the changes of every rebuild and the
  // new snapshot's generation. Listeners must be quick (queue the events, return).
  using Listener = std::function<void(const std::vector<ChangeEvent>&, uint64_t generation)>;
  uint64_t subscribe(Listener listener);
  void unsubscribe(uint64_t id);
  // Instances per source that are currently listed.
  std::map<std::string, size_t> listed_per_source() const;
  // When each source last reported successfully (a full list, or one record).
  std::map<std::string, Clock::WallTime> last_report_per_source() const;
  // A source's refresh failed (it keeps its last good list): the status page shows why.
  // Its next full list clears it, unless that list came from a refresh that also failed
  // in part (a file_sd file that does not parse: report it after the list).
  void source_failed(const std::string& source, std::string error);
  struct SourceFailure {
    std::string error;
    Clock::WallTime at{};
  };
  std::map<std::string, SourceFailure> failures_per_source() const;

 private:
  struct Reported {
    InstanceRecord record;
    // Steady times: the overlay's order and the missing_after countdown must not move when
    // the wall clock is set (an hour back would keep a dropped instance an hour longer).
    Clock::SteadyTime changed_at;  // orders the overlay: later wins
    bool listed = true;            // false: dropped by its source at `dropped_at`
    Clock::SteadyTime dropped_at{};
    bool event = false;  // from an event source: see upsert()
  };
  // Caller holds mu_. `force`: publish a new snapshot even without a change of records
  // (the recently-gone list changed).
  void rebuild(bool force = false);

  const std::chrono::milliseconds missing_after_;
  const Clock& clock_;
  mutable std::mutex mu_;  // guards everything below but snapshot_
  std::map<std::string, std::map<std::string, Reported>> by_source_;  // source -> key -> record
  std::map<std::string, InstanceRecord> merged_;                      // key -> merged record
  // Instances that went away (kGone), kept for kGoneRetention so that late samples of
  // theirs are recognised; at most kMaxGone, the oldest leave first.
  struct Gone {
    InstanceRecord record;
    Clock::SteadyTime at;
  };
  std::map<std::string, Gone> gone_;
  std::map<std::string, std::vector<LoadBalancerRecord>> load_balancers_;  // by source
  std::map<std::string, Clock::WallTime> last_report_;                     // by source
  std::map<std::string, SourceFailure> failures_;                          // by source
  const std::shared_ptr<InstanceActivities> activities_;  // carried to every snapshot
  std::map<uint64_t, Listener> listeners_;
  uint64_t next_listener_ = 1;
  uint64_t generation_ = 0;
  std::atomic<std::shared_ptr<const DiscoverySnapshot>> snapshot_;
};

}  // namespace rwgate::discovery
