#include "pipeline/ha_dedup.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <tuple>

#include "base/json.h"
#include "base/utf8.h"
#include "base/yaml_reader.h"

namespace rwgate::pipeline {

void read_ha_dedup(yaml::Reader& r, const YAML::Node& node, HaDedupConfig& out) {
  const std::string path = "ha_dedup";
  if (!r.map(node, path, {"cluster_label", "replica_label", "failover_timeout", "max_clusters"}))
    return;
  out.enabled = true;
  r.string(node, path, "cluster_label", out.cluster_label);
  r.string(node, path, "replica_label", out.replica_label);
  r.duration(node, path, "failover_timeout", out.failover_timeout);
  r.integer<size_t>(node, path, "max_clusters", out.max_clusters, 1, 10000000);
  for (auto [key, name] :
       {std::pair{"cluster_label", &out.cluster_label}, {"replica_label", &out.replica_label}}) {
    if (name->empty() || !utf8::valid(*name) || *name == "__name__") {
      r.error(path + "." + key, node[key], "must be a label name other than __name__");
    }
  }
  if (out.cluster_label == out.replica_label) {
    r.error(path + ".replica_label", node["replica_label"], "must differ from cluster_label");
  }
  if (out.failover_timeout < std::chrono::seconds(1)) {
    r.error(path + ".failover_timeout", node["failover_timeout"], "must be at least 1s");
  }
}

void HaTracker::configure(const HaDedupConfig& config) {
  std::lock_guard lock(mu_);
  config_ = config;
  while (lru_.size() > config_.max_clusters) forget_idlest();
}

void HaTracker::forget_idlest() {
  by_key_.erase(lru_.back().key);
  lru_.pop_back();
}

bool HaTracker::elect(uint32_t tenant, std::string_view cluster, std::string_view replica,
                      Clock::SteadyTime now, HaDedupStats& stats) {
  key_.assign(reinterpret_cast<const char*>(&tenant), sizeof tenant).append(cluster);
  auto it = by_key_.find(key_);
  if (it == by_key_.end()) {
    if (lru_.size() >= config_.max_clusters) {
      forget_idlest();
      ++stats.evicted;
    }
    lru_.push_front(
        Cluster{key_, tenant, std::string(cluster), std::string(replica), now, now, now, 0});
    by_key_.emplace(lru_.front().key, lru_.begin());
    return true;
  }
  lru_.splice(lru_.begin(), lru_, it->second);  // most recently heard from first
  Cluster& c = *it->second;
  c.last_seen = now;
  if (c.elected == replica) {
    c.last_elected = now;
    return true;
  }
  if (now - c.last_elected <= config_.failover_timeout) return false;
  c.elected = std::string(replica);
  c.elected_at = c.last_elected = now;
  ++c.failovers;
  ++stats.failovers;
  return true;
}

HaDedupStats HaTracker::dedup(proto::Batch& batch) {
  HaDedupStats stats;
  std::lock_guard lock(mu_);
  const Clock::SteadyTime now = clock_.steady();
  // A request from one Prometheus carries one (tenant, cluster, replica), or a few when
  // its series belong to several tenants: each is decided once per request, the decisions
  // kept in a small memo (electing the same replica again at the same time changes nothing).
  struct Decision {
    uint32_t tenant;
    std::string_view cluster, replica;
    bool accepted;
  };
  std::array<Decision, 8> memo;
  size_t memo_size = 0, memo_next = 0;
  auto decide = [&](uint32_t tenant, std::string_view cluster, std::string_view replica) {
    for (size_t k = 0; k < memo_size; ++k) {
      const Decision& d = memo[k];
      if (d.tenant == tenant && d.cluster == cluster && d.replica == replica) return d.accepted;
    }
    const bool accepted = elect(tenant, cluster, replica, now, stats);
    memo[memo_next] = {tenant, cluster, replica, accepted};
    memo_next = (memo_next + 1) % memo.size();
    memo_size = std::max(memo_size, memo_next == 0 ? memo.size() : memo_next);
    return accepted;
  };
  size_t kept = 0;
  for (size_t i = 0; i < batch.series.size(); ++i) {
    proto::Series s = batch.series[i];
    proto::Label* labels = batch.labels.data() + s.labels_begin;
    proto::Label* const end = labels + s.labels_count;
    const proto::Label* cluster = nullptr;
    proto::Label* replica = nullptr;
    for (proto::Label* l = labels; l != end && (cluster == nullptr || replica == nullptr); ++l) {
      if (l->name == config_.cluster_label) cluster = l;
      if (l->name == config_.replica_label) replica = l;
    }
    if (replica != nullptr && cluster == nullptr) ++stats.no_cluster;
    if (replica != nullptr && cluster != nullptr) {
      if (!decide(s.tenant, cluster->value, replica->value)) {
        ++stats.dropped_series;
        stats.dropped_samples += s.samples_count + s.histograms_count;
        continue;
      }
      // Off the forwarded series: its labels close up within their own range.
      std::copy(replica + 1, end, replica);
      --s.labels_count;
      s.raw_labels = {};  // the received bytes still hold the replica label
    }
    batch.series[kept++] = s;
  }
  batch.series.resize(kept);
  return stats;
}

std::vector<HaClusterReport> HaTracker::report(const sinks::TenantNames* names) const {
  std::lock_guard lock(mu_);
  const Clock::SteadyTime now = clock_.steady();
  const int64_t wall_now = clock_.wall_ms();
  auto wall = [&](Clock::SteadyTime t) {
    return wall_now - std::chrono::duration_cast<std::chrono::milliseconds>(now - t).count();
  };
  std::vector<HaClusterReport> out;
  for (const Cluster& c : lru_) {
    out.push_back({names != nullptr ? names->name(c.tenant) : std::string(), c.name, c.elected,
                   wall(c.elected_at), wall(c.last_elected), wall(c.last_seen), c.failovers});
  }
  std::sort(out.begin(), out.end(), [](const HaClusterReport& a, const HaClusterReport& b) {
    return std::tie(a.tenant, a.cluster) < std::tie(b.tenant, b.cluster);
  });
  return out;
}

std::string HaTracker::report_json(const sinks::TenantNames* names) const {
  std::string out = "{\"clusters\":[";
  bool first = true;
  for (const HaClusterReport& c : report(names)) {
    out += first ? "{" : ",{";
    first = false;
    if (names != nullptr) append_json_field(out, "tenant", c.tenant);
    append_json_field(out, "cluster", c.cluster);
    append_json_field(out, "elected_replica", c.elected);
    append_json_field(out, "elected_at", format_rfc3339_ms(c.elected_at_ms));
    append_json_field(out, "last_elected_sample", format_rfc3339_ms(c.last_elected_ms));
    append_json_field(out, "last_seen", format_rfc3339_ms(c.last_seen_ms));
    out += "\"failovers\":" + std::to_string(c.failovers) + "}";
  }
  out += "]}\n";
  return out;
}

size_t HaTracker::clusters() const {
  std::lock_guard lock(mu_);
  return lru_.size();
}

}  // namespace rwgate::pipeline
