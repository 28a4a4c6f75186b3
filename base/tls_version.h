// TLS versions as Prometheus writes them (TLS10 … TLS13), for the sinks' tls_config and the
// listener's tls_server_config alike. Header-only: OpenSSL's constants and the YAML reader
// are all it needs, and both readers (and their clang fuzz targets) have them.
#pragma once

#include <openssl/tls1.h>

#include <string>
#include <string_view>

#include "base/yaml_reader.h"

namespace rwgate {

// The OpenSSL version constant of a Prometheus version name ("TLS12"), or 0 if unknown.
inline int tls_version_of(std::string_view name) {
  if (name == "TLS10") return TLS1_VERSION;
  if (name == "TLS11") return TLS1_1_VERSION;
  if (name == "TLS12") return TLS1_2_VERSION;
  if (name == "TLS13") return TLS1_3_VERSION;
  return 0;
}

// Reads `key` of `node` (at `path`) into `out`; absent or empty leaves `out` as it is.
inline void read_tls_version(yaml::Reader& r, const YAML::Node& node, const std::string& path,
                             const char* key, int& out) {
  std::string name;
  r.string(node, path, key, name);
  if (name.empty()) return;
  out = tls_version_of(name);
  if (out == 0)
    r.error(yaml::Reader::join(path, key), node[key],
            "must be TLS10, TLS11, TLS12 or TLS13, not \"" + name + "\"");
}

}  // namespace rwgate
