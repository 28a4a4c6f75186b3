#include "sinks/auth_config.h"

#include <yaml-cpp/yaml.h>

#include <cstdlib>

#include "base/secret_file.h"
#include "base/yaml_reader.h"

namespace rwgate::sinks {

using yaml::Reader;

namespace {

// A secret given inline (`inline_key`) or in a file (`file_key`), one of the two. The file
// is read now, so `check config` names a missing or unreadable one with its path.
void read_secret(Reader& r, const YAML::Node& node, const std::string& path, const char* inline_key,
                 const char* file_key, std::string& secret, std::string& secret_file) {
  r.string(node, path, inline_key, secret);
  r.string(node, path, file_key, secret_file);
  if (!secret.empty() && !secret_file.empty()) {
    r.error(Reader::join(path, file_key), node[file_key],
            std::string(inline_key) + " and " + file_key + " are mutually exclusive");
  }
  if (!secret_file.empty()) {
    std::string ignored;
    if (Status st = read_secret_file(secret_file, ignored); !st)
      r.error(Reader::join(path, file_key), node[file_key], st.reason());
  }
}

void read_basic(Reader& r, const YAML::Node& n, const std::string& p, const net::Url&,
                AuthConfig& out) {
  out.kind = AuthConfig::Kind::kBasic;
  r.string(n, p, "username", out.username);
  if (out.username.empty()) r.error(Reader::join(p, "username"), n, "missing");
  read_secret(r, n, p, "password", "password_file", out.secret, out.secret_file);
}

void read_authorization(Reader& r, const YAML::Node& n, const std::string& p, const net::Url&,
                        AuthConfig& out) {
  out.kind = AuthConfig::Kind::kAuthorization;
  r.string(n, p, "type", out.type);
  if (out.type.empty()) out.type = "Bearer";
  if (out.type.size() == 5 && (out.type[0] == 'b' || out.type[0] == 'B') &&
      std::string_view(out.type).substr(1) == "asic") {
    r.error(Reader::join(p, "type"), n["type"],
            "authorization type cannot be set to \"basic\", use \"basic_auth\" instead");
  }
  read_secret(r, n, p, "credentials", "credentials_file", out.secret, out.secret_file);
  if (out.secret.empty() && out.secret_file.empty())
    r.error(p, n, "credentials or credentials_file is required");
}

void read_url_key(Reader& r, const YAML::Node& n, const std::string& p, const char* key,
                  std::optional<net::Url>& out) {
  std::string text;
  r.string(n, p, key, text);
  if (text.empty()) return;
  std::string why;
  out = net::parse_url(text, why, net::Schemes::kHttpOrHttps);
  if (!out) r.error(Reader::join(p, key), n[key], why);
}

void read_oauth2(Reader& r, const YAML::Node& n, const std::string& p, const net::Url&,
                 AuthConfig& auth) {
  auth.kind = AuthConfig::Kind::kOAuth2;
  OAuth2Config& out = auth.oauth2;
  r.string(n, p, "client_id", out.client_id);
  if (out.client_id.empty()) r.error(Reader::join(p, "client_id"), n, "missing");
  read_secret(r, n, p, "client_secret", "client_secret_file", out.client_secret,
              out.client_secret_file);
  std::optional<net::Url> token_url;
  read_url_key(r, n, p, "token_url", token_url);
  if (token_url) {
    out.token_url = *token_url;
  } else if (!n["token_url"].IsDefined()) {
    r.error(Reader::join(p, "token_url"), n, "missing");
  }
  r.string_list(n, p, "scopes", out.scopes);
  const YAML::Node params = n["endpoint_params"];
  const std::string pp = Reader::join(p, "endpoint_params");
  if (params.IsDefined() && !params.IsNull()) {
    if (!params.IsMap()) {
      r.error(pp, params, "must be a mapping of parameter name to value");
    } else {
      for (const auto& kv : params) {
        std::string value;
        if (r.scalar(kv.second, pp + "." + kv.first.Scalar(), value))
          out.endpoint_params.emplace_back(kv.first.Scalar(), value);
      }
    }
  }
  const YAML::Node tls = n["tls_config"];
  const std::string tp = Reader::join(p, "tls_config");
  if (r.map(tls, tp, {"ca_file"})) r.string(tls, tp, "ca_file", out.ca_file);
  read_url_key(r, n, p, "proxy_url", out.proxy);
}

// The region of an AMP endpoint, aps-workspaces.<region>.amazonaws.com[.cn].
std::string region_of_host(const std::string& host) {
  const std::string prefix = "aps-workspaces.";
  if (!host.starts_with(prefix)) return {};
  const size_t end = host.find('.', prefix.size());
  return end == std::string::npos ? std::string() : host.substr(prefix.size(), end - prefix.size());
}

void read_sigv4(Reader& r, const YAML::Node& n, const std::string& p, const net::Url& url,
                AuthConfig& auth) {
  auth.kind = AuthConfig::Kind::kSigV4;
  SigV4Config& out = auth.sigv4;
  r.string(n, p, "region", out.region);
  r.string(n, p, "access_key", out.access_key);
  r.string(n, p, "secret_key", out.secret_key);
  r.string(n, p, "profile", out.profile);
  r.string(n, p, "role_arn", out.role_arn);
  r.string(n, p, "service_name", out.service_name);
  if (out.service_name.empty()) out.service_name = "aps";
  if (out.access_key.empty() != out.secret_key.empty()) {
    r.error(Reader::join(p, out.access_key.empty() ? "access_key" : "secret_key"), n,
            "access_key and secret_key go together");
  }
  if (out.region.empty()) out.region = region_of_host(url.host);
  for (const char* var : {"AWS_REGION", "AWS_DEFAULT_REGION"}) {
    if (const char* v = std::getenv(var); out.region.empty() && v != nullptr) out.region = v;
  }
  if (out.region.empty()) {
    r.error(Reader::join(p, "region"), n,
            "missing, and neither the URL (aps-workspaces.<region>.amazonaws.com) nor "
            "AWS_REGION or AWS_DEFAULT_REGION gives one");
  }
}

}  // namespace

void read_auth(Reader& r, const YAML::Node& node, const std::string& path, const net::Url& url,
               AuthConfig& out) {
  struct Method {
    const char* key;
    std::initializer_list<std::string_view> keys;
    void (*read)(Reader&, const YAML::Node&, const std::string&, const net::Url&, AuthConfig&);
  };
  static const Method kMethods[] = {
      {"basic_auth", {"username", "password", "password_file"}, read_basic},
      {"authorization", {"type", "credentials", "credentials_file"}, read_authorization},
      {"oauth2",
       {"client_id", "client_secret", "client_secret_file", "token_url", "scopes",
        "endpoint_params", "tls_config", "proxy_url"},
       read_oauth2},
      {"sigv4",
       {"region", "access_key", "secret_key", "profile", "role_arn", "service_name"},
       read_sigv4},
  };
  const char* chosen = nullptr;
  for (const Method& m : kMethods) {
    const YAML::Node n = node[m.key];
    const std::string p = Reader::join(path, m.key);
    // `sigv4: {}` is a whole configuration (region from the URL, keys from the chain).
    const bool empty_sigv4 = std::string_view(m.key) == "sigv4" && n.IsDefined() && n.IsNull();
    if (!empty_sigv4 && !r.map(n, p, m.keys)) continue;
    if (chosen != nullptr) {
      r.error(p, n, std::string(chosen) + " and " + m.key + " are mutually exclusive");
      continue;
    }
    chosen = m.key;
    m.read(r, n, p, url, out);
  }
}

}  // namespace rwgate::sinks
