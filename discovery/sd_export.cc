#include "discovery/sd_export.h"

#include <algorithm>

#include "base/json.h"
#include "base/net.h"

namespace rwgate::discovery {

Status parse_sd_query(std::string_view target, SdQuery& out) {
  out = SdQuery{};
  for (auto& [name, value] : net::query_params(target)) {
    if (value.empty()) return Status::error(name + ": empty value");
    if (name == "asg") {
      out.asgs.push_back(std::move(value));
    } else if (name == "zone") {
      out.zones.push_back(std::move(value));
    } else if (name == "lifecycle") {
      out.lifecycles.push_back(std::move(value));
    } else if (name == "port") {
      if (!net::valid_port(value))
        return Status::error("port: \"" + value + "\" is not a port number (1-65535)");
      out.port = std::move(value);
    } else if (name == "lb") {
      out.lb = net::canonical_dns_name(value);
    } else {
      return Status::error("unknown parameter \"" + name +
                           "\" (known: asg, zone, lifecycle, port, lb)");
    }
  }
  if (out.lifecycles.empty()) out.lifecycles.emplace_back("InService");
  return {};
}

std::string_view sd_lifecycle(const InstanceRecord& r) {
  if (!r.lifecycle_state.empty()) return r.lifecycle_state;
  return r.ec2_state.empty() || r.ec2_state == "running" ? "InService" : "";
}

namespace {

bool any_of(const std::vector<std::string>& wanted, std::string_view a, std::string_view b = {}) {
  return wanted.empty() || std::any_of(wanted.begin(), wanted.end(), [&](const std::string& w) {
           return w == a || (!b.empty() && w == b);
         });
}

// Where Prometheus reaches the instance: its private address, as EC2 SD's __address__.
std::string_view address_of(const InstanceRecord& r) {
  if (!r.private_ip.empty()) return r.private_ip;
  if (!r.private_dns.empty()) return r.private_dns;
  if (!r.addresses.empty()) return r.addresses.front();
  if (!r.public_ip.empty()) return r.public_ip;
  return r.public_dns;
}

void append_group(std::string& out, const InstanceRecord& r, std::string_view port) {
  out += "{\"targets\":[";
  append_json_string(out, net::join_host_port(address_of(r), port));
  out += "],\"labels\":";
  append_json_object(out, r.meta_labels());
  out += "}";
}

}  // namespace

SdAnswer sd_targets(const DiscoverySnapshot& fleet, const SdQuery& q) {
  std::vector<std::string> asgs = q.asgs;
  std::string port = q.port;
  if (!q.lb.empty()) {
    const LoadBalancerRecord* lb = fleet.load_balancer(q.lb);
    if (lb == nullptr)
      return {404, "lb: no load balancer with DNS name \"" + q.lb + "\" in discovery\n"};
    // The balancer's groups, narrowed by asg= when both are given.
    std::vector<std::string> behind;
    for (const std::string& g : lb->asgs)
      if (any_of(q.asgs, g)) behind.push_back(g);
    if (behind.empty()) return {200, "[]\n"};
    asgs = std::move(behind);
    if (port.empty()) port = lb->target_port;
  }
  const bool any_lifecycle =
      std::find(q.lifecycles.begin(), q.lifecycles.end(), "any") != q.lifecycles.end();
  SdAnswer a;
  a.body = "[";
  bool first = true;
  for (const InstanceRecord& r : fleet.records()) {
    if (r.is_gone() || address_of(r).empty()) continue;
    if (!any_of(asgs, r.asg_name)) continue;
    if (!any_of(q.zones, r.availability_zone, r.availability_zone_id)) continue;
    if (!any_lifecycle && !any_of(q.lifecycles, sd_lifecycle(r))) continue;
    if (!first) a.body += ",";
    first = false;
    append_group(a.body, r, port);
  }
  a.body += "]\n";
  return a;
}

}  // namespace rwgate::discovery
