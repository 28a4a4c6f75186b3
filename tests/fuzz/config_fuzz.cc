// libFuzzer target: the YAML config loader. Any input gives a config or a list of errors,
// each one line with a path; never a crash or an exception escaping.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "proxy/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const rwgate::proxy::ConfigResult r = rwgate::proxy::parse_config(text);
  if (!r.config && r.errors.empty()) std::abort();
  if (r.config && !r.errors.empty()) std::abort();
  for (const std::string& e : r.errors) {
    if (e.empty()) std::abort();
  }
  return 0;
}
