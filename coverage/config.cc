#include "coverage/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>

#include "base/yaml_reader.h"

namespace rwgate::coverage {

void read_coverage(yaml::Reader& r, const YAML::Node& node, bool discovery_on,
                   const std::vector<std::string>& sink_names, CoverageConfig& out) {
  out.enabled = discovery_on;
  const std::string path = "coverage";
  if (!r.map(node, path,
             {"enabled", "window", "lifecycle_states", "interval", "emit_series", "sinks"}))
    return;
  r.boolean(node, path, "enabled", out.enabled);
  r.duration(node, path, "window", out.window);
  r.string_list(node, path, "lifecycle_states", out.lifecycle_states);
  r.duration(node, path, "interval", out.interval);
  r.boolean(node, path, "emit_series", out.emit_series);
  r.string_list(node, path, "sinks", out.sinks);
  if (out.enabled && !discovery_on && node["enabled"].IsDefined()) {
    r.error(path + ".enabled", node["enabled"],
            "needs a discovery source: coverage compares what arrives with the fleet discovery "
            "lists");
  }
  if (out.interval < std::chrono::seconds(1))
    r.error(path + ".interval", node["interval"], "must be at least 1s");
  if (out.window < out.interval)
    r.error(path + ".window", node["window"], "must be at least the interval");
  for (size_t i = 0; i < out.lifecycle_states.size(); ++i) {
    if (out.lifecycle_states[i].empty()) {
      r.error(path + ".lifecycle_states[" + std::to_string(i) + "]", node["lifecycle_states"][i],
              "must not be empty");
    }
  }
  for (size_t i = 0; i < out.sinks.size(); ++i) {
    if (std::find(sink_names.begin(), sink_names.end(), out.sinks[i]) == sink_names.end()) {
      r.error(path + ".sinks[" + std::to_string(i) + "]", node["sinks"][i],
              "no sink is named \"" + out.sinks[i] + "\"");
    }
  }
}

}  // namespace rwgate::coverage
