#include "proxy/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <fstream>
#include <sstream>

#include "base/yaml_reader.h"

namespace rwgate::proxy {

namespace {

using yaml::Reader;

void read_server(Reader& r, const YAML::Node& node, ServerConfig& out) {
  const std::string path = "server";
  if (!r.map(node, path,
             {"listen_address", "max_request_bytes", "max_decoded_bytes", "worker_threads"}))
    return;
  r.string(node, path, "listen_address", out.listen_address);
  const net::HostPort hp = net::split_host_port(out.listen_address);
  int port = -1;
  if (hp.ok && hp.has_port) {
    auto [end, ec] = std::from_chars(hp.port.data(), hp.port.data() + hp.port.size(), port);
    if (ec != std::errc() || end != hp.port.data() + hp.port.size()) port = -1;
  }
  if (port < 0 || port > 65535) {
    r.error("server.listen_address", node["listen_address"],
            "must be HOST:PORT with a port from 0 to 65535");
  }
  r.integer<uint64_t>(node, path, "max_request_bytes", out.max_request_bytes, 1024, 1ULL << 32);
  r.integer<uint64_t>(node, path, "max_decoded_bytes", out.max_decoded_bytes, 1024, 1ULL << 34);
  r.integer<int>(node, path, "worker_threads", out.worker_threads, 0, 1024);
}

std::string emitted(const YAML::Node& node) {
  YAML::Emitter e;
  e << node;
  return e.c_str();
}

// Every section of a mapping `root`, each by its owner.
void read_sections(Reader& r, const YAML::Node& root, Config& config) {
  // First: every section's relabel rules are checked with it.
  std::string scheme = "utf8";
  r.string(root, "", "name_validation_scheme", scheme);
  if (!relabel::parse_name_validation(scheme, config.name_validation)) {
    r.error("name_validation_scheme", root["name_validation_scheme"],
            "must be utf8 or legacy, not \"" + scheme + "\"");
  }
  const relabel::NameValidation names = config.name_validation;
  read_server(r, root["server"], config.server);
  discovery::read_discovery(r, root["discovery"], config.discovery);
  if (root["discovery"].IsDefined()) config.discovery_fingerprint = emitted(root["discovery"]);
  pipeline::read_enrich(r, root["enrich"], names, config.enrich);
  lb::read_load_balancer_detection(r, root["load_balancer_detection"],
                                   config.load_balancer_detection);
  staleness::read_staleness(r, root["staleness"], config.staleness);
  pipeline::read_ha_dedup(r, root["ha_dedup"], config.ha_dedup);
  pipeline::read_tenancy(r, root["tenancy"], config.tenancy);
  pipeline::read_limits(r, root["limits"], config.tenancy.enabled, config.limits);
  config.relabel_configs =
      relabel::parse_rules(root["relabel_configs"], "relabel_configs", r.errors(), names);
  if (r.map(root["relabel"], "relabel", {"cache_max_entries"})) {
    r.integer<size_t>(root["relabel"], "relabel", "cache_max_entries",
                      config.relabel_cache_max_entries, 0, 100000000);
  }
  sinks::read_sinks(r, root["sinks"], names, config.sinks);
  std::vector<std::string> sink_names;
  for (const SinkConfig& s : config.sinks) sink_names.push_back(s.name);
  coverage::read_coverage(r, root["coverage"], config.discovery.any(), sink_names, config.coverage);
  for (size_t i = 0; i < config.sinks.size(); ++i) {
    if (config.sinks[i].remote_write.per_tenant() && !config.tenancy.enabled) {
      r.error("sinks[" + std::to_string(i) + "].remote_write", root["sinks"][i]["remote_write"],
              "tenant_header or {tenant} in url needs a tenancy section");
    }
  }
}

std::string yaml_error(const YAML::Exception& e) {
  return yaml::one_line("(line " + std::to_string(e.mark.line + 1) + "): " + e.msg);
}

}  // namespace

ConfigResult parse_config(const std::string& yaml_text) {
  ConfigResult result;
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    result.errors.push_back(yaml_error(e));
    return result;
  }
  Config config;
  Reader r(result.errors);
  try {
    if (root.IsDefined() && !root.IsNull()) {
      if (r.map(root, "",
                {"server", "discovery", "enrich", "load_balancer_detection", "staleness", "relabel",
                 "relabel_configs", "name_validation_scheme", "ha_dedup", "tenancy", "limits",
                 "sinks", "coverage"})) {
        read_sections(r, root, config);
      } else {
        r.error("", root, "the config must be a mapping");
      }
    }
  } catch (const YAML::Exception& e) {
    // A shape the readers did not foresee: still an error with a line, never a crash.
    result.errors.push_back(yaml_error(e));
  }
  if (config.sinks.empty() && result.errors.empty()) {
    result.errors.push_back("sinks: at least one sink is required");
  }
  if (result.errors.empty()) {
    config.redacted = redacted_yaml(yaml_text);
    result.config = std::move(config);
  }
  return result;
}

ConfigResult load_config_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    ConfigResult result;
    result.errors.push_back(path + ": cannot read the file");
    return result;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  ConfigResult result = parse_config(ss.str());
  for (std::string& e : result.errors) e = path + ": " + e;
  return result;
}

Config default_config(const std::string& sink_url) {
  Config config;
  if (!sink_url.empty()) {
    SinkConfig sink;
    sink.name = "default";
    std::string why;
    if (auto u = net::parse_url(sink_url, why)) sink.remote_write.url = *u;
    sink.fingerprint = "default " + sink_url;
    config.sinks.push_back(std::move(sink));
  }
  return config;
}

pipeline::PipelineRules pipeline_rules(const Config& config, bool discovery_on) {
  pipeline::PipelineRules rules;
  rules.enrich.enabled = discovery_on;
  rules.enrich.match_label = config.enrich.match_label;
  rules.enrich.rules = config.enrich.relabel_configs;
  rules.enrich.annotate_miss = config.enrich.annotate_miss;
  rules.enrich.drop_late = config.staleness.drop_late_samples;
  // The series tracker keys on the encoded label sets.
  rules.encode_direct = discovery_on && config.staleness.on_terminate;
  rules.global = config.relabel_configs;
  rules.lb = config.load_balancer_detection;
  for (const SinkConfig& sc : config.sinks)
    rules.per_sink.push_back(sc.remote_write.write_relabel_configs);
  return rules;
}

namespace {

// Keys whose value is a secret wherever they appear (Prometheus's Secret fields and ours);
// every value under `headers` is treated as one too (API keys travel there).
constexpr std::array<std::string_view, 6> kSecretKeys = {
    "password", "credentials", "bearer_token", "client_secret", "secret_key", "session_token"};

void redact(YAML::Node node, bool every_value) {
  if (node.IsMap()) {
    for (auto it = node.begin(); it != node.end(); ++it) {
      const std::string key = it->first.IsScalar() ? it->first.Scalar() : std::string();
      YAML::Node value = it->second;
      const bool secret = every_value || std::find(kSecretKeys.begin(), kSecretKeys.end(), key) !=
                                             kSecretKeys.end();
      if (secret && value.IsScalar()) {
        value = "<secret>";
      } else {
        redact(value, secret || key == "headers");
      }
    }
  } else if (node.IsSequence()) {
    for (YAML::Node item : node) redact(item, every_value);
  } else if (node.IsScalar()) {
    // User info in a URL ("https://user:pass@host/").
    const std::string& text = node.Scalar();
    const size_t scheme = text.find("://");
    const size_t at = text.find('@');
    if (scheme != std::string::npos && at != std::string::npos && at > scheme &&
        text.find('/', scheme + 3) > at)
      node = text.substr(0, scheme + 3) + "<secret>" + text.substr(at);
  }
}

}  // namespace

std::string redacted_yaml(const std::string& yaml_text) {
  try {
    YAML::Node root = YAML::Load(yaml_text);
    redact(root, false);
    YAML::Emitter out;
    out << root;
    return std::string(out.c_str()) + "\n";
  } catch (const YAML::Exception&) {
    return {};
  }
}

}  // namespace rwgate::proxy
