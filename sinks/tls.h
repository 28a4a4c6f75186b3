// TLS towards a store: `https://` URLs with Prometheus's `tls_config` (ca_file, cert_file,
// key_file, server_name, insecure_skip_verify, min_version).
//
// The peer's certificate is verified against ca_file (or the system's CAs) and its name
// against server_name (or the URL's host) unless insecure_skip_verify; SNI carries the
// same name. The context is built again when one of its files changes (checked at most
// once a second when a connection opens), so rotated certificates are used by the next
// connection without a reload; a changed file that does not load keeps the last good
// context, and says so in the log. Connections are kept alive per shard, so a handshake
// is paid once per connection, not per request.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/status.h"

namespace rwgate::sinks {

struct TlsConfig {
  bool enabled = false;  // the URL is https
  std::string ca_file;
  std::string cert_file;  // client certificate (with key_file)
  std::string key_file;
  std::string server_name;  // empty: the URL's host
  bool insecure_skip_verify = false;
  int min_version = 0;  // TLS1_2_VERSION etc.; 0: TLS 1.2
};

class TlsClient {
 public:
  // Null with `error` set when the files do not load.
  static std::unique_ptr<TlsClient> make(TlsConfig config, std::string host, std::string& error);
  // The context for a new connection.
  std::shared_ptr<boost::asio::ssl::context> context();
  // The name to verify and to send as SNI.
  const std::string& server_name() const { return name_; }
  bool verify() const { return !config_.insecure_skip_verify; }

 private:
  TlsClient(TlsConfig config, std::string name)
      : config_(std::move(config)), name_(std::move(name)) {}
  Status build(std::shared_ptr<boost::asio::ssl::context>& out) const;
  int64_t files_stamp() const;  // changes when any file changes

  const TlsConfig config_;
  const std::string name_;
  std::mutex mu_;  // guards the three below
  std::shared_ptr<boost::asio::ssl::context> context_;
  int64_t stamp_ = 0;
  std::chrono::steady_clock::time_point checked_{};
};

}  // namespace rwgate::sinks
