// The `coverage` section of the config file: which instances of the fleet are expected to
// send data, and where the coverage series go (coverage/coverage.h).
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace YAML {
class Node;
}
namespace rwgate::yaml {
class Reader;
}

namespace rwgate::coverage {

struct CoverageConfig {
  bool enabled = false;  // the file's `enabled`, or on whenever discovery is
  // An instance is monitored while a series matched to it arrived within the window.
  std::chrono::milliseconds window = std::chrono::minutes(2);
  // Lifecycle states whose instances are expected to report (Pending and Terminating ones
  // are not scraped yet, or no more).
  std::vector<std::string> lifecycle_states = {"InService"};
  std::chrono::milliseconds interval = std::chrono::seconds(15);
  bool emit_series = true;         // send rwgate_fleet_* series to the sinks every interval
  std::vector<std::string> sinks;  // by name; empty: every sink
};

// `discovery_on`: whether a discovery source is configured (coverage needs one, and is on
// by default with one). `sink_names`: the configured sinks, which `sinks` must name.
void read_coverage(yaml::Reader& r, const YAML::Node& node, bool discovery_on,
                   const std::vector<std::string>& sink_names, CoverageConfig& out);

}  // namespace rwgate::coverage
