#include "proxy/web_config.h"

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <sstream>
#include <string_view>

#include "base/file_stamp.h"
#include "base/log.h"
#include "base/yaml_reader.h"

namespace rwgate::proxy {

namespace {

using yaml::Reader;

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  }
  return true;
}

// The headers exporter-toolkit lets a web config add, and the values it allows where the
// header is an enumeration (empty: any value).
struct AllowedHeader {
  std::string_view name;
  std::vector<std::string_view> values;
};
const std::vector<AllowedHeader>& allowed_headers() {
  static const std::vector<AllowedHeader> kAllowed = {
      {"Strict-Transport-Security", {}},
      {"X-Content-Type-Options", {"nosniff"}},
      {"X-Frame-Options", {"deny", "sameorigin"}},
      {"X-XSS-Protection", {}},
      {"Content-Security-Policy", {}},
  };
  return kAllowed;
}

// A bcrypt hash as htpasswd and Go's bcrypt write it: $2a$, $2b$ or $2y$, a two-digit cost
// from 4 to 31, then 53 characters of salt and hash.
bool is_bcrypt_hash(std::string_view h) {
  if (h.size() != 60 || h[0] != '$' || h[1] != '2' || h[3] != '$' || h[6] != '$') return false;
  if (h[2] != 'a' && h[2] != 'b' && h[2] != 'y') return false;
  if (!std::isdigit(static_cast<unsigned char>(h[4])) ||
      !std::isdigit(static_cast<unsigned char>(h[5])))
    return false;
  const int cost = (h[4] - '0') * 10 + (h[5] - '0');
  return cost >= 4 && cost <= 31;
}

void read_users(Reader& r, const YAML::Node& node, WebConfig& out) {
  const std::string path = "basic_auth_users";
  if (!node.IsDefined() || node.IsNull()) return;
  if (!node.IsMap()) return r.error(path, node, "must be a map of user name to bcrypt hash");
  for (const auto& kv : node) {
    const std::string user = kv.first.as<std::string>("");
    const std::string upath = path + "." + user;
    std::string hash;
    if (user.empty()) {
      r.error(path, kv.first, "a user name may not be empty");
      continue;
    }
    if (!r.scalar(kv.second, upath, hash)) continue;
    // The hash is not secret, but a wrong one would lock the user out: say so now.
    if (!is_bcrypt_hash(hash)) {
      r.error(upath, kv.second, "not a bcrypt hash ($2y$10$... as htpasswd -B writes it)");
      continue;
    }
    out.users[user] = hash;
  }
}

void read_headers(Reader& r, const YAML::Node& server, WebConfig& out) {
  const std::string path = "http_server_config";
  if (!r.map(server, path, {"headers", "http2"})) return;
  // Accepted so that a Prometheus web config loads as it is; rwgate speaks HTTP/1.1 only.
  bool http2 = true;
  r.boolean(server, path, "http2", http2);
  const YAML::Node headers = server["headers"];
  const std::string hpath = path + ".headers";
  if (!headers.IsDefined() || headers.IsNull()) return;
  if (!headers.IsMap()) return r.error(hpath, headers, "must be a map of header to value");
  for (const auto& kv : headers) {
    const std::string name = kv.first.as<std::string>("");
    std::string value;
    const std::string npath = hpath + "." + name;
    if (!r.scalar(kv.second, npath, value)) continue;
    const AllowedHeader* allowed = nullptr;
    for (const AllowedHeader& a : allowed_headers()) {
      if (iequals(a.name, name)) allowed = &a;
    }
    if (allowed == nullptr) {
      r.error(npath, kv.first,
              "header not allowed (Strict-Transport-Security, X-Content-Type-Options, "
              "X-Frame-Options, X-XSS-Protection, Content-Security-Policy)");
      continue;
    }
    bool ok = allowed->values.empty();
    for (std::string_view v : allowed->values) ok = ok || iequals(v, value);
    if (!ok) {
      r.error(npath, kv.second, "value \"" + value + "\" not allowed");
      continue;
    }
    out.headers.emplace_back(std::string(allowed->name), value);
  }
}

}  // namespace

WebConfigResult parse_web_config(const std::string& yaml_text, const std::string& base_dir) {
  WebConfigResult result;
  Reader r(result.errors);
  WebConfig config;
  try {
    const YAML::Node root = YAML::Load(yaml_text);
    if (root.IsDefined() && !root.IsNull()) {
      if (r.map(root, "", {"tls_server_config", "basic_auth_users", "http_server_config"})) {
        TlsServerConfig tls;
        const size_t errors_before = result.errors.size();
        if (read_tls_server_config(r, root["tls_server_config"], base_dir, tls) &&
            result.errors.size() == errors_before) {
          std::string error;
          config.tls_context = build_server_context(tls, error);
          if (!config.tls_context) r.error("tls_server_config", root["tls_server_config"], error);
          config.tls = tls;
        }
        read_users(r, root["basic_auth_users"], config);
        read_headers(r, root["http_server_config"], config);
      } else if (!root.IsMap()) {
        r.error("", root, "must be a map");
      }
    }
  } catch (const YAML::Exception& e) {
    result.errors.push_back(
        yaml::one_line("line " + std::to_string(e.mark.line + 1) + ": " + e.msg));
  }
  if (result.errors.empty()) result.config = std::move(config);
  return result;
}

WebConfigResult load_web_config_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return WebConfigResult{std::nullopt, {"cannot read " + path}};
  std::stringstream ss;
  ss << in.rdbuf();
  const size_t slash = path.rfind('/');
  return parse_web_config(ss.str(), slash == std::string::npos ? "" : path.substr(0, slash));
}

namespace {

int64_t stamp_of(const std::string& path, const WebConfig& config) {
  return file_stamp(path) * 31 + (config.tls ? tls_files_stamp(*config.tls) : 0);
}

}  // namespace

WebConfigFile::WebConfigFile(std::string path, std::shared_ptr<const WebConfig> initial)
    : path_(std::move(path)), config_(std::move(initial)) {
  stamp_ = stamp_of(path_, *config_);
  checked_ = std::chrono::steady_clock::now();
}

std::shared_ptr<const WebConfig> WebConfigFile::current() {
  std::lock_guard lock(mu_);
  const auto now = std::chrono::steady_clock::now();
  if (now - checked_ < std::chrono::seconds(1)) return config_;
  checked_ = now;
  const int64_t stamp = stamp_of(path_, *config_);
  if (stamp == stamp_) return config_;
  stamp_ = stamp;
  WebConfigResult loaded = load_web_config_file(path_);
  if (!loaded.config) {
    for (const std::string& e : loaded.errors) {
      log::error("web config file changed but does not load; keeping the last good one",
                 {{"file", path_}, {"error", e}});
    }
    return config_;
  }
  log::info("web config file reloaded", {{"file", path_}});
  config_ = std::make_shared<const WebConfig>(std::move(*loaded.config));
  stamp_ = stamp_of(path_, *config_);  // the new file may name other certificate files
  return config_;
}

}  // namespace rwgate::proxy
