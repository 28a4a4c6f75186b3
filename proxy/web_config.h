// --web.config.file: Prometheus's web configuration file (exporter-toolkit's format), so a
// file written for Prometheus or an exporter works here as it is.
//
//   basic_auth_users:             # user: bcrypt hash, as `htpasswd -nBC 10 user` writes it
//     alice: $2y$10$...
//   http_server_config:
//     headers:                    # added to every response; only these names, as in
//       X-Frame-Options: deny     # exporter-toolkit (X-Content-Type-Options: nosniff,
//                                 # X-Frame-Options: deny|sameorigin, X-XSS-Protection,
//                                 # Strict-Transport-Security, Content-Security-Policy)
//
//   tls_server_config: ...        # TLS on the listener, client certificates: tls_server.h
//
// With users, every endpoint needs basic auth (as in Prometheus). Unknown keys are errors,
// every error has its YAML path. The file, and the certificate files it names, are re-read
// when they change (checked at most once a second, by modification time and size), so
// users and certificates change without a restart, for new connections; a change that does
// not load keeps the last good one, and says so in the log.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "proxy/tls_server.h"

namespace rwgate::proxy {

struct WebConfig {
  std::map<std::string, std::string, std::less<>> users;  // name -> bcrypt hash
  std::vector<std::pair<std::string, std::string>> headers;
  std::optional<TlsServerConfig> tls;  // unset: plain HTTP
  SslContext tls_context;              // built from `tls` when the file was read
};

struct WebConfigResult {
  std::optional<WebConfig> config;
  std::vector<std::string> errors;  // each "path (line N): reason"
};

// `base_dir`: what relative certificate paths are relative to (the file's directory).
WebConfigResult parse_web_config(const std::string& yaml_text, const std::string& base_dir = "");
WebConfigResult load_web_config_file(const std::string& path);

// The file's current content, re-read when it changes.
class WebConfigFile {
 public:
  // `initial`: the content loaded at start (errors there stop the start).
  WebConfigFile(std::string path, std::shared_ptr<const WebConfig> initial);
  // The content to use now; re-reads the file when it changed (at most once a second).
  std::shared_ptr<const WebConfig> current();

 private:
  const std::string path_;
  std::mutex mu_;  // guards everything below
  std::shared_ptr<const WebConfig> config_;
  std::chrono::steady_clock::time_point checked_{};
  int64_t stamp_ = 0;  // the file's and its certificate files' mtimes and sizes
};

}  // namespace rwgate::proxy
