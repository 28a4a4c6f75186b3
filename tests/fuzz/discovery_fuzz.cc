// libFuzzer target: untrusted input into discovery: file_sd/http_sd target lists,
// EventBridge events and /api/v1/sd queries. The first byte picks: 'Q' a query (served
// against a small fleet), even a target list, odd an event. Target lists (load-balancer
// groups included) go through the cache into a snapshot, and what /api/v1/sd serves of it
// must read back as a target list with one group per instance served. Any input: a result
// or an error with a reason, never a crash; a 400 always has a message.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "discovery/cache.h"
#include "discovery/sd_export.h"
#include "discovery/sources/eventbridge.h"
#include "discovery/sources/source.h"

namespace {

size_t count_groups(const std::string& json) {
  size_t n = 0;
  for (size_t at = json.find("{\"targets\":"); at != std::string::npos;
       at = json.find("{\"targets\":", at + 1))
    ++n;
  return n;
}

void serve_query(const std::string& target) {
  rwgate::discovery::SdQuery q;
  const rwgate::Status st = rwgate::discovery::parse_sd_query(target, q);
  if (!st.ok()) {
    if (st.reason().empty()) std::abort();
    return;
  }
  rwgate::discovery::InstanceRecord r;
  r.instance_id = "i-1";
  r.private_ip = "10.0.0.1";
  r.asg_name = "web";
  r.availability_zone = "us-east-1a";
  r.lifecycle_state = "InService";
  const rwgate::discovery::DiscoverySnapshot fleet(
      1, {r}, {}, {{"lb", "lb.example", "application", "us-east-1", {"web"}, "aws[0]", "9100"}});
  const rwgate::discovery::SdAnswer a = rwgate::discovery::sd_targets(fleet, q);
  if ((a.status != 200 && a.status != 404) || a.body.empty()) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  if (data[0] == 'Q') {
    serve_query(text);
    return 0;
  }
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
    // Served as http_sd, it reads back: one instance per group.
    rwgate::discovery::SdQuery every;
    if (!rwgate::discovery::parse_sd_query("/api/v1/sd?lifecycle=any", every).ok()) std::abort();
    const rwgate::discovery::SdAnswer served = rwgate::discovery::sd_targets(*snap, every);
    std::vector<rwgate::discovery::InstanceRecord> back;
    if (served.status != 200 || !rwgate::discovery::parse_sd_targets(served.body, back).ok() ||
        back.size() != count_groups(served.body))
      std::abort();
    return 0;
  }
  rwgate::discovery::DiscoveryCache cache(std::chrono::minutes(2));
  const auto r = rwgate::discovery::apply_eventbridge_event(text, cache);
  if (r.status != 200 && r.status != 400) std::abort();
  if (r.message.empty()) std::abort();
  if (r.applied && cache.snapshot()->records().empty()) std::abort();
  return 0;
}
