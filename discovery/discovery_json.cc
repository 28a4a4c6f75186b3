#include "discovery/discovery_json.h"

#include "base/clock.h"
#include "base/json.h"

namespace rwgate::discovery {

namespace {

void append_instance(std::string& out, const InstanceRecord& r) {
  out += "{";
  append_json_field(out, "instance_id", r.instance_id);
  append_json_field(out, "asg", r.asg_name);
  append_json_field(out, "availability_zone", r.availability_zone);
  append_json_field(out, "availability_zone_id", r.availability_zone_id);
  append_json_field(out, "lifecycle_state", r.lifecycle_state);
  append_json_field(out, "health_status", r.health_status);
  append_json_field(out, "ec2_state", r.ec2_state);
  append_json_field(out, "private_ip", r.private_ip);
  append_json_field(out, "public_ip", r.public_ip);
  append_json_field(out, "private_dns_name", r.private_dns);
  append_json_field(out, "public_dns_name", r.public_dns);
  append_json_field(out, "instance_type", r.instance_type);
  append_json_field(out, "region", r.region);
  append_json_field(out, "protected_from_scale_in", r.protected_from_scale_in);
  append_json_field(out, "source", r.source);
  out += "\"addresses\":";
  append_json_strings(out, r.addresses);
  out += ",\"tags\":";
  append_json_object(out, r.tags);
  out += ",\"gone\":";
  out += r.is_gone() ? "true" : "false";
  out += "}";
}

void append_load_balancer(std::string& out, const LoadBalancerRecord& lb) {
  out += "{";
  append_json_field(out, "name", lb.name);
  append_json_field(out, "dns_name", lb.dns_name);
  append_json_field(out, "type", lb.type);
  append_json_field(out, "region", lb.region);
  append_json_field(out, "source", lb.source);
  append_json_field(out, "target_port", lb.target_port);
  out += "\"asgs\":";
  append_json_strings(out, lb.asgs);
  out += "}";
}

}  // namespace

std::string discovery_json(const Discovery* d) {
  std::string out = "{\"enabled\":";
  out += d != nullptr ? "true" : "false";
  const auto snap = d != nullptr ? d->cache().snapshot() : nullptr;
  out += ",\"generation\":" + std::to_string(snap ? snap->generation() : 0) + ",\"instances\":[";
  if (snap) {
    for (size_t i = 0; i < snap->records().size(); ++i) {
      if (i > 0) out += ",";
      append_instance(out, snap->records()[i]);
    }
  }
  out += "],\"load_balancers\":[";
  if (snap) {
    for (size_t i = 0; i < snap->load_balancers().size(); ++i) {
      if (i > 0) out += ",";
      append_load_balancer(out, snap->load_balancers()[i]);
    }
  }
  // How fresh each source's contribution is: a failing source keeps its last good list.
  out += "],\"sources\":[";
  if (d != nullptr) {
    bool first_source = true;
    for (const auto& [name, at] : d->cache().last_report_per_source()) {
      out += first_source ? "{" : ",{";
      first_source = false;
      append_json_string(out, "name");
      out += ":";
      append_json_string(out, name);
      out += ",\"last_success\":";
      append_json_string(
          out, format_rfc3339_ms(
                   std::chrono::duration_cast<std::chrono::milliseconds>(at.time_since_epoch())
                       .count()));
      out += "}";
    }
  }
  out += "]}\n";
  return out;
}

}  // namespace rwgate::discovery
