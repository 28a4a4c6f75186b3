#include "lb/report_json.h"

#include "base/clock.h"
#include "base/json.h"

namespace rwgate::lb {

std::string lb_targets_json(std::span<const LbTargetReport> reports) {
  std::string out = "{\"targets\":[";
  bool first = true;
  for (const LbTargetReport& r : reports) {
    out += first ? "{" : ",{";
    first = false;
    append_json_field(out, "job", r.job);
    append_json_field(out, "instance", r.instance);
    append_json_field(out, "verdict", r.verdict);
    append_json_field(out, "evidence", r.evidence);
    out += "\"reasons\":";
    append_json_strings(out, r.reasons);
    out += ",";
    append_json_field(out, "first_seen", format_rfc3339_ms(r.first_seen_ms));
    append_json_field(out, "last_seen", format_rfc3339_ms(r.last_seen_ms));
    out += "\"series\":" + std::to_string(r.series) + ",";
    append_json_string(out, "fix");
    out += ":";
    append_json_string(out, r.fix);
    out += "}";
  }
  out += "]}\n";
  return out;
}

}  // namespace rwgate::lb
