#include "proxy/version.h"

namespace rwgate::proxy {

std::string version_text() {
  const BuildInfo& b = build_info();
  std::string out = "rwgate, version " + std::string(b.version) +
                    " (branch: " + std::string(b.branch) +
                    ", revision: " + std::string(b.revision) + ")\n";
  out += "  build user:       " + std::string(b.build_user) + "\n";
  out += "  build date:       " + std::string(b.build_date) + "\n";
  out += "  compiler:         " + std::string(b.compiler) + "\n";
  out += "  platform:         " + std::string(b.platform) + "\n";
  return out;
}

}  // namespace rwgate::proxy
