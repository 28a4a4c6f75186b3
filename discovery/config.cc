#include "discovery/config.h"

#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <string_view>

#include "base/net.h"
#include "base/secret_file.h"
#include "base/yaml_reader.h"

namespace rwgate::discovery {

using yaml::Reader;

namespace {

void require_positive(Reader& r, const YAML::Node& body, const std::string& path,
                      std::chrono::milliseconds d) {
  if (d.count() <= 0)
    r.error(path + ".refresh_interval", body["refresh_interval"], "must be positive");
}

// `key` is the source's type key (`file:`), for errors about the body as a whole.
FileSdConfig read_file_source(Reader& r, const YAML::Node& body, const std::string& fp,
                              const YAML::Node& key) {
  FileSdConfig f;
  if (!r.map(body, fp, {"files", "refresh_interval"})) {
    r.error(fp, key, "must be a mapping with files");
    return f;
  }
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
  r.duration(body, fp, "refresh_interval", f.refresh_interval);
  require_positive(r, body, fp, f.refresh_interval);
  return f;
}

HttpSdConfig read_http_source(Reader& r, const YAML::Node& body, const std::string& hp,
                              const YAML::Node& key) {
  HttpSdConfig h;
  if (!r.map(body, hp, {"url", "refresh_interval"})) {
    r.error(hp, key, "must be a mapping with url");
    return h;
  }
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
  r.duration(body, hp, "refresh_interval", h.refresh_interval);
  require_positive(r, body, hp, h.refresh_interval);
  return h;
}

// region, else AWS_REGION, else AWS_DEFAULT_REGION.
void read_aws_region(Reader& r, const YAML::Node& body, const std::string& path,
                     const YAML::Node& key, std::string& region) {
  r.string(body, path, "region", region);
  if (region.empty()) {
    for (const char* env : {"AWS_REGION", "AWS_DEFAULT_REGION"}) {
      if (const char* v = std::getenv(env); region.empty() && v != nullptr) region = v;
    }
  }
  if (region.empty()) {
    r.error(path + ".region", body.IsMap() ? body : key,
            "missing (and neither AWS_REGION nor AWS_DEFAULT_REGION is set)");
  }
}

void read_aws_endpoint(Reader& r, const YAML::Node& body, const std::string& path, const char* key,
                       std::string& out) {
  r.string(body, path, key, out);
  std::string why;
  if (!out.empty() && !net::parse_url(out, why, net::Schemes::kHttpOrHttps))
    r.error(path + "." + key, body[key], why);
}

void read_aws_credentials(Reader& r, const YAML::Node& body, const std::string& path,
                          aws::ClientOptions& c) {
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
}

AwsSdConfig read_aws_source(Reader& r, const YAML::Node& body, const std::string& path,
                            const YAML::Node& key) {
  AwsSdConfig a;
  // `- aws: {}` or `- aws:` alone: every group of the environment's region.
  const bool empty = body.IsNull() || !body.IsDefined();
  if (!empty &&
      !r.map(body, path,
             {"region", "endpoint", "auto_scaling_groups", "refresh_interval", "load_balancers",
              "access_key_id", "secret_access_key_file", "profile", "imds_endpoint", "ca_file"})) {
    r.error(path, key, "must be a mapping");
    return a;
  }
  read_aws_region(r, body, path, key, a.client.region);
  read_aws_endpoint(r, body, path, "endpoint", a.client.endpoint);
  read_aws_endpoint(r, body, path, "imds_endpoint", a.client.imds_endpoint);
  r.string_list(body, path, "auto_scaling_groups", a.auto_scaling_groups);
  r.duration(body, path, "refresh_interval", a.refresh_interval);
  require_positive(r, body, path, a.refresh_interval);
  r.boolean(body, path, "load_balancers", a.load_balancers);
  read_aws_credentials(r, body, path, a.client);
  return a;
}

// One entry of `sources`: a map with exactly one key, the source's type.
void read_source(Reader& r, const YAML::Node& s, const std::string& sp, DiscoveryConfig& out) {
  if (!s.IsMap() || s.size() != 1) {
    r.error(sp, s, "must have exactly one of file, http, aws");
    return;
  }
  const YAML::Node key = s.begin()->first;
  const std::string kind = key.Scalar();
  const YAML::Node body = s.begin()->second;
  if (kind == "file") {
    out.file.push_back(read_file_source(r, body, sp + ".file", key));
  } else if (kind == "http") {
    out.http.push_back(read_http_source(r, body, sp + ".http", key));
  } else if (kind == "aws") {
    out.aws.push_back(read_aws_source(r, body, sp + ".aws", key));
  } else {
    r.error(sp + "." + kind, key, "unknown source type (want file, http or aws)");
  }
}

void read_eventbridge(Reader& r, const YAML::Node& eb, DiscoveryConfig& out) {
  const std::string path = "discovery.eventbridge";
  if (!r.map(eb, path, {"enabled", "api_key_file"})) return;
  r.boolean(eb, path, "enabled", out.eventbridge_enabled);
  std::string key_file;
  r.string(eb, path, "api_key_file", key_file);
  if (!key_file.empty() && !read_secret_file(key_file, out.eventbridge_api_key)) {
    r.error(path + ".api_key_file", eb["api_key_file"],
            "cannot read a key from \"" + key_file + "\"");
  }
}

void read_grpc_tls(Reader& r, const YAML::Node& n, GrpcTlsConfig& out) {
  const std::string p = "discovery.grpc_tls";
  if (!r.map(n, p, {"cert_file", "key_file", "client_ca_file"})) return;
  r.string(n, p, "cert_file", out.cert_file);
  r.string(n, p, "key_file", out.key_file);
  r.string(n, p, "client_ca_file", out.client_ca_file);
  if (out.cert_file.empty() != out.key_file.empty())
    r.error(p, n, "cert_file and key_file go together");
  if (out.cert_file.empty() && !out.client_ca_file.empty())
    r.error(p + ".client_ca_file", n["client_ca_file"], "needs cert_file and key_file");
  // Read now, so a missing file is an error with its path rather than failed handshakes.
  for (const auto& [key, file] :
       {std::pair{"cert_file", &out.cert_file}, std::pair{"key_file", &out.key_file},
        std::pair{"client_ca_file", &out.client_ca_file}}) {
    std::string content;
    if (!file->empty() && !read_secret_file(*file, content))
      r.error(p + "." + key, n[key], "cannot read \"" + *file + "\"");
  }
}

}  // namespace

void read_discovery(Reader& r, const YAML::Node& node, DiscoveryConfig& out) {
  const std::string path = "discovery";
  if (!r.map(node, path,
             {"sources", "grpc_listen_address", "grpc_tls", "eventbridge", "missing_after"}))
    return;
  const YAML::Node sources = node["sources"];
  if (sources.IsDefined() && !sources.IsNull()) {
    if (!sources.IsSequence()) {
      r.error("discovery.sources", sources, "must be a list");
    } else {
      for (size_t i = 0; i < sources.size(); ++i)
        read_source(r, sources[i], "discovery.sources[" + std::to_string(i) + "]", out);
    }
  }
  r.string(node, path, "grpc_listen_address", out.grpc_listen_address);
  if (!out.grpc_listen_address.empty() && !net::split_host_port(out.grpc_listen_address).has_port) {
    r.error("discovery.grpc_listen_address", node["grpc_listen_address"], "must be HOST:PORT");
  }
  read_grpc_tls(r, node["grpc_tls"], out.grpc_tls);
  read_eventbridge(r, node["eventbridge"], out);
  r.duration(node, path, "missing_after", out.missing_after);
}

}  // namespace rwgate::discovery
