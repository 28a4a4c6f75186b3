#include "coverage/coverage.h"

#include <algorithm>
#include <map>

#include "base/clock.h"
#include "base/duration.h"
#include "base/json.h"
#include "base/net.h"

namespace rwgate::coverage {

const char* reason_name(Reason r) {
  switch (r) {
    case Reason::kNone:
      return "none";
    case Reason::kLoadBalancer:
      return "load_balancer";
    case Reason::kStopped:
      return "stopped_sending";
    case Reason::kNeverSeen:
      break;
  }
  return "never_seen";
}

std::string address_of(const discovery::InstanceRecord& r) {
  if (!r.private_ip.empty()) return r.private_ip;
  return r.addresses.empty() ? std::string() : r.addresses.front();
}

std::string InstanceCoverage::id() const {
  return record->instance_id.empty() ? address_of(*record) : record->instance_id;
}

bool expected(const CoverageConfig& config, const discovery::InstanceRecord& record) {
  if (record.is_gone()) return false;
  const std::vector<std::string>& states = config.lifecycle_states;
  if (record.lifecycle_state.empty()) {
    const bool running = record.ec2_state.empty() || record.ec2_state == "running";
    return running && std::find(states.begin(), states.end(), "InService") != states.end();
  }
  return std::find(states.begin(), states.end(), record.lifecycle_state) != states.end();
}

namespace {

// Auto Scaling group -> "load balancer NAME at HOST:PORT (job J)", for the groups behind a
// flagged target that discovery lists as a load balancer.
std::map<std::string, std::string> groups_behind_load_balancers(
    const discovery::DiscoverySnapshot& fleet, std::span<const lb::LbTargetReport> lb_targets) {
  std::map<std::string, std::string> out;
  if (!fleet.has_load_balancers()) return out;
  for (const lb::LbTargetReport& t : lb_targets) {
    const discovery::LoadBalancerRecord* lb = fleet.load_balancer(net::host_of(t.instance));
    if (lb == nullptr) continue;
    for (const std::string& asg : lb->asgs) {
      out.try_emplace(asg, "load balancer " + (lb->name.empty() ? "" : lb->name + " at ") +
                               t.instance + " (job " + t.job + ")");
    }
  }
  return out;
}

}  // namespace

size_t CoverageReport::expected() const {
  size_t n = 0;
  for (const GroupCoverage& g : groups) n += g.instances.size();
  return n;
}

size_t CoverageReport::monitored() const {
  size_t n = 0;
  for (const GroupCoverage& g : groups) n += g.monitored;
  return n;
}

CoverageReport compute_coverage(const CoverageConfig& config,
                                std::shared_ptr<const discovery::DiscoverySnapshot> fleet,
                                std::span<const lb::LbTargetReport> lb_targets, int64_t now_s,
                                int64_t watching_since_s) {
  const std::map<std::string, std::string> behind_lb =
      groups_behind_load_balancers(*fleet, lb_targets);
  const int64_t window_s = std::chrono::duration_cast<std::chrono::seconds>(config.window).count();
  std::map<std::string, GroupCoverage> groups;
  for (const discovery::InstanceRecord& rec : fleet->records()) {
    if (!expected(config, rec)) continue;
    GroupCoverage& g = groups[rec.asg_name];
    g.asg = rec.asg_name;
    const discovery::InstanceActivity& activity = *fleet->activity(rec);
    InstanceCoverage c{&rec, activity.last_seen_s.load(std::memory_order_relaxed)};
    const int64_t since = std::max(activity.listed_since_s, watching_since_s);
    if (c.last_seen_s < since && now_s - since < window_s) {
      ++g.waiting;
      continue;
    }
    if (c.last_seen_s > 0 && now_s - c.last_seen_s <= window_s) {
      ++g.monitored;
    } else if (auto it = behind_lb.find(rec.asg_name);
               !rec.asg_name.empty() && it != behind_lb.end()) {
      c.reason = Reason::kLoadBalancer;
      c.detail = "its group is scraped through " + it->second;
    } else if (c.last_seen_s > 0) {
      c.reason = Reason::kStopped;
      c.detail = "it stopped sending at " + format_rfc3339_ms(c.last_seen_s * 1000);
    } else {
      c.reason = Reason::kNeverSeen;
      c.detail = "never seen: no series matched to it since rwgate started";
    }
    g.instances.push_back(std::move(c));
  }
  CoverageReport report{std::move(fleet), now_s, {}};
  for (auto& [asg, g] : groups) {
    std::sort(g.instances.begin(), g.instances.end(),
              [](const InstanceCoverage& a, const InstanceCoverage& b) { return a.id() < b.id(); });
    report.groups.push_back(std::move(g));
  }
  return report;
}

namespace {

void append_instance(std::string& out, const InstanceCoverage& c) {
  out += "{";
  append_json_field(out, "instance_id", c.id());
  append_json_field(out, "address", address_of(*c.record));
  append_json_field(out, "availability_zone", c.record->availability_zone);
  append_json_field(out, "lifecycle_state", c.record->lifecycle_state);
  append_json_field(out, "reason", reason_name(c.reason));
  append_json_field(out, "detail", c.detail);
  out += "\"last_seen\":";
  if (c.last_seen_s > 0) {
    append_json_string(out, format_rfc3339_ms(c.last_seen_s * 1000));
  } else {
    out += "null";
  }
  out += "}";
}

}  // namespace

std::string coverage_json(const CoverageConfig& config, const CoverageReport& report) {
  std::string out = "{\"enabled\":";
  out += config.enabled ? "true," : "false,";
  append_json_field(out, "at", format_rfc3339_ms(report.at_s * 1000));
  append_json_field(out, "window", format_duration(config.window));
  out += "\"lifecycle_states\":";
  append_json_strings(out, config.lifecycle_states);
  out += ",\"expected\":" + std::to_string(report.expected()) +
         ",\"monitored\":" + std::to_string(report.monitored()) + ",\"groups\":[";
  for (size_t i = 0; i < report.groups.size(); ++i) {
    const GroupCoverage& g = report.groups[i];
    out += i == 0 ? "{" : ",{";
    append_json_field(out, "asg", g.asg);
    out += "\"expected\":" + std::to_string(g.instances.size()) +
           ",\"monitored\":" + std::to_string(g.monitored) +
           ",\"waiting\":" + std::to_string(g.waiting) + ",\"unmonitored\":[";
    bool first = true;
    for (const InstanceCoverage& c : g.instances) {
      if (c.monitored()) continue;
      if (!first) out += ",";
      first = false;
      append_instance(out, c);
    }
    out += "]}";
  }
  out += "]}\n";
  return out;
}

}  // namespace rwgate::coverage
