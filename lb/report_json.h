// GET /api/v1/lb-targets: every flagged target, as JSON
// {"targets": [{"job", "instance", "verdict", "evidence", "reasons", "first_seen",
//   "last_seen", "series", "fix"}]}, times in RFC 3339.
#pragma once

#include <span>
#include <string>

#include "lb/detector.h"

namespace rwgate::lb {

std::string lb_targets_json(std::span<const LbTargetReport> reports);

}  // namespace rwgate::lb
