// The `load_balancer_detection` section of the config file, read into lb::LbRules.
#pragma once

#include "lb/detector.h"

namespace YAML {
class Node;
}
namespace rwgate::yaml {
class Reader;
}

namespace rwgate::lb {

// Detection on, action annotate, the built-in name patterns.
LbRules default_lb_rules();

// Reads the section over `out` (which starts as default_lb_rules()).
void read_load_balancer_detection(yaml::Reader& r, const YAML::Node& node, LbRules& out);

}  // namespace rwgate::lb
