// GET /api/v1/sd: the fleet as Prometheus http_sd, so that Prometheus scrapes every
// instance behind a load balancer itself (instead of the balancer), with the Auto Scaling
// context EC2 SD lacks: only InService instances by default, so instances in Pending,
// Standby or Terminating:Wait are not scraped and do not fill dashboards with noise.
//
// One target group per instance: {"targets": ["<private ip>:<port>"], "labels": {the
// instance's __meta_ec2_* and __meta_asg_* labels, as enrichment sees them}}.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "discovery/instance.h"

namespace rwgate::discovery {

// The query parameters; within one name any value matches, across names all must.
struct SdQuery {
  std::vector<std::string> asgs;        // asg=: Auto Scaling group names
  std::vector<std::string> zones;       // zone=: availability zone name or id
  std::vector<std::string> lifecycles;  // lifecycle=: default InService; "any": every one
  std::string port;                     // port=: the scrape port (empty: see sd_targets)
  std::string lb;                       // lb=: the instances behind this load balancer
};

// Parses the query of a request target ("/api/v1/sd?asg=web&port=9100"). An unknown
// parameter is an error (a misspelt `asg` must not serve the whole fleet), as is a port
// that is not 1-65535.
Status parse_sd_query(std::string_view target, SdQuery& out);

// An instance's lifecycle for the lifecycle= filter: its Auto Scaling state; one in no
// group counts as InService while EC2 says it runs (or says nothing).
std::string_view sd_lifecycle(const InstanceRecord& r);

struct SdAnswer {
  int status = 200;  // 200, or 404 when lb= names no load balancer discovery lists
  std::string body;  // the http_sd JSON, or a one-line reason
};

// The target groups of the instances `q` selects, in snapshot (instance key) order.
// The port is q.port, else (with lb=) the port the balancer forwards to when discovery
// knows it, else none: the target is the bare address and Prometheus adds its default.
SdAnswer sd_targets(const DiscoverySnapshot& fleet, const SdQuery& q);

}  // namespace rwgate::discovery
