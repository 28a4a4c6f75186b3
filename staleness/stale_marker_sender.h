// Ends the series of instances that go away, with staleness markers, at once.
//
// Discovery tells (through the cache's change events) when an instance is gone: its
// lifecycle state or EC2 state says so (Terminated, Detached, Warmed:Terminated,
// shutting-down, terminated, stopped), or no source reported it for missing_after. The
// sender then takes every series the ingest threads' SeriesTrackers hold for it and sends
// each, to the sink it was forwarded to, one sample with the staleness NaN at its last
// timestamp + 1 ms. Prometheus, Mimir, Thanos and VictoriaMetrics treat that sample as
// the end of the series, so it leaves instant queries right away instead of lingering for
// the 5-minute lookback.
//
// When a label enrichment adds changes (lifecycle_state InService -> Terminating:Wait),
// the old label sets will never get another sample: the series of that instance last
// forwarded before the change (by discovery generation) are ended the same way, so
// `sum without (lifecycle_state)` never counts an instance twice.
//
// Markers go into the sinks' queues like any other data: same shards (a marker follows
// its series' last sample), same retries. A full queue keeps them pending for the next
// sweep. Draining states (Terminating, Terminating:Wait, Terminating:Proceed, Detaching)
// end nothing: the instance is still scraped.
//
// One thread: events are queued by the cache's listener and handled by sweeps at least
// once a second; every quarter of series_idle_timeout (at most a minute) a sweep also
// forgets the series idle that long.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "discovery/discovery.h"
#include "sinks/sink.h"
#include "staleness/config.h"
#include "staleness/series_tracker.h"

namespace rwgate::staleness {

// A sink markers can go to, under the id the series trackers know it by.
struct MarkerSink {
  uint32_t id;
  std::shared_ptr<sinks::Sink> sink;
};

// Whether the labels enrichment derives from two versions of an instance's record can
// differ (the label pipeline's enrichment stage knows which fields it reads).
using EnrichmentDiffers =
    std::function<bool(const discovery::InstanceRecord&, const discovery::InstanceRecord&)>;

class StaleMarkerSender {
 public:
  // `trackers`: every ingest worker's tracker; they outlive the sender.
  // `clock`: the trackers' clock too (their series' arrival times); outlives this.
  StaleMarkerSender(std::vector<SeriesTracker*> trackers, prometheus::Registry& registry,
                    const Clock& clock = Clock::system());
  ~StaleMarkerSender();

  // Called on every config apply. `discovery` may be null (no source: nothing to end).
  void configure(std::shared_ptr<discovery::Discovery> discovery, const StalenessConfig& config,
                 EnrichmentDiffers enrichment_differs, std::vector<MarkerSink> sinks);
  void start();
  // Sends what is pending (best effort) and stops the thread. Before the sinks drain.
  void stop();

  // What the status page shows: its gauges and the markers sent so far.
  struct Summary {
    double tracked_series = 0;
    double tracked_instances = 0;
    double markers_sent = 0;
  };
  Summary summary() const {
    return {tracked_series_.Value(), tracked_instances_.Value(), markers_.Value()};
  }
  // Series tracked per instance (InstanceRecord::key()), over every worker's tracker.
  std::map<std::string, size_t> series_per_instance() const {
    std::map<std::string, size_t> out;
    for (const SeriesTracker* t : trackers_) t->add_series_per_instance(out);
    return out;
  }
  // One sweep now (tests and the thread's loop).
  void sweep();

 private:
  void on_events(const std::vector<discovery::ChangeEvent>& events, uint64_t generation);
  void run();
  void send(std::vector<EndedSeries> ended);

  const std::vector<SeriesTracker*> trackers_;
  const Clock& clock_;
  prometheus::Counter& markers_;
  prometheus::Counter& markers_dropped_;
  prometheus::Counter& forgotten_;
  prometheus::Counter& collisions_;
  prometheus::Gauge& tracked_series_;
  prometheus::Gauge& tracked_instances_;
  prometheus::Gauge& ending_instances_;

  std::mutex mu_;  // guards everything below, and the thread's wake-up
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
  std::shared_ptr<discovery::Discovery> discovery_;
  uint64_t subscription_ = 0;
  StalenessConfig config_;
  EnrichmentDiffers enrichment_differs_;
  std::vector<MarkerSink> sinks_;
  struct Event {
    enum class Kind { kGone, kBack, kRelabeled } kind;
    std::string instance;  // InstanceRecord::key()
    uint64_t generation;
  };
  std::vector<Event> queued_;
  // Instances gone, by key: ended now and again at every sweep (late samples that still
  // got through, e.g. with drop_late_samples off) until they come back or an hour passes.
  std::map<std::string, Clock::SteadyTime> gone_;
  // Instances whose enrichment labels changed: key -> (generation of the change, since).
  std::map<std::string, std::pair<uint64_t, Clock::SteadyTime>> relabeled_;
  std::vector<EndedSeries> pending_;  // markers a full queue did not take yet
  Clock::SteadyTime last_idle_sweep_;
  Clock::SteadyTime last_gauges_{};
  uint64_t collisions_seen_ = 0;
};

}  // namespace rwgate::staleness
