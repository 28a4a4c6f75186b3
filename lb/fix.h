// The fix for a target scraped through a load balancer: a scrape config that scrapes each
// instance behind it instead, ready to paste into prometheus.yml.
//
// When discovery knows the Auto Scaling groups behind the balancer, the fix is an
// http_sd_configs block pointing at rwgate's own /api/v1/sd with the balancer (lb=) and
// the port it forwards to (port=) filled in: rwgate knows the lifecycle states, so only
// InService instances are scraped. Prometheus's ec2_sd_configs follows as the
// alternative, in comments, so that the whole text stays one valid YAML list.
#pragma once

#include <string>

#include "discovery/instance.h"
#include "lb/detector.h"

namespace rwgate::lb {

struct FixContext {
  std::string rwgate_url;   // "http://host:port", as the asker reached rwgate
  bool basic_auth = false;  // rwgate asks for credentials: the block needs basic_auth
  const discovery::DiscoverySnapshot* fleet = nullptr;  // null: discovery is off
};

std::string fix_text(const LbTargetReport& target, const FixContext& ctx);

// Fills `fix` of every report.
void add_fixes(std::vector<LbTargetReport>& reports, const FixContext& ctx);

}  // namespace rwgate::lb
