// rwgate's configuration: the YAML file described in docs/configuration.md.
//
// Loading never stops at the first problem: every error is collected with its YAML path
// and line ("sinks[0].remote_write.queue.shards (line 14): must be at least 1"), so a user
// fixes a file in one pass. Unknown keys are errors, as in Prometheus.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/net.h"
#include "discovery/discovery.h"
#include "lb/detector.h"
#include "proto/decode.h"
#include "relabel/rule.h"
#include "staleness/config.h"

namespace rwgate::proxy {

using Duration = std::chrono::milliseconds;

// Parses a Prometheus duration: "1h30m", "5m", "30s", "250ms", "0". Units y w d h m s ms.
std::optional<Duration> parse_duration(std::string_view text);
std::string format_duration(Duration d);

// The one URL parser (base/net.h), under the names this header always had.
using net::parse_url;
using net::Url;

struct ServerConfig {
  std::string listen_address = "127.0.0.1:9201";
  uint64_t max_request_bytes = 32ULL << 20;
  uint64_t max_decoded_bytes = 128ULL << 20;
  int worker_threads = 0;  // 0 = one per core
};

struct QueueConfig {
  int max_samples_per_send = 2000;
  Duration batch_send_deadline = std::chrono::seconds(5);
  int shards = 4;
  Duration min_backoff = Duration(30);
  Duration max_backoff = std::chrono::seconds(5);
  bool retry_on_http_429 = true;
};

struct BufferConfig {
  std::string type = "memory";  // memory | disk
  std::string path;             // disk: default data/<sink name>
  uint64_t max_bytes = 1ULL << 30;
  std::string fsync = "batch";  // always | batch | never
  bool drop_oldest = false;     // on_full: drop_oldest (default: block, i.e. 503)
};

struct RemoteWriteConfig {
  Url url;
  proto::Protocol protocol = proto::Protocol::kV1;
  std::vector<std::pair<std::string, std::string>> headers;
  Duration timeout = std::chrono::seconds(30);
  std::vector<relabel::Rule> write_relabel_configs;
  QueueConfig queue;
  BufferConfig buffer;
};

struct SinkConfig {
  std::string name;
  RemoteWriteConfig remote_write;
  // The sink's YAML as loaded, re-emitted: equal text means an unchanged sink on reload.
  std::string fingerprint;
};

struct EnrichConfig {
  std::string match_label = "instance";
  std::vector<relabel::Rule> relabel_configs;  // empty: the default mapping
  bool annotate_miss = false;                  // on_miss: annotate
};

// Detection on, action annotate, the built-in name patterns.
lb::LbRules default_lb_rules();

struct Config {
  ServerConfig server;
  discovery::DiscoveryConfig discovery;
  std::string discovery_fingerprint;  // the discovery section as loaded; equal = unchanged
  EnrichConfig enrich;
  // load_balancer_detection; `names` holds the built-in and host_patterns regexes.
  lb::LbRules load_balancer_detection = default_lb_rules();
  staleness::StalenessConfig staleness;
  std::vector<relabel::Rule> relabel_configs;  // global, applied to every series first
  size_t relabel_cache_max_entries = 100000;   // relabel.cache_max_entries
  std::vector<SinkConfig> sinks;
};

struct ConfigResult {
  std::optional<Config> config;
  std::vector<std::string> errors;  // each "path (line N): reason"
};

ConfigResult parse_config(const std::string& yaml_text);
ConfigResult load_config_file(const std::string& path);

// The built-in configuration used when no --config.file is given.
Config default_config(const std::string& sink_url);

}  // namespace rwgate::proxy
