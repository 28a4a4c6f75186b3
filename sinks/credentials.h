// Authentication towards a store, in Prometheus's remote_write terms: `basic_auth`
// (username, password | password_file) or `authorization` (type, default Bearer;
// credentials | credentials_file). At most one per sink.
//
// The Authorization header is computed when a request is sent, not when it is queued, so
// a secret file that changes (a rotated password, a refreshed token) is used from the next
// send on: files are re-read when their modification time or size changes, checked at most
// once a second. After a 401 or 403 the files are re-read at once; when the header changed
// since the request was sent, the request goes again with the new one (an expired token
// must not lose data rwgate acknowledged); otherwise the answer is final, as for any 4xx.
//
// The secret never appears in a Status, a log line or an endpoint.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

#include "base/status.h"

namespace rwgate::sinks {

struct AuthConfig {
  enum class Kind : uint8_t { kNone, kBasic, kAuthorization };
  Kind kind = Kind::kNone;
  std::string username;         // basic
  std::string secret;           // password or credentials, when given inline
  std::string secret_file;      // password_file or credentials_file
  std::string type = "Bearer";  // authorization
};

class Credentials {
 public:
  explicit Credentials(AuthConfig config);
  // The Authorization header value to send now (empty: none), and its version (bumped
  // whenever the value changes).
  std::string header(uint64_t& version);
  // Re-reads the secret file now; true when the header is no longer the one of `version`
  // (changed by this re-read or an earlier one).
  bool changed_since(uint64_t version);

 private:
  void reread(bool force);  // caller holds mu_
  const AuthConfig config_;
  std::mutex mu_;  // guards everything below
  std::string header_;
  uint64_t version_ = 0;
  std::chrono::steady_clock::time_point checked_{};
  int64_t mtime_ns_ = -1;
  int64_t size_ = -1;
};

}  // namespace rwgate::sinks
