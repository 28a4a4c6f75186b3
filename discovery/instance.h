// What rwgate knows about one instance, and the immutable snapshot of all of them.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/clock.h"
#include "base/net.h"

namespace rwgate::discovery {

// One instance as the sources describe it. Empty strings are "not known". Field names
// follow the AWS APIs; meta_labels() turns them into Prometheus EC2 SD names.
struct InstanceRecord {
  std::string instance_id;
  std::string asg_name;
  std::string availability_zone;
  std::string availability_zone_id;
  std::string lifecycle_state;          // ASG: Pending, InService, Terminating:Wait, ... (opaque)
  std::string health_status;            // ASG: Healthy, Unhealthy
  std::string protected_from_scale_in;  // ASG: "true" or "false"
  std::string ec2_state;  // pending, running, shutting-down, terminated, stopping, stopped
  std::string private_ip;
  std::string public_ip;
  std::string private_dns;
  std::string public_dns;
  std::string instance_type;
  std::string region;
  std::map<std::string, std::string> tags;
  std::vector<std::string> addresses;  // other hosts it answers on (a file_sd target's host)
  std::string source;                  // the source that reported it last
  Clock::WallTime last_reported{};

  // The identity used to merge reports: the instance id, else the first address.
  std::string key() const;
  // Overlays the non-empty fields of `newer` (later reports win field by field).
  void merge_from(const InstanceRecord& newer);
  // Prometheus EC2 SD meta labels (__meta_ec2_*) plus __meta_asg_*, sorted by name.
  std::vector<std::pair<std::string, std::string>> meta_labels() const;
  // Terminated, Detached, Warmed:Terminated, or EC2 shutting-down/terminated/stopped.
  bool is_gone() const;
  friend bool operator==(const InstanceRecord&, const InstanceRecord&) = default;
};

// Builds a record from file_sd/http_sd target labels (__meta_ec2_*, __meta_asg_*).
InstanceRecord record_from_meta_labels(const std::map<std::string, std::string>& labels);

// A load balancer a source listed (the aws source's Elastic Load Balancing calls): its
// DNS name is a host that scrapes must not go through.
struct LoadBalancerRecord {
  std::string name;
  std::string dns_name;  // lower case
  std::string type;      // application, network, gateway, classic
  std::string region;
  std::vector<std::string> asgs;  // Auto Scaling groups registered behind it
  std::string source;             // the source that lists it (set by the cache)
  std::string target_port;        // the instance port it forwards to, when known
  friend bool operator==(const LoadBalancerRecord&, const LoadBalancerRecord&) = default;
};

// When series of an instance last arrived: ingest writes it, fleet coverage reads it
// (coverage/). One per instance, shared by every snapshot that lists the instance, so it
// survives discovery changes.
struct InstanceActivity {
  std::atomic<int64_t> last_seen_s{0};  // wall clock, whole seconds; 0: never
  int64_t listed_since_s = 0;           // when discovery first listed it (0: not known)
  int64_t last_listed_s = 0;            // the last snapshot that listed it (InstanceActivities)

  // A write at most once a second: later requests in the same second only read the line,
  // so workers marking the same instance do not take its cache line from each other. A
  // request that read the clock earlier never moves it back.
  void mark(int64_t now_s) {
    int64_t seen = last_seen_s.load(std::memory_order_relaxed);
    while (seen < now_s &&
           !last_seen_s.compare_exchange_weak(seen, now_s, std::memory_order_relaxed)) {
    }
  }
};

// Every instance's activity, by InstanceRecord::key(). Owned by the gateway and handed to
// each discovery cache it builds, so that what ingest saw outlives a discovery restart (a
// changed discovery section) as well as a snapshot; an instance that leaves and comes back
// within `retention` keeps its history.
class InstanceActivities {
 public:
  static constexpr std::chrono::hours kRetention{1};

  // The activity of each key, created (listed since `now_s`) for keys not known yet; and
  // instances no snapshot holds any more, neither listed nor heard of for kRetention, are
  // forgotten.
  std::vector<std::shared_ptr<InstanceActivity>> bind(const std::vector<std::string>& keys,
                                                      int64_t now_s);

 private:
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<InstanceActivity>> by_key_;
};

// Kept under their old names for callers not yet moved to base/net.h.
using net::canonical_dns_name;
using net::host_of;

// An immutable view of every known instance, with lookup by any of its names, and of the
// instances that went away recently (no source reported them for missing_after), so that
// samples still arriving for them can be told apart from samples of unknown hosts.
class DiscoverySnapshot {
 public:
  // `activity`: by record, the instances' activity carried over from the snapshot before;
  // missing entries start afresh.
  DiscoverySnapshot(uint64_t generation, std::vector<InstanceRecord> records,
                    std::vector<InstanceRecord> gone = {},
                    std::vector<LoadBalancerRecord> load_balancers = {},
                    std::vector<std::shared_ptr<InstanceActivity>> activity = {});

  uint64_t generation() const { return generation_; }
  const std::vector<InstanceRecord>& records() const { return records_; }
  // By private/public IP, private/public DNS name, instance id or another address.
  const InstanceRecord* lookup(std::string_view host) const;
  // A recently gone instance by the same names; null when none (or when a live instance
  // now has that name: lookup() wins).
  const InstanceRecord* lookup_gone(std::string_view host) const;
  // The activity of `record`; null unless it is one of records() (a record of another
  // snapshot, or of gone(), has none here).
  InstanceActivity* activity(const InstanceRecord& record) const {
    const std::less<const InstanceRecord*> before;
    if (before(&record, records_.data()) || !before(&record, records_.data() + records_.size()))
      return nullptr;
    return activity_[static_cast<size_t>(&record - records_.data())].get();
  }
  bool has_gone() const { return !gone_.empty(); }
  const std::vector<InstanceRecord>& gone() const { return gone_; }
  // A load balancer by its DNS name (`host` in any case), or null.
  const LoadBalancerRecord* load_balancer(std::string_view host) const;
  bool has_load_balancers() const { return !load_balancers_.empty(); }
  const std::vector<LoadBalancerRecord>& load_balancers() const { return load_balancers_; }

 private:
  uint64_t generation_;
  std::vector<InstanceRecord> records_;
  std::vector<std::shared_ptr<InstanceActivity>> activity_;  // by record
  std::unordered_map<std::string_view, uint32_t> by_name_;   // views into records_
  std::vector<InstanceRecord> gone_;
  std::unordered_map<std::string_view, uint32_t> gone_by_name_;  // views into gone_
  std::vector<LoadBalancerRecord> load_balancers_;
  std::unordered_map<std::string_view, uint32_t> lb_by_name_;  // views into load_balancers_
};

}  // namespace rwgate::discovery
