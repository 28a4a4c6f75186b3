// Tenants on the way out: a sink whose store keeps tenants apart sends each tenant's series
// in requests of their own.
//
// A tenant travels to the store in one of two ways, per sink:
//   tenant_header: X-Scope-OrgID     Mimir, Cortex, Loki-style stores; THANOS-TENANT for Thanos
//   url: .../{tenant}/...            VictoriaMetrics cluster (/insert/{tenant}/prometheus/...),
//                                    or ?extra_label=tenant={tenant} for a single node
//
// Every outgoing request carries exactly one tenant, and no tenant waits on another: each
// tenant gets a RemoteWriteSink of its own (queue, shards, retries, connections and, with a
// disk buffer, the directory <buffer.path>/<tenant>), created the first time the tenant has
// data for the sink. A tenant whose store path fails fills its own queue and gets 503s; the
// others keep flowing. Their number is bounded by the tenant registry (tenancy.max_tenants),
// which also bounds the threads: one sink thread per tenant, and a feeder per disk buffer.
//
// The series of a request reach try_reserve() and enqueue() grouped by tenant (ingest groups
// them); each run of one tenant reserves and takes its share of the estimate.
//
// RW 1.0 family metadata goes only with the series it describes: each tenant gets the
// entries of its own series' families. A request of metadata alone (how Prometheus sends
// it) goes to Batch::metadata_tenant, the sender's tenant or the default; without one it
// reaches no tenant.
//
// With a disk buffer, the tenants that have a directory under <buffer.path> get their
// sinks at once, so that what they had buffered before a restart is sent even if they
// never send again.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "sinks/remote_write_sink.h"
#include "sinks/tenant_names.h"

namespace rwgate::sinks {

// The `{tenant}` placeholder of a sink URL's target replaced by `tenant`.
std::string tenant_target(std::string_view target, std::string_view tenant);

// A sink with tenants: one RemoteWriteSink per tenant, made from `base` on first use.
class TenantSinks final : public Sink {
 public:
  // `header`: the header that carries the tenant (empty: the target's {tenant} does).
  // `max_tenants`: the bound for the tenants found in the disk buffer's directory.
  TenantSinks(RemoteWriteOptions base, std::string header, std::shared_ptr<TenantNames> names,
              size_t max_tenants, SinkMetricFamilies& metrics);
  ~TenantSinks() override;

  const std::string& name() const override { return base_.name; }
  bool try_reserve(const proto::Batch& batch, std::span<const proto::SeriesOut> series,
                   size_t bytes) override;
  void cancel_reservation(const proto::Batch& batch, std::span<const proto::SeriesOut> series,
                          size_t bytes) override;
  Status enqueue(const proto::Batch& batch, std::span<const proto::SeriesOut> series,
                 size_t reserved_bytes) override;
  void status(std::vector<SinkStatus>& out) const override;
  void start() override {}  // each tenant's sink starts when it is made
  // Stops every tenant's sink at once, each draining until `deadline`.
  void stop(std::chrono::steady_clock::time_point deadline) override;

  // The tenants that have a sink here.
  size_t tenants() const;

 private:
  // One tenant's run of series, and its share of a request's estimate.
  struct Run {
    uint32_t tenant;
    std::span<const proto::SeriesOut> series;
    size_t bytes;
  };
  // The run's share of the batch's RW 1.0 metadata, into `out`.
  static void metadata_of(const proto::Batch& batch, const Run& run,
                          std::vector<proto::FamilyMetadata>& out);
  template <typename F>
  static void for_each_run(const proto::Batch& batch, std::span<const proto::SeriesOut> series,
                           size_t bytes, F&& f);
  // The sink of `tenant`; with `create`, made and started when it has none yet (but not
  // once stopping). Null when there is none: tenant 0, an id the registry never handed
  // out. Made outside the lock: opening a tenant's disk buffer holds up no other tenant.
  std::shared_ptr<RemoteWriteSink> sink_of(uint32_t tenant, bool create);
  void open_buffered_tenants(size_t max_tenants);

  const RemoteWriteOptions base_;
  const std::string header_;
  const std::shared_ptr<TenantNames> names_;
  SinkMetricFamilies& metrics_;
  mutable std::mutex mu_;                                    // guards the three below
  std::vector<std::shared_ptr<RemoteWriteSink>> by_tenant_;  // by tenant id
  std::set<uint32_t> creating_;                              // being made, outside the lock
  bool stopped_ = false;
};

}  // namespace rwgate::sinks
