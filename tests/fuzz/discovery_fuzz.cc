// libFuzzer target: untrusted JSON into discovery: file_sd/http_sd target lists and
// EventBridge events. First byte picks the parser; target lists (load-balancer groups
// included) then go through the cache into a snapshot. Any input: a result or an error with a
// reason, never a crash; a 400 always has a message.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "discovery/cache.h"
#include "discovery/sources/eventbridge.h"
#include "discovery/sources/source.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  if (data[0] % 2 == 0) {
    std::vector<rwgate::discovery::InstanceRecord> out;
    std::vector<rwgate::discovery::LoadBalancerRecord> lbs;
    const rwgate::Status st = rwgate::discovery::parse_sd_targets(text, out, &lbs);
    if (!st.ok() && st.reason().empty()) std::abort();
    if (!st.ok()) return 0;
    // What a file source then does with it: the snapshot's indexes and activity.
    rwgate::discovery::DiscoveryCache cache(std::chrono::minutes(2));
    cache.replace_source("file", out);
    cache.replace_load_balancers("file", lbs);
    const auto snap = cache.snapshot();
    for (const auto& r : snap->records()) snap->activity(r)->mark(1);
    for (const auto& lb : lbs) {
      if (!lb.dns_name.empty() && snap->load_balancer(lb.dns_name) == nullptr) std::abort();
    }
    return 0;
  }
  rwgate::discovery::DiscoveryCache cache(std::chrono::minutes(2));
  const auto r = rwgate::discovery::apply_eventbridge_event(text, cache);
  if (r.status != 200 && r.status != 400) std::abort();
  if (r.message.empty()) std::abort();
  if (r.applied && cache.snapshot()->records().empty()) std::abort();
  return 0;
}
