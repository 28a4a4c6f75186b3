// libFuzzer target: the --web.config.file parser. Any input gives a web config or a list
// of errors, each one line; never a crash or an exception escaping.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "proxy/web_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const rwgate::proxy::WebConfigResult r = rwgate::proxy::parse_web_config(text);
  if (r.config.has_value() == !r.errors.empty()) std::abort();
  for (const std::string& e : r.errors) {
    if (e.empty() || e.find('\n') != std::string::npos) std::abort();
  }
  return 0;
}
