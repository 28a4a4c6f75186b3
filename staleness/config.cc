#include "staleness/config.h"

#include <yaml-cpp/yaml.h>

#include "base/yaml_reader.h"

namespace rwgate::staleness {

void read_staleness(yaml::Reader& r, const YAML::Node& node, StalenessConfig& out) {
  const std::string path = "staleness";
  if (!r.map(node, path, {"on_terminate", "drop_late_samples", "series_idle_timeout"})) return;
  r.boolean(node, path, "on_terminate", out.on_terminate);
  r.boolean(node, path, "drop_late_samples", out.drop_late_samples);
  r.duration(node, path, "series_idle_timeout", out.series_idle_timeout);
  if (out.series_idle_timeout < std::chrono::seconds(1)) {
    r.error(path + ".series_idle_timeout", node["series_idle_timeout"], "must be at least 1s");
  }
}

}  // namespace rwgate::staleness
