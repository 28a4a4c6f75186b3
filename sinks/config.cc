#include "sinks/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <set>

#include "base/tls_version.h"
#include "base/yaml_reader.h"
#include "sinks/tls.h"

namespace rwgate::sinks {

using yaml::Reader;

std::string_view buffer_type_name(BufferType type) {
  return type == BufferType::kDisk ? "disk" : "memory";
}

namespace {

// HTTP header names compare without case.
std::string lowercase(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// Headers that rwgate sets itself; users may not override them (as in Prometheus).
bool is_reserved_header(const std::string& header) {
  const std::string name = lowercase(header);
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

void read_url(Reader& r, const YAML::Node& node, const std::string& path, net::Url& out) {
  std::string url;
  r.string(node, path, "url", url);
  if (url.empty()) {
    r.error(Reader::join(path, "url"), node["url"], "missing");
    return;
  }
  std::string why;
  if (auto u = net::parse_url(url, why, net::Schemes::kHttpOrHttps)) {
    out = *u;
  } else {
    r.error(Reader::join(path, "url"), node["url"], why);
  }
}

// tls_config, as in Prometheus; the files are loaded now, so errors name them.
void read_tls(Reader& r, const YAML::Node& node, const std::string& path, TlsConfig& out) {
  if (!r.map(node, path,
             {"ca_file", "cert_file", "key_file", "server_name", "insecure_skip_verify",
              "min_version"}))
    return;
  r.string(node, path, "ca_file", out.ca_file);
  r.string(node, path, "cert_file", out.cert_file);
  r.string(node, path, "key_file", out.key_file);
  r.string(node, path, "server_name", out.server_name);
  r.boolean(node, path, "insecure_skip_verify", out.insecure_skip_verify);
  read_tls_version(r, node, path, "min_version", out.min_version);
  if (out.cert_file.empty() != out.key_file.empty())
    r.error(path, node, "cert_file and key_file go together");
}

void read_protocol(Reader& r, const YAML::Node& node, const std::string& path,
                   proto::Protocol& out) {
  std::string protocol = "v1";
  r.string(node, path, "protocol", protocol);
  if (protocol == "v1") {
    out = proto::Protocol::kV1;
  } else if (protocol == "v2") {
    out = proto::Protocol::kV2;
  } else {
    r.error(Reader::join(path, "protocol"), node["protocol"],
            "must be v1 or v2, not \"" + protocol + "\"");
  }
}

void read_headers(Reader& r, const YAML::Node& headers, const std::string& path,
                  std::vector<std::pair<std::string, std::string>>& out) {
  if (!headers.IsDefined() || headers.IsNull()) return;
  if (!headers.IsMap()) {
    r.error(path, headers, "must be a mapping of header name to value");
    return;
  }
  for (const auto& kv : headers) {
    const std::string hp = path + "." + kv.first.Scalar();
    std::string value;
    if (!r.scalar(kv.second, hp, value)) continue;
    if (is_reserved_header(kv.first.Scalar())) {
      r.error(hp, kv.first, "header is set by rwgate and cannot be overridden");
      continue;
    }
    out.emplace_back(kv.first.Scalar(), value);
  }
}

// tenant_header: an HTTP token, not one rwgate sets, not a configured header; and a
// {tenant} only in the url's path or query.
void read_tenant_header(Reader& r, const YAML::Node& node, const std::string& path,
                        RemoteWriteConfig& out) {
  r.string(node, path, "tenant_header", out.tenant_header);
  const std::string hp = Reader::join(path, "tenant_header");
  const std::string& h = out.tenant_header;
  const bool token = std::all_of(h.begin(), h.end(), [](unsigned char c) {
    return std::isalnum(c) ||
           std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
  });
  if (!token) {
    r.error(hp, node["tenant_header"], "must be an HTTP header name");
  } else if (!h.empty() && (is_reserved_header(h) || lowercase(h) == "authorization")) {
    r.error(hp, node["tenant_header"], "header is set by rwgate and cannot carry the tenant");
  }
  for (const auto& [name, value] : out.headers) {
    if (!h.empty() && lowercase(name) == lowercase(h))
      r.error(hp, node["tenant_header"], "is also set in headers; the tenant sets it");
  }
  if (out.url.host.find('{') != std::string::npos) {
    r.error(Reader::join(path, "url"), node["url"], "{tenant} may only be in the path or query");
  }
}

void read_queue(Reader& r, const YAML::Node& q, const std::string& qp, QueueConfig& out) {
  if (!r.map(q, qp,
             {"max_samples_per_send", "batch_send_deadline", "shards", "min_backoff", "max_backoff",
              "retry_on_http_429"}))
    return;
  r.integer<int>(q, qp, "max_samples_per_send", out.max_samples_per_send, 1, 1000000);
  r.duration(q, qp, "batch_send_deadline", out.batch_send_deadline);
  r.integer<int>(q, qp, "shards", out.shards, 1, 1000);
  r.duration(q, qp, "min_backoff", out.min_backoff);
  r.duration(q, qp, "max_backoff", out.max_backoff);
  r.boolean(q, qp, "retry_on_http_429", out.retry_on_http_429);
  if (out.batch_send_deadline.count() <= 0) {
    r.error(Reader::join(qp, "batch_send_deadline"), q["batch_send_deadline"], "must be positive");
  }
  if (out.min_backoff.count() <= 0) {
    r.error(Reader::join(qp, "min_backoff"), q["min_backoff"], "must be positive");
  }
  if (out.min_backoff > out.max_backoff) {
    r.error(Reader::join(qp, "min_backoff"), q["min_backoff"], "must not exceed max_backoff");
  }
}

// False (and an error) for a type that is neither.
bool read_buffer_type(Reader& r, const YAML::Node& b, const std::string& bp, BufferType& out) {
  std::string type(buffer_type_name(out));
  r.string(b, bp, "type", type);
  if (type == "memory") {
    out = BufferType::kMemory;
  } else if (type == "disk") {
    out = BufferType::kDisk;
  } else {
    r.error(Reader::join(bp, "type"), b["type"], "must be memory or disk, not \"" + type + "\"");
    return false;
  }
  return true;
}

void read_fsync(Reader& r, const YAML::Node& b, const std::string& bp, FsyncMode& out) {
  std::string fsync = "batch";
  r.string(b, bp, "fsync", fsync);
  if (fsync == "always") {
    out = FsyncMode::kAlways;
  } else if (fsync == "batch") {
    out = FsyncMode::kBatch;
  } else if (fsync == "never") {
    out = FsyncMode::kNever;
  } else {
    r.error(Reader::join(bp, "fsync"), b["fsync"],
            "must be always, batch or never, not \"" + fsync + "\"");
  }
}

void read_buffer(Reader& r, const YAML::Node& b, const std::string& bp, BufferConfig& out) {
  if (!r.map(b, bp, {"type", "path", "max_bytes", "fsync", "on_full"})) return;
  const bool known_type = read_buffer_type(r, b, bp, out.type);
  r.string(b, bp, "path", out.path);
  r.integer<uint64_t>(b, bp, "max_bytes", out.max_bytes, 1ULL << 20, 1ULL << 50);
  read_fsync(r, b, bp, out.fsync);
  std::string on_full = "block";
  r.string(b, bp, "on_full", on_full);
  if (on_full == "drop_oldest") {
    out.drop_oldest = true;
  } else if (on_full != "block") {
    r.error(Reader::join(bp, "on_full"), b["on_full"],
            "must be block or drop_oldest, not \"" + on_full + "\"");
  }
  if (known_type && out.type == BufferType::kMemory &&
      (b["path"].IsDefined() || b["fsync"].IsDefined() || b["on_full"].IsDefined())) {
    r.error(bp, b, "path, fsync and on_full are for type: disk");
  }
}

// `where` locates errors about the value as a whole (the key's line, or its parent's).
void read_remote_write(Reader& r, const YAML::Node& node, const YAML::Node& where,
                       const std::string& path, relabel::NameValidation names,
                       RemoteWriteConfig& out) {
  if (!r.map(node, path,
             {"url", "protocol", "headers", "timeout", "write_relabel_configs", "queue", "buffer",
              "basic_auth", "authorization", "oauth2", "sigv4", "tls_config", "proxy_url",
              "tenant_header"})) {
    if (!node.IsDefined() || node.IsNull()) r.error(path, where, "missing");
    return;
  }
  read_url(r, node, path, out.url);
  read_tls(r, node["tls_config"], Reader::join(path, "tls_config"), out.tls);
  out.tls.enabled = out.url.scheme == "https";
  if (out.tls.enabled && r.errors().empty()) {
    std::string error;
    if (!TlsClient::make(out.tls, out.url.host, error))
      r.error(Reader::join(path, "tls_config"), node["tls_config"], error);
  }
  read_protocol(r, node, path, out.protocol);
  read_auth(r, node, path, out.url, out.auth);
  std::string proxy;
  r.string(node, path, "proxy_url", proxy);
  if (!proxy.empty()) {
    std::string why;
    out.proxy = net::parse_url(proxy, why, net::Schemes::kHttp);
    if (!out.proxy) r.error(Reader::join(path, "proxy_url"), node["proxy_url"], why);
  }
  read_headers(r, node["headers"], Reader::join(path, "headers"), out.headers);
  for (const auto& [name, value] : out.headers) {
    if (out.auth.kind != AuthConfig::Kind::kNone && lowercase(name) == "authorization") {
      r.error(Reader::join(Reader::join(path, "headers"), name), node["headers"],
              "set by the sink's authentication (basic_auth, authorization, oauth2 or sigv4); "
              "use one of them");
    }
  }
  read_tenant_header(r, node, path, out);
  r.duration(node, path, "timeout", out.timeout);
  if (out.timeout.count() <= 0)
    r.error(Reader::join(path, "timeout"), node["timeout"], "must be positive");
  out.write_relabel_configs =
      relabel::parse_rules(node["write_relabel_configs"],
                           Reader::join(path, "write_relabel_configs"), r.errors(), names);
  read_queue(r, node["queue"], Reader::join(path, "queue"), out.queue);
  read_buffer(r, node["buffer"], Reader::join(path, "buffer"), out.buffer);
}

// The node of the key `name` in the map `s`, for its line; `s` itself when absent.
YAML::Node key_node(const YAML::Node& s, const std::string& name) {
  // Node::operator= writes through to the document; reset() rebinds the handle.
  YAML::Node key;
  key.reset(s);
  for (const auto& kv : s) {
    if (kv.first.Scalar() == name) key.reset(kv.first);
  }
  return key;
}

}  // namespace

void read_sinks(Reader& r, const YAML::Node& node, relabel::NameValidation names,
                std::vector<SinkConfig>& out) {
  if (!node.IsDefined() || node.IsNull()) return;
  if (!node.IsSequence()) {
    r.error("sinks", node, "must be a list");
    return;
  }
  std::set<std::string> sink_names, paths;
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
    } else if (!sink_names.insert(sink.name).second) {
      r.error(path + ".name", s["name"], "duplicate sink name \"" + sink.name + "\"");
    }
    read_remote_write(r, s["remote_write"], key_node(s, "remote_write"), path + ".remote_write",
                      names, sink.remote_write);
    BufferConfig& buf = sink.remote_write.buffer;
    if (buf.type == BufferType::kDisk) {
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

}  // namespace rwgate::sinks
