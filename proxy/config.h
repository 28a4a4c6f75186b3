// rwgate's configuration: the YAML file described in docs/configuration.md.
//
// Loading never stops at the first problem: every error is collected with its YAML path
// and line ("sinks[0].remote_write.queue.shards (line 14): must be at least 1"), so a user
// fixes a file in one pass. Unknown keys are errors, as in Prometheus.
//
// Each section is read by the folder that owns what it configures, with the shared reader
// of base/yaml_reader.h:
//   server, relabel_configs, relabel      here
//   discovery                             discovery/config.h
//   enrich                                pipeline/config.h
//   ha_dedup                              pipeline/ha_dedup.h
//   tenancy                               pipeline/tenancy.h
//   limits                                pipeline/limits.h
//   load_balancer_detection               lb/config.h
//   staleness                             staleness/config.h
//   sinks                                 sinks/config.h
//   coverage                              coverage/config.h
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/duration.h"
#include "base/net.h"
#include "coverage/config.h"
#include "discovery/config.h"
#include "discovery/discovery.h"  // includers of this header have relied on it
#include "lb/config.h"
#include "pipeline/config.h"
#include "pipeline/ha_dedup.h"
#include "pipeline/label_pipeline.h"
#include "pipeline/limits.h"
#include "pipeline/tenancy.h"
#include "relabel/rule.h"
#include "sinks/config.h"
#include "staleness/config.h"

namespace rwgate::proxy {

// The names this header always had, now declared where they belong.
using lb::default_lb_rules;
using net::parse_url;
using net::Url;
using pipeline::EnrichConfig;
using rwgate::Duration;
using rwgate::format_duration;
using rwgate::parse_duration;
using sinks::BufferConfig;
using sinks::QueueConfig;
using sinks::RemoteWriteConfig;
using sinks::SinkConfig;

struct ServerConfig {
  std::string listen_address = "127.0.0.1:9201";
  uint64_t max_request_bytes = 32ULL << 20;
  uint64_t max_decoded_bytes = 128ULL << 20;
  int worker_threads = 0;  // 0 = one per core
};

struct Config {
  ServerConfig server;
  discovery::DiscoveryConfig discovery;
  std::string discovery_fingerprint;  // the discovery section as loaded; equal = unchanged
  EnrichConfig enrich;
  // load_balancer_detection; `names` holds the built-in and host_patterns regexes.
  lb::LbRules load_balancer_detection = default_lb_rules();
  staleness::StalenessConfig staleness;
  std::vector<relabel::Rule> relabel_configs;  // global, applied to every series first
  // name_validation_scheme: utf8 (Prometheus 3) or legacy (2.x) label names in every rule.
  relabel::NameValidation name_validation = relabel::NameValidation::kUtf8;
  size_t relabel_cache_max_entries = 100000;  // relabel.cache_max_entries
  pipeline::HaDedupConfig ha_dedup;
  pipeline::TenancyConfig tenancy;
  pipeline::LimitsConfig limits;
  std::vector<SinkConfig> sinks;
  coverage::CoverageConfig coverage;  // read after the sinks, which it names
  std::string redacted;  // the YAML as loaded, secrets redacted (/config); empty: built in
};

struct ConfigResult {
  std::optional<Config> config;
  std::vector<std::string> errors;  // each "path (line N): reason"
};

ConfigResult parse_config(const std::string& yaml_text);
ConfigResult load_config_file(const std::string& path);

// The label pipeline's rules for `config`, with discovery on or off; the caller numbers
// the generation. One function for the ingest path and `rwgate trace`.
pipeline::PipelineRules pipeline_rules(const Config& config, bool discovery_on);

// The config file's YAML with every secret (passwords, tokens, credentials, secret keys,
// inline TLS keys, user info in URLs) replaced by "<secret>", as Prometheus shows its
// config; what cannot be parsed gives nothing.
std::string redacted_yaml(const std::string& yaml_text);

// The built-in configuration used when no --config.file is given.
Config default_config(const std::string& sink_url);

}  // namespace rwgate::proxy
