// The late-sample rule: a sample that arrives after its instance went away.
//
// With staleness.drop_late_samples, the label pipeline drops the series of an instance
// that is gone: its record says so (lifecycle Terminated, EC2 terminated, ...), or it
// left discovery recently (the snapshot keeps such instances for an hour so they are still
// recognised). The stale-marker sender has ended those series already; a sample arriving
// now would bring one back for the lookback window. An instance that comes back is matched
// live again, and its series flow.
#pragma once

#include <string_view>

#include "discovery/instance.h"

namespace rwgate::staleness {

// A sample of `host` (whose record, if discovery has one, is `rec`) comes after its
// instance went.
inline bool is_late(const discovery::DiscoverySnapshot& d, const discovery::InstanceRecord* rec,
                    std::string_view host) {
  if (host.empty()) return false;
  return rec != nullptr ? rec->is_gone() : d.lookup_gone(host) != nullptr;
}

}  // namespace rwgate::staleness
