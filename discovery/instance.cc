#include "discovery/instance.h"

#include <cctype>

#include <algorithm>

namespace rwgate::discovery {

namespace {

void overlay(std::string& dst, const std::string& src) {
  if (!src.empty()) dst = src;
}

// Prometheus's strutil.SanitizeLabelName: every character outside [a-zA-Z0-9_] becomes _.
std::string sanitize(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) c = '_';
  }
  return out;
}

}  // namespace

std::string InstanceRecord::key() const {
  if (!instance_id.empty()) return instance_id;
  if (!private_ip.empty()) return "addr:" + private_ip;
  if (!addresses.empty()) return "addr:" + addresses.front();
  return {};
}

void InstanceRecord::merge_from(const InstanceRecord& newer) {
  overlay(instance_id, newer.instance_id);
  overlay(asg_name, newer.asg_name);
  overlay(availability_zone, newer.availability_zone);
  overlay(availability_zone_id, newer.availability_zone_id);
  overlay(lifecycle_state, newer.lifecycle_state);
  overlay(health_status, newer.health_status);
  overlay(protected_from_scale_in, newer.protected_from_scale_in);
  overlay(ec2_state, newer.ec2_state);
  overlay(private_ip, newer.private_ip);
  overlay(public_ip, newer.public_ip);
  overlay(private_dns, newer.private_dns);
  overlay(public_dns, newer.public_dns);
  overlay(instance_type, newer.instance_type);
  overlay(region, newer.region);
  for (const auto& [k, v] : newer.tags) tags[k] = v;
  for (const std::string& a : newer.addresses) {
    if (std::find(addresses.begin(), addresses.end(), a) == addresses.end()) addresses.push_back(a);
  }
  overlay(source, newer.source);
  last_reported = std::max(last_reported, newer.last_reported);
}

std::vector<std::pair<std::string, std::string>> InstanceRecord::meta_labels() const {
  std::vector<std::pair<std::string, std::string>> out;
  auto add = [&](std::string name, const std::string& value) {
    if (!value.empty()) out.emplace_back(std::move(name), value);
  };
  add("__meta_asg_health_status", health_status);
  add("__meta_asg_lifecycle_state", lifecycle_state);
  add("__meta_asg_name", asg_name);
  add("__meta_asg_protected_from_scale_in", protected_from_scale_in);
  add("__meta_ec2_availability_zone", availability_zone);
  add("__meta_ec2_availability_zone_id", availability_zone_id);
  add("__meta_ec2_instance_id", instance_id);
  add("__meta_ec2_instance_state", ec2_state);
  add("__meta_ec2_instance_type", instance_type);
  add("__meta_ec2_private_dns_name", private_dns);
  add("__meta_ec2_private_ip", private_ip);
  add("__meta_ec2_public_dns_name", public_dns);
  add("__meta_ec2_public_ip", public_ip);
  add("__meta_ec2_region", region);
  for (const auto& [k, v] : tags) add("__meta_ec2_tag_" + sanitize(k), v);
  std::sort(out.begin(), out.end());
  return out;
}

bool InstanceRecord::is_gone() const {
  return lifecycle_state == "Terminated" || lifecycle_state == "Detached" ||
         lifecycle_state == "Warmed:Terminated" || ec2_state == "shutting-down" ||
         ec2_state == "terminated" || ec2_state == "stopped";
}

InstanceRecord record_from_meta_labels(const std::map<std::string, std::string>& labels) {
  InstanceRecord r;
  auto get = [&](const char* name) {
    auto it = labels.find(name);
    return it == labels.end() ? std::string() : it->second;
  };
  r.instance_id = get("__meta_ec2_instance_id");
  r.asg_name = get("__meta_asg_name");
  r.availability_zone = get("__meta_ec2_availability_zone");
  r.availability_zone_id = get("__meta_ec2_availability_zone_id");
  r.lifecycle_state = get("__meta_asg_lifecycle_state");
  r.health_status = get("__meta_asg_health_status");
  r.protected_from_scale_in = get("__meta_asg_protected_from_scale_in");
  r.ec2_state = get("__meta_ec2_instance_state");
  r.private_ip = get("__meta_ec2_private_ip");
  r.public_ip = get("__meta_ec2_public_ip");
  r.private_dns = get("__meta_ec2_private_dns_name");
  r.public_dns = get("__meta_ec2_public_dns_name");
  r.instance_type = get("__meta_ec2_instance_type");
  r.region = get("__meta_ec2_region");
  constexpr std::string_view kTag = "__meta_ec2_tag_";
  for (const auto& [k, v] : labels) {
    if (k.starts_with(kTag)) r.tags[k.substr(kTag.size())] = v;
  }
  // The ASG name also comes as a tag, as EC2 puts it on every member.
  if (r.asg_name.empty()) {
    if (auto it = r.tags.find("aws_autoscaling_groupName"); it != r.tags.end())
      r.asg_name = it->second;
  }
  return r;
}

namespace {
// Records with an instance id first: when a bare address record and a real instance
// share a name, the lookup finds the instance.
void index_names(const std::vector<InstanceRecord>& records,
                 std::unordered_map<std::string_view, uint32_t>& by_name) {
  for (int pass = 0; pass < 2; ++pass) {
    for (uint32_t i = 0; i < records.size(); ++i) {
      const InstanceRecord& r = records[i];
      if (r.instance_id.empty() != (pass == 1)) continue;
      for (const std::string* name :
           {&r.instance_id, &r.private_ip, &r.public_ip, &r.private_dns, &r.public_dns}) {
        if (!name->empty()) by_name.emplace(*name, i);
      }
      for (const std::string& a : r.addresses) by_name.emplace(a, i);
    }
  }
}
}  // namespace

std::vector<std::shared_ptr<InstanceActivity>> InstanceActivities::bind(
    const std::vector<std::string>& keys, int64_t now_s) {
  std::lock_guard lock(mu_);
  std::vector<std::shared_ptr<InstanceActivity>> out;
  out.reserve(keys.size());
  for (const std::string& key : keys) {
    auto& a = by_key_[key];
    if (a == nullptr) {
      a = std::make_shared<InstanceActivity>();
      a->listed_since_s = now_s;
    }
    a->last_listed_s = now_s;  // read and written under mu_ only
    out.push_back(a);
  }
  const int64_t retention_s = std::chrono::seconds(kRetention).count();
  std::erase_if(by_key_, [&](const auto& kv) {
    const InstanceActivity& a = *kv.second;
    return kv.second.use_count() == 1 &&
           now_s - std::max(a.last_seen_s.load(std::memory_order_relaxed), a.last_listed_s) >
               retention_s;
  });
  return out;
}

DiscoverySnapshot::DiscoverySnapshot(uint64_t generation, std::vector<InstanceRecord> records,
                                     std::vector<InstanceRecord> gone,
                                     std::vector<LoadBalancerRecord> load_balancers,
                                     std::vector<std::shared_ptr<InstanceActivity>> activity)
    : generation_(generation),
      records_(std::move(records)),
      activity_(std::move(activity)),
      gone_(std::move(gone)),
      load_balancers_(std::move(load_balancers)) {
  activity_.resize(records_.size());
  for (auto& a : activity_) {
    if (a == nullptr) a = std::make_shared<InstanceActivity>();
  }
  index_names(records_, by_name_);
  index_names(gone_, gone_by_name_);
  for (uint32_t i = 0; i < load_balancers_.size(); ++i)
    lb_by_name_.emplace(load_balancers_[i].dns_name, i);
}

const LoadBalancerRecord* DiscoverySnapshot::load_balancer(std::string_view host) const {
  if (load_balancers_.empty()) return nullptr;
  auto it = lb_by_name_.find(net::canonical_dns_name(host));
  return it == lb_by_name_.end() ? nullptr : &load_balancers_[it->second];
}

const InstanceRecord* DiscoverySnapshot::lookup(std::string_view host) const {
  auto it = by_name_.find(host);
  return it == by_name_.end() ? nullptr : &records_[it->second];
}

const InstanceRecord* DiscoverySnapshot::lookup_gone(std::string_view host) const {
  if (gone_.empty() || by_name_.contains(host)) return nullptr;
  auto it = gone_by_name_.find(host);
  return it == gone_by_name_.end() ? nullptr : &gone_[it->second];
}

}  // namespace rwgate::discovery
