// The `discovery` section of the config file: which sources run (file, http, aws), the
// gRPC push API, EventBridge events, and how long an unreported instance is kept. The
// per-source settings are declared next to each source (discovery/sources/*.h).
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "discovery/sources/aws_source.h"
#include "discovery/sources/http_source.h"

namespace YAML {
class Node;
}
namespace rwgate::yaml {
class Reader;
}

namespace rwgate::discovery {

struct FileSdConfig {
  std::vector<std::string> files;  // glob patterns
  std::chrono::milliseconds refresh_interval = std::chrono::minutes(5);
};

// discovery.grpc_tls: TLS on the push API, since what is pushed labels every series.
// With client_ca_file, clients must present a certificate it verifies.
struct GrpcTlsConfig {
  std::string cert_file;
  std::string key_file;
  std::string client_ca_file;
  bool enabled() const { return !cert_file.empty(); }
};

struct DiscoveryConfig {
  std::vector<FileSdConfig> file;
  std::vector<HttpSdConfig> http;
  std::vector<AwsSdConfig> aws;
  bool eventbridge_enabled = false;
  std::string eventbridge_api_key;  // read from api_key_file; empty: no key required
  std::chrono::milliseconds missing_after = std::chrono::minutes(2);
  std::string grpc_listen_address;  // empty: the push API is off
  GrpcTlsConfig grpc_tls;

  bool any() const {
    return !file.empty() || !http.empty() || !aws.empty() || eventbridge_enabled ||
           !grpc_listen_address.empty();
  }
};

// Reads the section into `out`; secret files (api_key_file, secret_access_key_file) are
// read here, once.
void read_discovery(yaml::Reader& r, const YAML::Node& node, DiscoveryConfig& out);

}  // namespace rwgate::discovery
