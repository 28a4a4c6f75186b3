#include "proxy/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include "base/net.h"
#include "base/secret_file.h"

namespace rwgate::proxy {

std::optional<Duration> parse_duration(std::string_view text) {
  if (text == "0") return Duration(0);
  if (text.empty()) return std::nullopt;
  struct Unit {
    std::string_view name;
    int64_t ms;
  };
  // Order matters: units must appear largest first, each at most once (as Prometheus).
  static constexpr Unit kUnits[] = {{"y", 365LL * 24 * 3600 * 1000},
                                    {"w", 7LL * 24 * 3600 * 1000},
                                    {"d", 24LL * 3600 * 1000},
                                    {"h", 3600LL * 1000},
                                    {"m", 60LL * 1000},
                                    {"s", 1000},
                                    {"ms", 1}};
  int64_t total = 0;
  size_t next_unit = 0;
  size_t i = 0;
  while (i < text.size()) {
    size_t j = i;
    while (j < text.size() && std::isdigit(static_cast<unsigned char>(text[j]))) ++j;
    if (j == i) return std::nullopt;
    int64_t n = 0;
    auto [ptr, ec] = std::from_chars(text.data() + i, text.data() + j, n);
    if (ec != std::errc()) return std::nullopt;
    size_t k = j;
    while (k < text.size() && std::isalpha(static_cast<unsigned char>(text[k]))) ++k;
    const std::string_view unit = text.substr(j, k - j);
    bool found = false;
    for (; next_unit < std::size(kUnits); ++next_unit) {
      if (kUnits[next_unit].name == unit) {
        if (n > INT64_MAX / kUnits[next_unit].ms || total > INT64_MAX - n * kUnits[next_unit].ms) {
          return std::nullopt;
        }
        total += n * kUnits[next_unit].ms;
        ++next_unit;
        found = true;
        break;
      }
    }
    if (!found) return std::nullopt;
    i = k;
  }
  return Duration(total);
}

std::string format_duration(Duration d) {
  int64_t ms = d.count();
  if (ms == 0) return "0s";
  std::string out;
  static constexpr std::pair<int64_t, const char*> kUnits[] = {
      {3600LL * 1000, "h"}, {60LL * 1000, "m"}, {1000, "s"}, {1, "ms"}};
  for (auto [size, name] : kUnits) {
    if (ms >= size) {
      out += std::to_string(ms / size) + name;
      ms %= size;
    }
  }
  return out;
}

namespace {

// Walks the YAML tree, remembering errors with their paths.
class Reader {
 public:
  explicit Reader(std::vector<std::string>& errors) : errors_(errors) {}
  std::vector<std::string>& errors() { return errors_; }

  void error(const std::string& path, const YAML::Node& node, const std::string& why) {
    std::string where = path.empty() ? "(top level)" : path;
    if (node.IsDefined() && node.Mark().line >= 0)
      where += " (line " + std::to_string(node.Mark().line + 1) + ")";
    errors_.push_back(where + ": " + why);
  }

  // True when `node` is a map (or absent/null); reports keys not in `known`.
  bool map(const YAML::Node& node, const std::string& path,
           std::initializer_list<std::string_view> known) {
    if (!node.IsDefined() || node.IsNull()) return false;
    if (!node.IsMap()) {
      error(path, node, "must be a mapping");
      return false;
    }
    for (const auto& kv : node) {
      const std::string key = kv.first.Scalar();
      if (std::find(known.begin(), known.end(), key) == known.end()) {
        error(join(path, key), kv.first, "unknown key");
      }
    }
    return true;
  }

  static std::string join(const std::string& path, std::string_view key) {
    return path.empty() ? std::string(key) : path + "." + std::string(key);
  }

  bool scalar(const YAML::Node& node, const std::string& path, std::string& out) {
    if (!node.IsScalar()) {
      error(path, node, "must be a scalar");
      return false;
    }
    out = node.Scalar();
    return true;
  }

  void string(const YAML::Node& parent, const std::string& path, const char* key,
              std::string& out) {
    const YAML::Node n = parent[key];
    if (!n.IsDefined() || n.IsNull()) return;
    scalar(n, join(path, key), out);
  }

  void boolean(const YAML::Node& parent, const std::string& path, const char* key, bool& out) {
    const YAML::Node n = parent[key];
    if (!n.IsDefined() || n.IsNull()) return;
    std::string s;
    if (!scalar(n, join(path, key), s)) return;
    if (s == "true") {
      out = true;
    } else if (s == "false") {
      out = false;
    } else {
      error(join(path, key), n, "must be true or false, not \"" + s + "\"");
    }
  }

  template <typename Int>
  void integer(const YAML::Node& parent, const std::string& path, const char* key, Int& out,
               Int min, Int max) {
    const YAML::Node n = parent[key];
    if (!n.IsDefined() || n.IsNull()) return;
    std::string s;
    if (!scalar(n, join(path, key), s)) return;
    Int v{};
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size()) {
      error(join(path, key), n, "must be an integer, not \"" + s + "\"");
      return;
    }
    if (v < min || v > max) {
      error(join(path, key), n,
            "must be between " + std::to_string(min) + " and " + std::to_string(max));
      return;
    }
    out = v;
  }

  void duration(const YAML::Node& parent, const std::string& path, const char* key, Duration& out) {
    const YAML::Node n = parent[key];
    if (!n.IsDefined() || n.IsNull()) return;
    std::string s;
    if (!scalar(n, join(path, key), s)) return;
    if (auto d = parse_duration(s)) {
      out = *d;
    } else {
      error(join(path, key), n, "not a valid duration \"" + s + "\" (examples: 30s, 5m, 1h30m)");
    }
  }

 private:
  std::vector<std::string>& errors_;
};

// Headers that rwgate sets itself; users may not override them (as in Prometheus).
bool is_reserved_header(std::string name) {
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  static const std::set<std::string> kReserved = {"host",
                                                  "authorization",
                                                  "content-encoding",
                                                  "content-length",
                                                  "content-type",
                                                  "user-agent",
                                                  "connection",
                                                  "keep-alive",
                                                  "proxy-authenticate",
                                                  "proxy-authorization",
                                                  "www-authenticate",
                                                  "retry-after",
                                                  "x-prometheus-remote-write-version"};
  // Authorization is allowed (the simplest way to pass a bearer token); everything else listed is
  // not.
  return name != "authorization" && kReserved.contains(name);
}

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

// `where` locates errors about the value as a whole (the key's line, or its parent's).
void read_remote_write(Reader& r, const YAML::Node& node, const YAML::Node& where,
                       const std::string& path, RemoteWriteConfig& out) {
  if (!r.map(
          node, path,
          {"url", "protocol", "headers", "timeout", "write_relabel_configs", "queue", "buffer"})) {
    if (!node.IsDefined() || node.IsNull()) r.error(path, where, "missing");
    return;
  }
  std::string url;
  r.string(node, path, "url", url);
  if (url.empty()) {
    r.error(Reader::join(path, "url"), node["url"], "missing");
  } else {
    std::string why;
    if (auto u = net::parse_url(url, why)) {
      out.url = *u;
    } else {
      r.error(Reader::join(path, "url"), node["url"], why);
    }
  }
  std::string protocol = "v1";
  r.string(node, path, "protocol", protocol);
  if (protocol == "v1") {
    out.protocol = proto::Protocol::kV1;
  } else if (protocol == "v2") {
    out.protocol = proto::Protocol::kV2;
  } else {
    r.error(Reader::join(path, "protocol"), node["protocol"],
            "must be v1 or v2, not \"" + protocol + "\"");
  }
  const YAML::Node headers = node["headers"];
  if (headers.IsDefined() && !headers.IsNull()) {
    if (!headers.IsMap()) {
      r.error(Reader::join(path, "headers"), headers, "must be a mapping of header name to value");
    } else {
      for (const auto& kv : headers) {
        const std::string hp = Reader::join(path, "headers") + "." + kv.first.Scalar();
        std::string value;
        if (!r.scalar(kv.second, hp, value)) continue;
        if (is_reserved_header(kv.first.Scalar())) {
          r.error(hp, kv.first, "header is set by rwgate and cannot be overridden");
          continue;
        }
        out.headers.emplace_back(kv.first.Scalar(), value);
      }
    }
  }
  r.duration(node, path, "timeout", out.timeout);
  if (out.timeout.count() <= 0)
    r.error(Reader::join(path, "timeout"), node["timeout"], "must be positive");

  out.write_relabel_configs = relabel::parse_rules(
      node["write_relabel_configs"], Reader::join(path, "write_relabel_configs"), r.errors());
  const std::string qp = Reader::join(path, "queue");
  const YAML::Node q = node["queue"];
  if (r.map(q, qp,
            {"max_samples_per_send", "batch_send_deadline", "shards", "min_backoff", "max_backoff",
             "retry_on_http_429"})) {
    r.integer<int>(q, qp, "max_samples_per_send", out.queue.max_samples_per_send, 1, 1000000);
    r.duration(q, qp, "batch_send_deadline", out.queue.batch_send_deadline);
    r.integer<int>(q, qp, "shards", out.queue.shards, 1, 1000);
    r.duration(q, qp, "min_backoff", out.queue.min_backoff);
    r.duration(q, qp, "max_backoff", out.queue.max_backoff);
    r.boolean(q, qp, "retry_on_http_429", out.queue.retry_on_http_429);
    if (out.queue.batch_send_deadline.count() <= 0) {
      r.error(Reader::join(qp, "batch_send_deadline"), q["batch_send_deadline"],
              "must be positive");
    }
    if (out.queue.min_backoff.count() <= 0) {
      r.error(Reader::join(qp, "min_backoff"), q["min_backoff"], "must be positive");
    }
    if (out.queue.min_backoff > out.queue.max_backoff) {
      r.error(Reader::join(qp, "min_backoff"), q["min_backoff"], "must not exceed max_backoff");
    }
  }
  const std::string bp = Reader::join(path, "buffer");
  const YAML::Node b = node["buffer"];
  if (r.map(b, bp, {"type", "path", "max_bytes", "fsync", "on_full"})) {
    r.string(b, bp, "type", out.buffer.type);
    if (out.buffer.type != "memory" && out.buffer.type != "disk") {
      r.error(Reader::join(bp, "type"), b["type"],
              "must be memory or disk, not \"" + out.buffer.type + "\"");
    }
    r.string(b, bp, "path", out.buffer.path);
    r.integer<uint64_t>(b, bp, "max_bytes", out.buffer.max_bytes, 1ULL << 20, 1ULL << 50);
    r.string(b, bp, "fsync", out.buffer.fsync);
    if (out.buffer.fsync != "always" && out.buffer.fsync != "batch" &&
        out.buffer.fsync != "never") {
      r.error(Reader::join(bp, "fsync"), b["fsync"],
              "must be always, batch or never, not \"" + out.buffer.fsync + "\"");
    }
    std::string on_full = "block";
    r.string(b, bp, "on_full", on_full);
    if (on_full == "drop_oldest") {
      out.buffer.drop_oldest = true;
    } else if (on_full != "block") {
      r.error(Reader::join(bp, "on_full"), b["on_full"],
              "must be block or drop_oldest, not \"" + on_full + "\"");
    }
    if (out.buffer.type == "memory" &&
        (b["path"].IsDefined() || b["fsync"].IsDefined() || b["on_full"].IsDefined())) {
      r.error(bp, b, "path, fsync and on_full are for type: disk");
    }
  }
}

void read_string_list(Reader& r, const YAML::Node& parent, const std::string& path, const char* key,
                      std::vector<std::string>& out) {
  const YAML::Node n = parent[key];
  if (!n.IsDefined() || n.IsNull()) return;
  const std::string p = Reader::join(path, key);
  if (!n.IsSequence()) {
    r.error(p, n, "must be a list");
    return;
  }
  out.clear();
  for (size_t i = 0; i < n.size(); ++i) {
    std::string v;
    if (r.scalar(n[i], p + "[" + std::to_string(i) + "]", v)) out.push_back(v);
  }
}

discovery::AwsSdConfig read_aws_source(Reader& r, const YAML::Node& body, const std::string& path,
                                       const YAML::Node& key);

void read_discovery(Reader& r, const YAML::Node& node, discovery::DiscoveryConfig& out) {
  const std::string path = "discovery";
  if (!r.map(node, path, {"sources", "grpc_listen_address", "eventbridge", "missing_after"}))
    return;
  const YAML::Node sources = node["sources"];
  if (sources.IsDefined() && !sources.IsNull()) {
    if (!sources.IsSequence()) {
      r.error("discovery.sources", sources, "must be a list");
    } else {
      for (size_t i = 0; i < sources.size(); ++i) {
        const std::string sp = "discovery.sources[" + std::to_string(i) + "]";
        const YAML::Node s = sources[i];
        if (!s.IsMap() || s.size() != 1) {
          r.error(sp, s, "must have exactly one of file, http, aws");
          continue;
        }
        const std::string kind = s.begin()->first.Scalar();
        const YAML::Node body = s.begin()->second;
        if (kind == "file") {
          discovery::FileSdConfig f;
          const std::string fp = sp + ".file";
          if (r.map(body, fp, {"files", "refresh_interval"})) {
            const YAML::Node files = body["files"];
            if (!files.IsDefined() || !files.IsSequence() || files.size() == 0) {
              r.error(fp + ".files", files.IsDefined() ? files : body,
                      "must be a non-empty list of paths or globs");
            } else {
              for (const auto& f2 : files) {
                std::string v;
                if (r.scalar(f2, fp + ".files", v)) f.files.push_back(v);
              }
            }
            Duration d = f.refresh_interval;
            r.duration(body, fp, "refresh_interval", d);
            if (d.count() <= 0)
              r.error(fp + ".refresh_interval", body["refresh_interval"], "must be positive");
            f.refresh_interval = d;
          } else {
            r.error(fp, s.begin()->first, "must be a mapping with files");
          }
          out.file.push_back(std::move(f));
        } else if (kind == "http") {
          discovery::HttpSdConfig h;
          const std::string hp = sp + ".http";
          if (r.map(body, hp, {"url", "refresh_interval"})) {
            std::string url;
            r.string(body, hp, "url", url);
            std::string why;
            if (url.empty()) {
              r.error(hp + ".url", body, "missing");
            } else if (auto u = net::parse_url(url, why)) {
              h.url = u->text;
              h.host = u->host;
              h.port = u->port;
              h.target = u->target;
            } else {
              r.error(hp + ".url", body["url"], why);
            }
            Duration d = h.refresh_interval;
            r.duration(body, hp, "refresh_interval", d);
            if (d.count() <= 0)
              r.error(hp + ".refresh_interval", body["refresh_interval"], "must be positive");
            h.refresh_interval = d;
          } else {
            r.error(hp, s.begin()->first, "must be a mapping with url");
          }
          out.http.push_back(std::move(h));
        } else if (kind == "aws") {
          out.aws.push_back(read_aws_source(r, body, sp + ".aws", s.begin()->first));
        } else {
          r.error(sp + "." + kind, s.begin()->first,
                  "unknown source type (want file, http or aws)");
        }
      }
    }
  }
  r.string(node, path, "grpc_listen_address", out.grpc_listen_address);
  if (!out.grpc_listen_address.empty() && !net::split_host_port(out.grpc_listen_address).has_port) {
    r.error("discovery.grpc_listen_address", node["grpc_listen_address"], "must be HOST:PORT");
  }
  const YAML::Node eb = node["eventbridge"];
  if (r.map(eb, "discovery.eventbridge", {"enabled", "api_key_file"})) {
    r.boolean(eb, "discovery.eventbridge", "enabled", out.eventbridge_enabled);
    std::string key_file;
    r.string(eb, "discovery.eventbridge", "api_key_file", key_file);
    if (!key_file.empty() && !read_secret_file(key_file, out.eventbridge_api_key)) {
      r.error("discovery.eventbridge.api_key_file", eb["api_key_file"],
              "cannot read a key from \"" + key_file + "\"");
    }
  }
  Duration missing = out.missing_after;
  r.duration(node, path, "missing_after", missing);
  out.missing_after = missing;
}

discovery::AwsSdConfig read_aws_source(Reader& r, const YAML::Node& body, const std::string& path,
                                       const YAML::Node& key) {
  discovery::AwsSdConfig a;
  if (body.IsNull() || !body.IsDefined()) {
    // `- aws: {}` or `- aws:` alone: every group of the environment's region.
  } else if (!r.map(body, path,
                    {"region", "endpoint", "auto_scaling_groups", "refresh_interval",
                     "load_balancers", "access_key_id", "secret_access_key_file", "profile",
                     "imds_endpoint", "ca_file"})) {
    r.error(path, key, "must be a mapping");
    return a;
  }
  discovery::aws::ClientOptions& c = a.client;
  r.string(body, path, "region", c.region);
  if (c.region.empty()) {
    for (const char* env : {"AWS_REGION", "AWS_DEFAULT_REGION"}) {
      if (const char* v = std::getenv(env); c.region.empty() && v != nullptr) c.region = v;
    }
  }
  if (c.region.empty()) {
    r.error(path + ".region", body.IsMap() ? body : key,
            "missing (and neither AWS_REGION nor AWS_DEFAULT_REGION is set)");
  }
  for (const char* k : {"endpoint", "imds_endpoint"}) {
    std::string& v = std::string_view(k) == "endpoint" ? c.endpoint : c.imds_endpoint;
    r.string(body, path, k, v);
    std::string why;
    if (!v.empty() && !net::parse_url(v, why, net::Schemes::kHttpOrHttps))
      r.error(path + "." + k, body[k], why);
  }
  read_string_list(r, body, path, "auto_scaling_groups", a.auto_scaling_groups);
  r.duration(body, path, "refresh_interval", a.refresh_interval);
  if (a.refresh_interval.count() <= 0)
    r.error(path + ".refresh_interval", body["refresh_interval"], "must be positive");
  r.boolean(body, path, "load_balancers", a.load_balancers);
  r.string(body, path, "access_key_id", c.access_key_id);
  r.string(body, path, "profile", c.profile);
  r.string(body, path, "ca_file", c.ca_file);
  std::string secret_file;
  r.string(body, path, "secret_access_key_file", secret_file);
  if (!secret_file.empty() && !read_secret_file(secret_file, c.secret_access_key)) {
    r.error(path + ".secret_access_key_file", body["secret_access_key_file"],
            "cannot read a key from \"" + secret_file + "\"");
  }
  if (c.access_key_id.empty() != secret_file.empty()) {
    r.error(path + (c.access_key_id.empty() ? ".access_key_id" : ".secret_access_key_file"), body,
            "access_key_id and secret_access_key_file go together");
  }
  return a;
}

void read_enrich(Reader& r, const YAML::Node& node, EnrichConfig& out) {
  const std::string path = "enrich";
  if (!r.map(node, path, {"match_label", "relabel_configs", "on_miss"})) return;
  r.string(node, path, "match_label", out.match_label);
  if (!relabel::is_valid_label_name(out.match_label)) {
    r.error("enrich.match_label", node["match_label"],
            "\"" + out.match_label + "\" is not a valid label name");
  }
  out.relabel_configs =
      relabel::parse_rules(node["relabel_configs"], "enrich.relabel_configs", r.errors());
  std::string on_miss = "pass";
  r.string(node, path, "on_miss", on_miss);
  if (on_miss == "annotate") {
    out.annotate_miss = true;
  } else if (on_miss != "pass") {
    r.error("enrich.on_miss", node["on_miss"], "must be pass or annotate, not \"" + on_miss + "\"");
  }
}

std::optional<lb::LbAction> lb_action_of(std::string_view s) {
  if (s == "annotate") return lb::LbAction::kAnnotate;
  if (s == "drop") return lb::LbAction::kDrop;
  if (s == "pass") return lb::LbAction::kPass;
  return std::nullopt;
}

void read_load_balancer_detection(Reader& r, const YAML::Node& node, lb::LbRules& out) {
  const std::string path = "load_balancer_detection";
  if (!r.map(node, path,
             {"action", "label", "host_patterns", "identity_metrics", "counter_metrics", "jobs"}))
    return;
  std::string action = "annotate";
  r.string(node, path, "action", action);
  if (auto a = lb_action_of(action)) {
    out.action = *a;
  } else {
    r.error(path + ".action", node["action"],
            "must be annotate, drop or pass, not \"" + action + "\"");
  }
  r.string(node, path, "label", out.label);
  if (!relabel::is_valid_label_name(out.label) || out.label.starts_with("__")) {
    r.error(path + ".label", node["label"],
            "\"" + out.label + "\" is not a valid label name (and may not start with __)");
  }
  std::vector<std::string> patterns;
  read_string_list(r, node, path, "host_patterns", patterns);
  for (size_t i = 0; i < patterns.size(); ++i) {
    std::string why;
    if (!lb::LbNamePatterns::build({patterns[i]}, why)) {
      r.error(path + ".host_patterns[" + std::to_string(i) + "]", node["host_patterns"][i], why);
    }
  }
  std::string why;
  out.names = lb::LbNamePatterns::build(patterns, why);
  for (const char* key : {"identity_metrics", "counter_metrics"}) {
    std::vector<std::string>& list =
        std::string_view(key) == "identity_metrics" ? out.identity_metrics : out.counter_metrics;
    read_string_list(r, node, path, key, list);
    for (size_t i = 0; i < list.size(); ++i) {
      std::string as_label = list[i];  // metric names may also hold colons
      std::replace(as_label.begin(), as_label.end(), ':', '_');
      if (!relabel::is_valid_label_name(as_label)) {
        r.error(path + "." + key + "[" + std::to_string(i) + "]", node[key][i],
                "\"" + list[i] + "\" is not a valid metric name");
      }
    }
  }
  const YAML::Node jobs = node["jobs"];
  if (jobs.IsDefined() && !jobs.IsNull()) {
    if (!jobs.IsMap()) {
      r.error(path + ".jobs", jobs, "must be a mapping of job name to annotate, drop or pass");
    } else {
      for (const auto& kv : jobs) {
        const std::string job = kv.first.Scalar();
        std::string v;
        if (!r.scalar(kv.second, path + ".jobs." + job, v)) continue;
        if (auto a = lb_action_of(v)) {
          out.jobs[job] = *a;
        } else {
          r.error(path + ".jobs." + job, kv.second,
                  "must be annotate, drop or pass, not \"" + v + "\"");
        }
      }
    }
  }
}

void read_staleness(Reader& r, const YAML::Node& node, staleness::StalenessConfig& out) {
  const std::string path = "staleness";
  if (!r.map(node, path, {"on_terminate", "drop_late_samples", "series_idle_timeout"})) return;
  r.boolean(node, path, "on_terminate", out.on_terminate);
  r.boolean(node, path, "drop_late_samples", out.drop_late_samples);
  r.duration(node, path, "series_idle_timeout", out.series_idle_timeout);
  if (out.series_idle_timeout < std::chrono::seconds(1)) {
    r.error(path + ".series_idle_timeout", node["series_idle_timeout"], "must be at least 1s");
  }
}

void read_sinks(Reader& r, const YAML::Node& node, std::vector<SinkConfig>& out) {
  if (!node.IsDefined() || node.IsNull()) return;
  if (!node.IsSequence()) {
    r.error("sinks", node, "must be a list");
    return;
  }
  std::set<std::string> names, paths;
  for (size_t i = 0; i < node.size(); ++i) {
    const std::string path = "sinks[" + std::to_string(i) + "]";
    const YAML::Node s = node[i];
    if (!r.map(s, path, {"name", "remote_write"})) {
      if (!s.IsMap()) r.error(path, s, "must be a mapping");
      continue;
    }
    SinkConfig sink;
    r.string(s, path, "name", sink.name);
    if (sink.name.empty()) {
      r.error(path + ".name", s["name"], "missing");
    } else if (!names.insert(sink.name).second) {
      r.error(path + ".name", s["name"], "duplicate sink name \"" + sink.name + "\"");
    }
    // Node::operator= writes through to the document; reset() rebinds the handle.
    YAML::Node key;
    key.reset(s);
    for (const auto& kv : s) {
      if (kv.first.Scalar() == "remote_write") key.reset(kv.first);
    }
    read_remote_write(r, s["remote_write"], key, path + ".remote_write", sink.remote_write);
    BufferConfig& buf = sink.remote_write.buffer;
    if (buf.type == "disk") {
      if (buf.path.empty()) buf.path = "data/" + sink.name;
      if (!paths.insert(buf.path).second) {
        r.error(path + ".remote_write.buffer.path", s, "another sink uses \"" + buf.path + "\"");
      }
    }
    YAML::Emitter e;
    e << s;
    sink.fingerprint = e.c_str();
    out.push_back(std::move(sink));
  }
}

}  // namespace

ConfigResult parse_config(const std::string& yaml_text) {
  ConfigResult result;
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    result.errors.push_back("(line " + std::to_string(e.mark.line + 1) + "): " + e.msg);
    return result;
  }
  Config config;
  Reader r(result.errors);
  try {
    if (root.IsDefined() && !root.IsNull()) {
      if (r.map(root, "",
                {"server", "discovery", "enrich", "load_balancer_detection", "staleness", "relabel",
                 "relabel_configs", "sinks"})) {
        read_server(r, root["server"], config.server);
        read_discovery(r, root["discovery"], config.discovery);
        if (root["discovery"].IsDefined()) {
          YAML::Emitter e;
          e << root["discovery"];
          config.discovery_fingerprint = e.c_str();
        }
        read_enrich(r, root["enrich"], config.enrich);
        read_load_balancer_detection(r, root["load_balancer_detection"],
                                     config.load_balancer_detection);
        read_staleness(r, root["staleness"], config.staleness);
        config.relabel_configs =
            relabel::parse_rules(root["relabel_configs"], "relabel_configs", r.errors());
        if (r.map(root["relabel"], "relabel", {"cache_max_entries"})) {
          r.integer<size_t>(root["relabel"], "relabel", "cache_max_entries",
                            config.relabel_cache_max_entries, 0, 100000000);
        }
        read_sinks(r, root["sinks"], config.sinks);
      } else {
        r.error("", root, "the config must be a mapping");
      }
    }
  } catch (const YAML::Exception& e) {
    // A shape the readers did not foresee: still an error with a line, never a crash.
    result.errors.push_back("(line " + std::to_string(e.mark.line + 1) + "): " + e.msg);
  }
  if (config.sinks.empty() && result.errors.empty()) {
    result.errors.push_back("sinks: at least one sink is required");
  }
  if (result.errors.empty()) result.config = std::move(config);
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

lb::LbRules default_lb_rules() {
  lb::LbRules rules;
  rules.enabled = true;
  std::string why;
  rules.names = lb::LbNamePatterns::build({}, why);
  return rules;
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

}  // namespace rwgate::proxy
