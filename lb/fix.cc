#include "lb/fix.h"

#include <algorithm>
#include <cctype>

#include <yaml-cpp/yaml.h>

#include "base/net.h"

namespace rwgate::lb {

namespace {

// A label value (the job, from the sender) as a YAML scalar that reads back as that string:
// plain when that is safe, else quoted, so that no value adds a line of its own to the
// config. (yaml-cpp's own plain style would leave `true` and `1` unquoted.)
std::string yaml_scalar(std::string_view v) {
  // Plain: a name that starts with a letter and that YAML reads as nothing but a string.
  static constexpr std::string_view kReserved[] = {"true", "false", "null", "yes", "no",
                                                   "on",   "off",   "y",    "n"};
  std::string lower(v);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const bool plain =
      !v.empty() && (std::isalpha(static_cast<unsigned char>(v[0])) || v[0] == '_') &&
      std::all_of(v.begin(), v.end(),
                  [](char c) {
                    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' ||
                           c == '.' || c == '/';
                  }) &&
      std::find(std::begin(kReserved), std::end(kReserved), lower) == std::end(kReserved);
  if (plain) return std::string(v);
  // Else quoted by yaml-cpp: single quotes, double quotes with escapes for line breaks.
  YAML::Emitter e;
  e << YAML::SingleQuoted << std::string(v);
  return e.c_str();
}

// The ec2_sd_configs variant: Prometheus's own discovery, with what is known filled in
// and the rest in <angle brackets>. Every line is prefixed by `indent` ("# " when it is
// the commented alternative).
std::string ec2_sd_block(const LbTargetReport& t, std::string_view region, std::string_view asg,
                         std::string_view port, std::string_view indent) {
  auto or_ = [](std::string_view v, std::string_view placeholder) {
    return std::string(v.empty() ? placeholder : v);
  };
  std::string out;
  auto line = [&](const std::string& l) { out.append(indent).append(l).append("\n"); };
  line("- job_name: " + yaml_scalar(t.job));
  line("  ec2_sd_configs:");
  line("    - region: " + or_(region, "<region>"));
  line("      port: " + or_(port, "<port>"));
  line("      filters:");
  line("        - name: tag:aws:autoscaling:groupName");
  line("          values: [" + or_(asg, "<the Auto Scaling group behind the load balancer>") + "]");
  line("        - name: instance-state-name");
  line("          values: [running]");
  line("  relabel_configs:");
  line("    - source_labels: [__meta_ec2_instance_id]");
  line("      target_label: instance_id");
  return out;
}

}  // namespace

std::string fix_text(const LbTargetReport& t, const FixContext& ctx) {
  const std::string_view host = net::host_of(t.instance);
  const discovery::LoadBalancerRecord* lb =
      ctx.fleet != nullptr ? ctx.fleet->load_balancer(host) : nullptr;
  // The port the instances serve on: the one the balancer forwards to when discovery
  // knows it, else the one scraped (the same port behind a TCP balancer).
  std::string port = lb != nullptr ? lb->target_port : std::string();
  if (port.empty()) port = std::string(net::split_host_port(t.instance).port);
  std::string region = LbNamePatterns::aws_region_of(t.instance);
  if (region.empty() && lb != nullptr) region = lb->region;
  // Discovery knows the groups behind the balancer: lb= follows its registrations.
  const bool by_lb = lb != nullptr && !lb->asgs.empty();
  const std::string asg = by_lb ? lb->asgs.front() : t.asg;

  std::string out = "# " + t.instance +
                    " answers from several processes in turn: scrape each instance behind it\n"
                    "# through service discovery instead, so every one gets its own `instance`.\n";
  if (asg.empty()) {
    out += ec2_sd_block(t, region, asg, port, "");
    out += "# Or rwgate's own discovery, which scrapes only InService instances:\n";
    out += "#   http_sd_configs: [{url: '" + ctx.rwgate_url +
           "/api/v1/sd?asg=<the Auto Scaling group>&port=" + (port.empty() ? "<port>" : port) +
           "'}]\n";
    if (region.empty()) {
      out +=
          "# Not on AWS: list the backends themselves, e.g. file_sd_configs with one target\n"
          "# per backend (the hosts of the load balancer's upstream), not the balancer.\n";
    }
    return out;
  }
  // Known: the balancer, or else the group the flag named.
  std::string query =
      by_lb ? "lb=" + net::percent_encode(lb->dns_name) : "asg=" + net::percent_encode(asg);
  if (!port.empty()) query += "&port=" + port;
  out += "# rwgate serves the InService instances of " +
         (by_lb && lb->asgs.size() > 1 ? std::string("the groups behind it")
                                       : "Auto Scaling group " + asg) +
         ":\n";
  out += "- job_name: " + yaml_scalar(t.job) + "\n";
  out += "  http_sd_configs:\n";
  out += "    - url: " + ctx.rwgate_url + "/api/v1/sd?" + query + "\n";
  out += "      refresh_interval: 30s\n";
  if (ctx.basic_auth) {
    out += "      basic_auth: # rwgate asks for credentials (its --web.config.file)\n";
    out += "        username: <user>\n";
    out += "        password_file: <file>\n";
  }
  out += "# Or Prometheus's own EC2 discovery (it does not know lifecycle states, so it also\n";
  out += "# scrapes instances that are Pending, in Standby or Terminating:Wait):\n";
  out += ec2_sd_block(t, region, asg, port, "# ");
  return out;
}

void add_fixes(std::vector<LbTargetReport>& reports, const FixContext& ctx) {
  for (LbTargetReport& r : reports) r.fix = fix_text(r, ctx);
}

}  // namespace rwgate::lb
