// The status page (`/`) and the discovery table (`/instances`).
//
// `/` answers "is it healthy?" on one page: the process and its config reloads, every
// sink (URL, protocol, ok / retrying / failing with the last error and since when,
// samples/s, queue and disk-buffer fill, the age of the oldest unsent data), every
// discovery source (instances, last success, last error), load-balancer offenders with
// their evidence and fix, the stale-marker state, tenants and HA clusters, and graphs of
// the last hour drawn from rwgate's own counters (StatusHistory, sampled every 5 s).
// A small script (/static/refresh.js) replaces the page's content every 5 s; without it
// the page is complete, only not live.
//
// The gateway fills a StatusView from what it runs when the page is asked for; the
// rendering here reads nothing else.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "discovery/cache.h"
#include "lb/detector.h"
#include "proxy/http_server.h"
#include "proxy/ingest.h"
#include "sinks/sink_status.h"

namespace rwgate::proxy {

// The last hour of the counters the graphs show, one point every interval.
class StatusHistory {
 public:
  struct Point {
    Clock::WallTime at{};
    double samples_in = 0;   // rwgate_samples_received_total
    double samples_out = 0;  // forwarded, summed over the sinks
    double queue_fill = 0;   // the fullest sink queue, 0..1
  };
  static constexpr size_t kPoints = 720;  // an hour at 5 s

  // One point from the counters now; also each sink's samples/s since the last one.
  void sample(Clock::WallTime at, double samples_in, const std::vector<sinks::SinkStatus>& sinks);
  std::vector<Point> points() const;
  std::vector<std::pair<std::string, double>> sink_rates() const;

 private:
  mutable std::mutex mu_;
  std::deque<Point> points_;
  std::map<std::string, double> forwarded_;  // by sink, at the last point
  std::vector<std::pair<std::string, double>> rates_;
};

struct ReloadOutcome {
  Clock::WallTime at{};  // zero: no reload since start
  bool ok = true;
  std::string error;
};

// Everything the status page shows, gathered for one request.
struct StatusView {
  Clock::WallTime now{};
  Clock::WallTime started{};
  std::string config_file;  // empty: the built-in default
  ReloadOutcome reload;
  std::vector<sinks::SinkStatus> sinks;
  std::vector<std::pair<std::string, double>> sink_rates;  // samples/s by sink, last interval
  // Discovery (null snapshot: no source configured).
  std::shared_ptr<const discovery::DiscoverySnapshot> fleet;
  std::map<std::string, size_t> listed;                                      // by source
  std::map<std::string, Clock::WallTime> last_success;                       // by source
  std::map<std::string, discovery::DiscoveryCache::SourceFailure> failures;  // by source
  std::vector<lb::LbTargetReport> lb_targets;
  // Staleness (the stale-marker sender's gauges and counters).
  double tracked_series = 0;
  double tracked_instances = 0;
  double markers_sent = 0;
  bool tracking = false;  // staleness.on_terminate with discovery on
  size_t tenants = 0;     // with tenancy
  size_t ha_clusters = 0;
  std::vector<StatusHistory::Point> history;
};

void serve_status_page(const StatusView& view, HttpResponse& res);
// `/instances[?asg=&zone=&lifecycle=]`: the discovery cache as a table, filtered.
// `series`: tracked series by instance key (null: tracking is off).
void serve_instances_page(const discovery::DiscoverySnapshot* fleet,
                          const std::map<std::string, size_t>* series, Clock::WallTime now,
                          const HttpRequest& req, HttpResponse& res);
// `/static/refresh.js`: the status page's refresh.
void serve_refresh_script(HttpResponse& res);

}  // namespace rwgate::proxy
