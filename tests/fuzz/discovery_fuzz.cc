// libFuzzer target: untrusted JSON into discovery: file_sd/http_sd target lists and
// EventBridge events. First byte picks the parser. Any input: a result or an error with a
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
    const rwgate::Status st = rwgate::discovery::parse_sd_targets(text, out);
    if (!st.ok() && st.reason().empty()) std::abort();
    return 0;
  }
  rwgate::discovery::DiscoveryCache cache(std::chrono::minutes(2));
  const auto r = rwgate::discovery::apply_eventbridge_event(text, cache);
  if (r.status != 200 && r.status != 400) std::abort();
  if (r.message.empty()) std::abort();
  if (r.applied && cache.snapshot()->records().empty()) std::abort();
  return 0;
}
