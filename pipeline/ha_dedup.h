// HA-pair deduplication, with the semantics of Mimir's HA tracker, decided per series.
//
// Two (or more) Prometheus replicas scrape the same targets and send the same series, told
// apart only by their external labels: `cluster` names the group, `__replica__` the
// replica. For each (tenant, cluster) one replica is elected, the first heard from. Its series go
// on without the replica label; the other replicas' series are dropped, and the request is still
// answered 2xx, so their senders do not retry them. When the elected replica has sent nothing for
// `failover_timeout`, the next replica heard from is elected.
//
// Series without the cluster label, or without the replica label, pass untouched. Unlike
// Mimir, which looks only at a request's first series, each series is decided on its own,
// so a proxy in front that mixes replicas or clusters in one request is deduplicated too.
//
// It runs first, after the tenant stage (pipeline/tenancy.h), on the series as received:
// the labels it reads are the senders' external labels, which no rule of rwgate's should be
// able to hide from it. Two tenants' clusters of the same name are elected apart.
//
// State: one small record per (tenant, cluster), in memory, at most `max_clusters` (the cluster
// idle longest is forgotten first). A restart elects again the first replica heard from.
#pragma once

#include <chrono>
#include <cstdint>
#include <list>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/clock.h"
#include "base/string_hash.h"
#include "proto/batch.h"
#include "sinks/tenant_names.h"

namespace YAML {
class Node;
}
namespace rwgate::yaml {
class Reader;
}

namespace rwgate::pipeline {

// The top-level `ha_dedup` section; present = on.
struct HaDedupConfig {
  bool enabled = false;
  std::string cluster_label = "cluster";
  std::string replica_label = "__replica__";
  std::chrono::milliseconds failover_timeout = std::chrono::seconds(30);
  size_t max_clusters = 10000;
};

void read_ha_dedup(yaml::Reader& r, const YAML::Node& node, HaDedupConfig& out);

// What one batch's deduplication did.
struct HaDedupStats {
  uint64_t dropped_series = 0;   // of replicas that are not elected
  uint64_t dropped_samples = 0;  // their samples and histogram samples
  uint64_t no_cluster = 0;       // series with a replica label and no cluster label
  uint64_t failovers = 0;
  uint64_t evicted = 0;  // clusters forgotten to make room
};

// One cluster, for /api/v1/ha-clusters.
struct HaClusterReport {
  std::string tenant;  // empty: tenancy off
  std::string cluster;
  std::string elected;      // the replica whose series go on
  int64_t elected_at_ms;    // wall clock
  int64_t last_elected_ms;  // when the elected replica last sent
  int64_t last_seen_ms;     // when any replica last sent
  uint64_t failovers;
};

// The elections; shared by the ingest threads (one lock per request), kept across reloads.
class HaTracker {
 public:
  explicit HaTracker(const Clock& clock) : clock_(clock) {}

  // A reload: new label names, timeout or bound; the elections stay.
  void configure(const HaDedupConfig& config);

  // Drops the series of replicas that are not elected (from batch.series; their samples stay
  // in the batch's arrays, counted as received) and takes the replica label off the rest.
  HaDedupStats dedup(proto::Batch& batch);

  // `names`: the tenants' names (null: tenancy off).
  std::vector<HaClusterReport> report(const sinks::TenantNames* names) const;
  // GET /api/v1/ha-clusters: {"clusters": [{"tenant" (with tenancy), "cluster",
  // "elected_replica", "elected_at", "last_elected_sample", "last_seen", "failovers"}]}, by
  // tenant and cluster name.
  std::string report_json(const sinks::TenantNames* names) const;
  size_t clusters() const;

 private:
  struct Cluster {
    std::string key;  // the tenant id's 4 bytes, then the cluster name
    uint32_t tenant;
    std::string name;
    std::string elected;
    Clock::SteadyTime elected_at;
    Clock::SteadyTime last_elected;
    Clock::SteadyTime last_seen;
    uint64_t failovers = 0;
  };
  using Lru = std::list<Cluster>;  // most recently heard from first

  // Whether `replica` of `cluster` is (now) the elected one. Caller holds mu_.
  bool elect(uint32_t tenant, std::string_view cluster, std::string_view replica,
             Clock::SteadyTime now, HaDedupStats& stats);
  void forget_idlest();  // the cluster heard from longest ago; caller holds mu_

  const Clock& clock_;
  mutable std::mutex mu_;  // guards everything below
  HaDedupConfig config_;
  Lru lru_;
  std::unordered_map<std::string, Lru::iterator, StringHash, std::equal_to<>> by_key_;
  std::string key_;  // scratch of elect()
};

}  // namespace rwgate::pipeline
