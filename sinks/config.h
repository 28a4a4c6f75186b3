// The `sinks` section of the config file: each sink's remote_write settings, its queue and
// its buffer, read into the types the sink runs on (buffer.type and buffer.fsync are enums
// here, not strings compared again where the sink is built).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/duration.h"
#include "base/net.h"
#include "proto/decode.h"
#include "relabel/rule.h"
#include "sinks/auth_config.h"
#include "sinks/disk_buffer.h"
#include "sinks/tls.h"

namespace YAML {
class Node;
}
namespace rwgate::yaml {
class Reader;
}

namespace rwgate::sinks {

struct QueueConfig {
  int max_samples_per_send = 2000;
  Duration batch_send_deadline = std::chrono::seconds(5);
  int shards = 4;
  Duration min_backoff = Duration(30);
  Duration max_backoff = std::chrono::seconds(5);
  bool retry_on_http_429 = true;
};

enum class BufferType : uint8_t { kMemory, kDisk };
// "memory" | "disk", as written in the config.
std::string_view buffer_type_name(BufferType type);

struct BufferConfig {
  BufferType type = BufferType::kMemory;
  std::string path;  // disk: default data/<sink name>
  uint64_t max_bytes = 1ULL << 30;
  FsyncMode fsync = FsyncMode::kBatch;  // always | batch | never
  bool drop_oldest = false;             // on_full: drop_oldest (default: block, i.e. 503)
};

struct RemoteWriteConfig {
  net::Url url;
  AuthConfig auth;                // basic_auth, authorization, oauth2 or sigv4
  std::optional<net::Url> proxy;  // proxy_url (http://host:port)
  TlsConfig tls;                  // tls_config; enabled for https
  proto::Protocol protocol = proto::Protocol::kV1;
  std::vector<std::pair<std::string, std::string>> headers;
  // How a series' tenant reaches the store (sinks/tenant_sinks.h): this header, and/or a
  // {tenant} in the url's path or query. Neither: the sink gets every tenant's series mixed.
  std::string tenant_header;
  Duration timeout = std::chrono::seconds(30);
  std::vector<relabel::Rule> write_relabel_configs;
  QueueConfig queue;
  BufferConfig buffer;

  bool per_tenant() const {
    return !tenant_header.empty() || url.target.find("{tenant}") != std::string::npos;
  }
};

struct SinkConfig {
  std::string name;
  RemoteWriteConfig remote_write;
  // The sink's YAML as loaded, re-emitted: equal text means an unchanged sink on reload.
  std::string fingerprint;
};

// Reads the `sinks` list (names unique, disk buffer paths unique) into `out`.
// `names`: the name_validation_scheme write_relabel_configs are checked with.
void read_sinks(yaml::Reader& r, const YAML::Node& node, relabel::NameValidation names,
                std::vector<SinkConfig>& out);

}  // namespace rwgate::sinks
