// The running proxy: owns the metrics registry, the sinks, the ingest handler and the
// HTTP server, and applies configuration (at start and on reload).
//
// Reload builds the new snapshot beside the old one: sinks whose YAML is unchanged are
// kept (with their queues), new ones are started, and removed ones drain in the
// background. A config that fails validation changes nothing.
#pragma once

#include <prometheus/registry.h>

#include <array>
#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "coverage/coverage_sender.h"
#include "pipeline/worker_context.h"
#include "proxy/basic_auth.h"
#include "proxy/config.h"
#include "proxy/http_server.h"
#include "proxy/ingest.h"
#include "proxy/status_page.h"
#include "sinks/remote_write_sink.h"
#include "sinks/tenant_sinks.h"
#include "staleness/stale_marker_sender.h"

namespace rwgate::proxy {

class Gateway {
 public:
  // `config_path` empty: run on `initial` and refuse reloads from file.
  Gateway(Config initial, std::string config_path, std::chrono::milliseconds drain_timeout);
  ~Gateway();

  // --web.config.file: TLS, basic auth and response headers for every endpoint. Before
  // start().
  void set_web_config(std::string path, WebConfig initial);
  // --web.max-connections. Before start().
  void set_max_connections(int n) { max_connections_ = n; }

  Status start();
  // Re-reads the config file; on any error keeps the running config and returns them all.
  Status reload();
  // Graceful stop: refuse new connections, finish requests, drain sinks until the deadline.
  void shutdown();

 private:
  void route(const HttpRequest& req, HttpResponse& res, const Connection& conn);
  Status reload_file();  // reload()'s work, without recording its outcome
  // The web config's headers on `res`, and who sent the request in ctx.identity; false
  // when the request is refused (401 set).
  bool authenticate(const HttpRequest& req, HttpResponse& res, const Connection& conn,
                    pipeline::WorkerContext& ctx);
  // The server's hooks: the TLS context of the web config, and its counters.
  void set_server_hooks(HttpServerOptions& options);
  void discovery_json(HttpResponse& res);
  void refresh_discovery_gauges();
  void aws_events(const HttpRequest& req, HttpResponse& res);
  // The flagged targets, each with its fix written for how `req` reached rwgate.
  std::vector<lb::LbTargetReport> lb_reports(const HttpRequest& req);
  void lb_targets_json(const HttpRequest& req, HttpResponse& res);
  // GET /api/v1/sd (discovery/sd_export.h).
  void serve_sd(const HttpRequest& req, HttpResponse& res);
  // The status page's view of everything running now (proxy/status_page.h).
  StatusView status_view(const HttpRequest& req);
  // Samples the status page's graphs every 5 s until shutdown.
  void sample_status_loop();
  void refresh_lb_gauges();
  // Applies `config`; the errors of sinks whose disk buffer could not be opened (those
  // sinks refuse data, 503, until a config that works is applied).
  Status apply(const Config& config);
  struct RunningSink;
  std::map<std::string, RunningSink> start_sinks(const Config& config, std::string& errors);
  void restart_discovery_if_changed(const Config& config);
  std::shared_ptr<IngestSnapshot> ingest_snapshot(const Config& config,
                                                  const std::map<std::string, RunningSink>& next);

  std::string config_path_;
  std::chrono::milliseconds drain_timeout_;
  Config config_;

  prometheus::Registry registry_;
  sinks::SinkMetricFamilies sink_metrics_;
  prometheus::Family<prometheus::Counter>& reloads_;
  prometheus::Counter& reload_counter(bool success);
  std::once_flag reload_counters_once_;
  std::array<prometheus::Counter*, 2> reload_counters_{};  // failure, success
  prometheus::Gauge& last_reload_success_;
  IngestHandler ingest_;
  prometheus::Family<prometheus::Counter>& relabel_dropped_;
  size_t worker_threads_ = 1;
  int max_connections_ = 512;
  // One per HTTP worker, indexed as the server numbers them; they outlive the server and
  // the stale-marker sender, which reads their trackers.
  std::vector<std::unique_ptr<pipeline::WorkerContext>> workers_;
  uint64_t generation_ = 0;  // of the label pipeline; bumped on every apply()
  std::unique_ptr<HttpServer> server_;
  std::unique_ptr<WebConfigFile> web_config_;  // null: no --web.config.file
  BasicAuth basic_auth_;
  std::array<prometheus::Counter*, static_cast<size_t>(AuthOutcome::kCount)> auth_failures_{};
  std::array<prometheus::Counter*, std::size(kTlsFailureNames)> tls_failures_{};
  prometheus::Counter* connections_refused_ = nullptr;
  std::atomic<bool> ready_{false};
  Clock::WallTime started_{};
  StatusHistory status_history_;
  std::thread status_sampler_;
  std::mutex status_mu_;  // guards last_reload_ and status_stopping_
  std::condition_variable status_cv_;
  bool status_stopping_ = false;
  ReloadOutcome last_reload_;

  std::mutex reload_mu_;  // guards sinks_ and retiring_, and serializes reloads
  struct RunningSink {
    std::string fingerprint;
    std::shared_ptr<sinks::Sink> sink;  // a RemoteWriteSink, or TenantSinks
    bool disk = false;                  // has a disk buffer (its directory is locked while it runs)
  };
  std::map<std::string, RunningSink> sinks_;
  discovery::SourceMetricFamilies source_metrics_;
  // rwgate_eventbridge_events_total by (counted type, result), resolved on first use.
  enum class EventOutcome : uint8_t { kApplied, kIgnored, kMalformed, kUnauthorized, kCount };
  prometheus::Counter& event_counter(std::string_view type, EventOutcome outcome);
  prometheus::Family<prometheus::Counter>& events_;
  prometheus::Family<prometheus::Counter>& sd_requests_;  // by code
  std::mutex events_mu_;                                  // guards event_counters_
  std::vector<std::array<prometheus::Counter*, static_cast<size_t>(EventOutcome::kCount)>>
      event_counters_;  // by index in discovery::counted_event_types()
  // The running discovery; replaced when its config section changes. Ingest holds it
  // through its snapshot, so an old one lives until the last request using it is done.
  std::shared_ptr<discovery::Discovery> discovery_;
  std::string discovery_fingerprint_;
  // When ingest last saw each instance: outlives a restarted discovery (fleet coverage).
  std::shared_ptr<discovery::InstanceActivities> instance_activities_ =
      std::make_shared<discovery::InstanceActivities>();
  // Load-balancer verdicts outlive reloads: a target's evidence is not config.
  std::shared_ptr<lb::LbDetector> lb_detector_ = std::make_shared<lb::LbDetector>();
  std::shared_ptr<pipeline::HaTracker> ha_tracker_ =
      std::make_shared<pipeline::HaTracker>(Clock::system());
  prometheus::Gauge& ha_clusters_;
  // Tenant ids outlive reloads: queued series and tracked series carry them.
  std::shared_ptr<sinks::TenantNames> tenant_names_ = std::make_shared<sinks::TenantNames>();
  // Per-tenant buckets, active series and counters; they outlive reloads too.
  std::shared_ptr<pipeline::LimitsState> limits_;
  prometheus::Family<prometheus::Gauge>& lb_targets_;
  std::mutex lb_gauges_mu_;                             // guards lb_gauge_labels_
  std::set<std::vector<std::string>> lb_gauge_labels_;  // (job, verdict, evidence) ever set
  std::map<std::string, uint32_t> sink_ids_;            // by sink name, for the series trackers
  std::unique_ptr<staleness::StaleMarkerSender> stale_markers_;
  std::unique_ptr<coverage::CoverageSender> coverage_;
  // The coverage round's setup for `config`, on the sinks of `snapshot`.
  coverage::CoverageSetup coverage_setup(const Config& config, const IngestSnapshot& snapshot);
  struct Retiring {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  std::vector<Retiring> retiring_;  // removed sinks draining; joined once done or at shutdown
  void retire(std::function<void()> drain);
};

}  // namespace rwgate::proxy
