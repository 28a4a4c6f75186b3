// GET /api/v1/discovery: the discovery cache as JSON
// {"enabled", "generation", "instances": [...], "load_balancers": [...],
//  "sources": [{"name", "last_success"}]}.
#pragma once

#include <string>

#include "discovery/discovery.h"

namespace rwgate::discovery {

// `d` null: discovery is off.
std::string discovery_json(const Discovery* d);

}  // namespace rwgate::discovery
