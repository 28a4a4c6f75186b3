#include "proxy/gateway.h"
#include "proxy/version.h"

#include <openssl/crypto.h>
#include <prometheus/text_serializer.h>

#include <boost/beast/http.hpp>

#include "base/cpus.h"
#include "base/log.h"
#include "proxy/pages.h"

#include <set>

namespace rwgate::proxy {

namespace http = boost::beast::http;

namespace {

sinks::RemoteWriteOptions sink_options(const SinkConfig& c) {
  const RemoteWriteConfig& rw = c.remote_write;
  sinks::RemoteWriteOptions o;
  o.name = c.name;
  o.host = rw.url.host;
  o.port = rw.url.port;
  o.target = rw.url.target;
  o.protocol = rw.protocol;
  o.headers = rw.headers;
  o.tls = rw.tls;
  o.timeout = rw.timeout;
  o.credentials = sinks::make_credentials(rw.auth, rw.timeout);
  o.proxy = rw.proxy;
  o.max_samples_per_send = rw.queue.max_samples_per_send;
  o.batch_send_deadline = rw.queue.batch_send_deadline;
  o.shards = rw.queue.shards;
  o.min_backoff = rw.queue.min_backoff;
  o.max_backoff = rw.queue.max_backoff;
  o.retry_on_http_429 = rw.queue.retry_on_http_429;
  o.max_bytes = rw.buffer.max_bytes;
  if (rw.buffer.type == sinks::BufferType::kDisk) {
    sinks::DiskBufferOptions d;
    d.path = rw.buffer.path;
    d.max_bytes = rw.buffer.max_bytes;
    d.fsync = rw.buffer.fsync;
    d.drop_oldest = rw.buffer.drop_oldest;
    // Segments small enough that a delivered one is given back soon, large enough to
    // keep the file count low.
    d.segment_bytes = std::clamp<uint64_t>(rw.buffer.max_bytes / 16, 1ULL << 20, 64ULL << 20);
    o.disk = d;
  }
  return o;
}

}  // namespace

Gateway::Gateway(Config initial, std::string config_path, std::chrono::milliseconds drain_timeout)
    : config_path_(std::move(config_path)),
      drain_timeout_(drain_timeout),
      config_(std::move(initial)),
      sink_metrics_(registry_),
      reloads_(prometheus::BuildCounter()
                   .Name("rwgate_config_reloads_total")
                   .Help("Configuration reloads, by result (success or failure).")
                   .Register(registry_)),
      last_reload_success_(prometheus::BuildGauge()
                               .Name("rwgate_config_last_reload_successful")
                               .Help("1 if the last configuration reload succeeded.")
                               .Register(registry_)
                               .Add({})),
      ingest_(registry_),
      relabel_dropped_(
          prometheus::BuildCounter()
              .Name("rwgate_relabel_dropped_series_total")
              .Help("Series not sent to a sink because relabel_configs or the sink's "
                    "write_relabel_configs dropped them (they still count as accepted).")
              .Register(registry_)),
      source_metrics_(registry_),
      events_(prometheus::BuildCounter()
                  .Name("rwgate_eventbridge_events_total")
                  .Help("EventBridge events received, by detail-type (\"other\" for types rwgate "
                        "does not "
                        "use) and result (applied, ignored, malformed, unauthorized).")
                  .Register(registry_)),
      sd_requests_(prometheus::BuildCounter()
                       .Name("rwgate_sd_requests_total")
                       .Help("Requests to /api/v1/sd, the fleet as http_sd, by status code.")
                       .Register(registry_)),
      ha_clusters_(prometheus::BuildGauge()
                       .Name("rwgate_ha_clusters")
                       .Help("HA clusters (ha_dedup) with an elected replica.")
                       .Register(registry_)
                       .Add({})),
      lb_targets_(prometheus::BuildGauge()
                      .Name("rwgate_lb_flagged_targets")
                      .Help("Targets judged to be load balancers, by job, verdict (suspected, "
                            "confirmed) and evidence (name, behaviour).")
                      .Register(registry_)) {
  worker_threads_ = config_.server.worker_threads > 0
                        ? static_cast<size_t>(config_.server.worker_threads)
                        : usable_cpus();
  std::vector<staleness::SeriesTracker*> trackers;
  for (size_t i = 0; i < worker_threads_; ++i) {
    workers_.push_back(std::make_unique<pipeline::WorkerContext>());
    trackers.push_back(&workers_.back()->tracker);
  }
  stale_markers_ = std::make_unique<staleness::StaleMarkerSender>(std::move(trackers), registry_);
  coverage_ = std::make_unique<coverage::CoverageSender>(lb_detector_, registry_);
  limits_ = std::make_shared<pipeline::LimitsState>(registry_, tenant_names_);
  auto& auth = prometheus::BuildCounter()
                   .Name("rwgate_http_auth_failures_total")
                   .Help(
                       "Requests refused by --web.config.file basic auth, by reason (missing, "
                       "malformed, unknown_user, wrong_password).")
                   .Register(registry_);
  for (size_t i = 1; i < auth_failures_.size(); ++i)
    auth_failures_[i] = &auth.Add({{"reason", auth_outcome_name(static_cast<AuthOutcome>(i))}});
  auto& tls = prometheus::BuildCounter()
                  .Name("rwgate_http_tls_handshake_failures_total")
                  .Help(
                      "TLS handshakes on the listener that failed, by reason (plain_http, "
                      "no_client_certificate, bad_client_certificate, timeout, closed, "
                      "protocol).")
                  .Register(registry_);
  for (size_t i = 0; i < tls_failures_.size(); ++i)
    tls_failures_[i] = &tls.Add({{"reason", kTlsFailureNames[i]}});
  connections_refused_ = &prometheus::BuildCounter()
                              .Name("rwgate_http_connections_refused_total")
                              .Help("Connections closed at once: --web.max-connections were open.")
                              .Register(registry_)
                              .Add({});
  const BuildInfo& build = build_info();
  prometheus::BuildGauge()
      .Name("rwgate_build_info")
      .Help(
          "A metric with a constant '1' value labeled by version, revision, branch and "
          "compiler from which rwgate was built.")
      .Register(registry_)
      .Add({{"version", std::string(build.version)},
            {"revision", std::string(build.revision)},
            {"branch", std::string(build.branch)},
            {"compiler", std::string(build.compiler)}})
      .Set(1);
  last_reload_success_.Set(1);
}

Gateway::~Gateway() { shutdown(); }

// Sinks whose YAML is unchanged are kept with their queues; changed and new ones start.
// Returns the running set for `config`; what stays in sinks_ is to be retired. Adds the
// errors of sinks whose disk buffer cannot open (they refuse data, 503, until fixed).
std::map<std::string, Gateway::RunningSink> Gateway::start_sinks(const Config& config,
                                                                 std::string& errors) {
  std::map<std::string, RunningSink> next;
  for (const SinkConfig& sc : config.sinks) {
    auto it = sinks_.find(sc.name);
    if (it != sinks_.end() && it->second.fingerprint == sc.fingerprint) {
      next.emplace(sc.name, std::move(it->second));
      sinks_.erase(it);
      continue;
    }
    if (it != sinks_.end() && it->second.disk) {
      // It holds its buffer directory's lock: stop it first; what it had not delivered
      // stays on disk for its successor (or for the next start).
      log::info("sink changed; stopping its old instance first", {{"sink", sc.name}});
      it->second.sink->stop(std::chrono::steady_clock::now() + drain_timeout_);
      sinks_.erase(it);
    }
    std::shared_ptr<sinks::Sink> sink;
    if (sc.remote_write.per_tenant()) {
      // A RemoteWriteSink per tenant, each opening its own buffer when its tenant first
      // has data.
      sink = std::make_shared<sinks::TenantSinks>(sink_options(sc), sc.remote_write.tenant_header,
                                                  tenant_names_, config.tenancy.max_tenants,
                                                  sink_metrics_);
    } else {
      auto one = std::make_shared<sinks::RemoteWriteSink>(sink_options(sc), sink_metrics_);
      if (!one->open_error().empty()) {
        errors += (errors.empty() ? "" : "; ") + std::string("sink \"") + sc.name +
                  "\": buffer: " + one->open_error();
        log::error("sink buffer cannot be opened; the sink refuses data (503) until fixed",
                   {{"sink", sc.name}, {"error", one->open_error()}});
      }
      sink = std::move(one);
    }
    sink->start();
    log::info("sink started", {{"sink", sc.name},
                               {"url", sc.remote_write.url.text},
                               {"buffer", sinks::buffer_type_name(sc.remote_write.buffer.type)}});
    next.emplace(sc.name, RunningSink{sc.fingerprint, std::move(sink),
                                      sc.remote_write.buffer.type == sinks::BufferType::kDisk});
  }
  return next;
}

// A new discovery only when its section changed: sources keep their state otherwise.
void Gateway::restart_discovery_if_changed(const Config& config) {
  if (discovery_ && config.discovery_fingerprint == discovery_fingerprint_) return;
  if (discovery_) discovery_->stop();
  discovery_.reset();
  if (config.discovery.any()) {
    discovery_ = std::make_shared<discovery::Discovery>(config.discovery, source_metrics_,
                                                        instance_activities_);
    discovery_->start();
    log::info("discovery started",
              {{"file_sources", std::to_string(config.discovery.file.size())},
               {"eventbridge", config.discovery.eventbridge_enabled ? "on" : "off"}});
  }
  discovery_fingerprint_ = config.discovery_fingerprint;
}

// What ingest runs on for `config`, with the running sinks `next`.
std::shared_ptr<IngestSnapshot> Gateway::ingest_snapshot(
    const Config& config, const std::map<std::string, RunningSink>& next) {
  auto snapshot = std::make_shared<IngestSnapshot>();
  snapshot->max_decoded_bytes = config.server.max_decoded_bytes;
  snapshot->discovery = discovery_;
  pipeline::PipelineRules& rules = snapshot->rules;
  rules = pipeline_rules(config, discovery_ != nullptr);
  snapshot->track_series = discovery_ != nullptr && config.staleness.on_terminate;
  snapshot->mark_seen = discovery_ != nullptr && config.coverage.enabled;
  rules.generation = ++generation_;
  snapshot->names = config.name_validation;
  snapshot->config_yaml = config.redacted;
  snapshot->lb = lb_detector_;
  if (config.ha_dedup.enabled) {
    ha_tracker_->configure(config.ha_dedup);  // the elections outlive the reload
    snapshot->ha = ha_tracker_;
  }
  if (config.tenancy.enabled) {
    snapshot->tenancy = config.tenancy;
    snapshot->tenants = tenant_names_;  // ids outlive reloads: queued series carry them
  }
  if (config.tenancy.enabled || config.limits.enabled) {
    // Without a limits section every limit is 0 (none): the tenants are still accounted.
    limits_->configure(std::make_shared<pipeline::LimitsConfig>(config.limits));
    snapshot->limits = limits_;
  }
  rules.cache_entries_per_thread =
      config.relabel_cache_max_entries / std::max<size_t>(1, worker_threads_);
  for (const SinkConfig& sc : config.sinks) {
    snapshot->sinks.push_back(next.at(sc.name).sink);
    snapshot->sink_ids.push_back(
        sink_ids_.try_emplace(sc.name, static_cast<uint32_t>(sink_ids_.size())).first->second);
    snapshot->sink_names.push_back(sc.name);
    snapshot->relabel_dropped.push_back(&relabel_dropped_.Add({{"sink", sc.name}}));
  }
  return snapshot;
}

Status Gateway::apply(const Config& config) {
  // Caller holds reload_mu_.
  std::string errors;
  std::map<std::string, RunningSink> next = start_sinks(config, errors);
  restart_discovery_if_changed(config);
  std::shared_ptr<IngestSnapshot> snapshot = ingest_snapshot(config, next);
  std::vector<staleness::MarkerSink> marker_sinks;
  for (size_t s = 0; s < snapshot->sinks.size(); ++s)
    marker_sinks.push_back({snapshot->sink_ids[s], snapshot->sinks[s]});
  stale_markers_->configure(
      discovery_, config.staleness,
      [rules = snapshot->rules.enrich](const discovery::InstanceRecord& a,
                                       const discovery::InstanceRecord& b) {
        return pipeline::enrichment_differs(rules, a, b);
      },
      std::move(marker_sinks));
  coverage_->configure(coverage_setup(config, *snapshot));
  ingest_.set_snapshot(std::move(snapshot));
  // What is left in sinks_ was removed or changed: drain it without holding up ingest.
  for (auto& [name, old] : sinks_) {
    log::info("sink removed; draining its queue", {{"sink", name}});
    retire([sink = std::move(old.sink), timeout = drain_timeout_] {
      sink->stop(std::chrono::steady_clock::now() + timeout);
    });
  }
  sinks_ = std::move(next);
  return errors.empty() ? Status() : Status::error(errors);
}

coverage::CoverageSetup Gateway::coverage_setup(const Config& config,
                                                const IngestSnapshot& snapshot) {
  // Every sink, coverage on or off: one it no longer goes to gets the markers that end it.
  return coverage::CoverageSetup{config.coverage, config.coverage.enabled ? discovery_ : nullptr,
                                 snapshot.sinks, config.tenancy, tenant_names_};
}

void Gateway::retire(std::function<void()> drain) {
  // Caller holds reload_mu_. Drains that finished are joined here, so reloads do not pile
  // up threads.
  std::erase_if(retiring_, [](Retiring& r) {
    if (!r.done->load()) return false;
    r.thread.join();
    return true;
  });
  auto done = std::make_shared<std::atomic<bool>>(false);
  retiring_.push_back(Retiring{std::thread([drain = std::move(drain), done] {
                                 drain();
                                 done->store(true);
                               }),
                               done});
}

Status Gateway::start() {
  {
    std::lock_guard lock(reload_mu_);
    if (Status st = apply(config_); !st) return st;
  }
  if (config_.sinks.empty()) {
    log::warn(
        "no sink is configured: writes will be refused with 503 (use --sink.url or a config file)");
  }
  HttpServerOptions options;
  options.listen_address = config_.server.listen_address;
  options.worker_threads = static_cast<int>(worker_threads_);
  options.max_body_bytes = config_.server.max_request_bytes;
  options.on_body_too_large = [this] { ingest_.count_rejected(RejectReason::kBodyTooLarge, 413); };
  set_server_hooks(options);
  server_ = std::make_unique<HttpServer>(
      options, [this](const HttpRequest& req, HttpResponse& res, const Connection& conn) {
        route(req, res, conn);
      });
  if (Status st = server_->start(); !st) return st;
  stale_markers_->start();
  coverage_->start();
  started_ = Clock::system().wall();
  status_sampler_ = std::thread([this] { sample_status_loop(); });
  ready_.store(true);
  log::info("listening", {{"address", config_.server.listen_address},
                          {"port", std::to_string(server_->port())}});
  return {};
}

Status Gateway::reload() {
  if (config_path_.empty()) return Status::error("no --config.file was given; nothing to reload");
  Status st = reload_file();
  std::lock_guard lock(status_mu_);
  last_reload_ = {Clock::system().wall(), static_cast<bool>(st), st ? std::string() : st.reason()};
  return st;
}

Status Gateway::reload_file() {
  ConfigResult loaded = load_config_file(config_path_);
  if (!loaded.config) {
    reload_counter(false).Increment();
    last_reload_success_.Set(0);
    std::string all;
    for (const std::string& e : loaded.errors) {
      log::error("config reload refused", {{"error", e}});
      all += (all.empty() ? "" : "; ") + e;
    }
    return Status::error(all);
  }
  std::lock_guard lock(reload_mu_);
  if (loaded.config->server.listen_address != config_.server.listen_address ||
      loaded.config->server.worker_threads != config_.server.worker_threads ||
      loaded.config->server.max_request_bytes != config_.server.max_request_bytes) {
    log::warn(
        "server.listen_address, worker_threads and max_request_bytes take effect on restart only");
  }
  const Status applied = apply(*loaded.config);
  config_ = std::move(*loaded.config);
  if (!applied) {
    reload_counter(false).Increment();
    last_reload_success_.Set(0);
    return applied;
  }
  reload_counter(true).Increment();
  last_reload_success_.Set(1);
  log::info("config reloaded", {{"file", config_path_}});
  return {};
}

void Gateway::set_web_config(std::string path, WebConfig initial) {
  web_config_ = std::make_unique<WebConfigFile>(
      std::move(path), std::make_shared<const WebConfig>(std::move(initial)));
}

void Gateway::set_server_hooks(HttpServerOptions& options) {
  options.max_connections = max_connections_;
  options.on_connection_refused = [this] { connections_refused_->Increment(); };
  if (!web_config_) return;
  options.tls_context = [this] { return web_config_->current()->tls_context; };
  options.on_tls_failure = [this](TlsFailure why) {
    tls_failures_[static_cast<size_t>(why)]->Increment();
  };
}

bool Gateway::authenticate(const HttpRequest& req, HttpResponse& res, const Connection& conn,
                           pipeline::WorkerContext& ctx) {
  // Who sent it: the basic-auth user when there are users, else the client certificate.
  ctx.identity.assign(conn.client_certificate);
  if (!web_config_) return true;
  const std::shared_ptr<const WebConfig> wc = web_config_->current();
  for (const auto& [name, value] : wc->headers) res.set(name, value);
  if (wc->users.empty()) return true;
  const AuthOutcome outcome = basic_auth_.check(*wc, req[http::field::authorization], ctx.identity);
  if (outcome == AuthOutcome::kOk) return true;
  auth_failures_[static_cast<size_t>(outcome)]->Increment();
  res.set(http::field::www_authenticate, "Basic");
  text_response(res, http::status::unauthorized, "Unauthorized\n");
  return false;
}

void Gateway::route(const HttpRequest& req, HttpResponse& res, const Connection& conn) {
  const std::string_view target = req.target();
  const std::string_view path = target.substr(0, target.find('?'));
  pipeline::WorkerContext& ctx = *workers_[conn.worker];
  if (!authenticate(req, res, conn, ctx)) {
    if (path == "/api/v1/write") ingest_.count_rejected(RejectReason::kUnauthorized, 401);
    return;
  }
  if (path == "/api/v1/write") return ingest_.handle(req, res, ctx);
  const bool get = req.method() == http::verb::get || req.method() == http::verb::head;
  if (path == "/metrics" && get) {
    refresh_discovery_gauges();
    refresh_lb_gauges();
    ha_clusters_.Set(static_cast<double>(ha_tracker_->clusters()));
    res.result(http::status::ok);
    res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
    res.body() = prometheus::TextSerializer().Serialize(registry_.Collect());
    return;
  }
  if (path == "/api/v1/discovery" && get) return discovery_json(res);
  if (path == "/api/v1/lb-targets" && get) return lb_targets_json(req, res);
  if (path == "/api/v1/sd" && get) return serve_sd(req, res);
  if (path == "/api/v1/coverage" && get) {
    res.result(http::status::ok);
    res.set(http::field::content_type, "application/json");
    res.body() = coverage_->json();
    return;
  }
  if (path == "/api/v1/ha-clusters" && get) {
    res.result(http::status::ok);
    res.set(http::field::content_type, "application/json");
    res.body() = ha_tracker_->report_json(ingest_.snapshot()->tenants.get());
    return;
  }
  if (path == "/api/v1/tenants" && get) {
    res.result(http::status::ok);
    res.set(http::field::content_type, "application/json");
    res.body() = ingest_.snapshot()->limits != nullptr ? limits_->report_json()
                                                       : std::string("{\"tenants\":[]}\n");
    return;
  }
  if (path == "/api/v1/aws/events") return aws_events(req, res);
  if (path == "/" && get) return serve_status_page(status_view(req), res);
  if (path == "/instances" && get) {
    const std::shared_ptr<const IngestSnapshot> snap = ingest_.snapshot();
    const auto fleet = snap->discovery ? snap->discovery->cache().snapshot() : nullptr;
    std::map<std::string, size_t> series;
    if (snap->track_series) series = stale_markers_->series_per_instance();
    return serve_instances_page(fleet.get(), snap->track_series ? &series : nullptr,
                                Clock::system().wall(), req, res);
  }
  if (path == "/static/refresh.js" && get) return serve_refresh_script(res);
  if (path == "/api/v1/trace") return serve_trace_api(*ingest_.snapshot(), req, res, ctx.identity);
  if (path == "/trace" && get) {
    std::vector<pipeline::TraceLabels> recent;
    for (const auto& w : workers_) w->recent.collect(recent);
    return serve_trace_page(*ingest_.snapshot(), req, res, ctx.identity, recent);
  }
  if (path == "/config" && get) return serve_config_page(*ingest_.snapshot(), res);
  if (path == "/-/healthy" && get)
    return text_response(res, http::status::ok, "rwgate is Healthy.\n");
  if (path == "/-/ready" && get) {
    return ready_.load()
               ? text_response(res, http::status::ok, "rwgate is Ready.\n")
               : text_response(res, http::status::service_unavailable, "Service Unavailable\n");
  }
  if (path == "/-/reload") {
    if (req.method() != http::verb::post && req.method() != http::verb::put) {
      res.set(http::field::allow, "POST, PUT");
      return text_response(res, http::status::method_not_allowed, "use POST to reload\n");
    }
    Status st = reload();
    return st ? text_response(res, http::status::ok, "")
              : text_response(res, http::status::internal_server_error,
                              "failed to reload config: " + st.reason() + "\n");
  }
  text_response(res, http::status::not_found, "404 page not found\n");
}

prometheus::Counter& Gateway::reload_counter(bool success) {
  // Resolved on first use, so the series appears with the first reload, as before.
  std::call_once(reload_counters_once_, [this] {
    reload_counters_[0] = &reloads_.Add({{"result", "failure"}});
    reload_counters_[1] = &reloads_.Add({{"result", "success"}});
  });
  return *reload_counters_[success ? 1 : 0];
}

void Gateway::shutdown() {
  if (!server_) return;
  ready_.store(false);
  log::info("shutting down: no new connections; finishing requests in flight");
  server_->stop_accepting();
  const auto deadline = std::chrono::steady_clock::now() + drain_timeout_;
  while (server_->in_flight() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  server_->stop();
  server_.reset();
  {
    std::lock_guard lock(status_mu_);
    status_stopping_ = true;
  }
  status_cv_.notify_all();
  if (status_sampler_.joinable()) status_sampler_.join();
  stale_markers_->stop();  // its last markers go into the queues before they drain
  coverage_->stop();
  std::lock_guard lock(reload_mu_);
  log::info("draining sink queues", {{"timeout", format_duration(drain_timeout_)}});
  // All sinks drain at once, each up to the same deadline.
  for (auto& [name, running] : sinks_) {
    retire([sink = running.sink, deadline] { sink->stop(deadline); });
  }
  for (Retiring& r : retiring_) r.thread.join();
  sinks_.clear();
  retiring_.clear();
  log::info("stopped");
}

}  // namespace rwgate::proxy
