// EventBridge: Auto Scaling and EC2 events turned into record updates.
//
// The events arrive as EventBridge delivers them to an API destination: the whole event
// envelope, {"detail-type", "source", "time", "region", "detail": {...}}. The types used,
// and what each says about the instance, are the one table kEventTypes in eventbridge.cc;
// any other event is acknowledged and ignored.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "discovery/cache.h"

namespace rwgate::discovery {

struct EventResult {
  int status = 200;        // 200 applied or ignored, 400 malformed
  std::string message;     // one line
  std::string event_type;  // detail-type, as sent
  bool applied = false;
  // The detail-type for counting: one of the types used, or "other" (bounded label values).
  std::string_view counted_type = "other";
};
EventResult apply_eventbridge_event(const std::string& body, DiscoveryCache& cache);

// Every value EventResult::counted_type takes: the types used, then "other".
std::span<const std::string_view> counted_event_types();

}  // namespace rwgate::discovery
