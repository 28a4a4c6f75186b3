// The `staleness` section of the config file: what happens to the series of an instance
// that goes away.
#pragma once

#include <chrono>

namespace YAML {
class Node;
}
namespace rwgate::yaml {
class Reader;
}

namespace rwgate::staleness {

struct StalenessConfig {
  bool on_terminate = true;       // end the series of instances that go away
  bool drop_late_samples = true;  // drop samples that arrive for them afterwards
  std::chrono::milliseconds series_idle_timeout = std::chrono::minutes(15);
};

void read_staleness(yaml::Reader& r, const YAML::Node& node, StalenessConfig& out);

}  // namespace rwgate::staleness
