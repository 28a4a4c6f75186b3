// Credentials: how a sink signs in to its store, one implementation per `remote_write`
// authentication (auth_config.h):
//   basic_auth, authorization  a fixed header from a secret, inline or in a file;
//   oauth2                     a bearer token from the client-credentials grant (oauth2.h);
//   sigv4                      an AWS Signature Version 4 over each request (sigv4_auth.h).
//
// The headers are computed when a request is sent, not when it is queued, so a secret that
// changes (a rotated password, a refreshed token, new AWS keys) is used from the next send
// on. Each application carries a version. After a 401 or 403 the sink asks
// changed_since(version): the credentials are fetched again at once (files re-read, a new
// token, the AWS chain asked again), and when they differ from the ones the request went
// with, it goes again with the new ones (an expired token must not lose data rwgate
// acknowledged); otherwise the answer is final, as for any 4xx.
//
// Called on the sink's thread, or on the threads of its tenants' sinks, which share one
// Credentials (sinks/tenant_sinks.h): each implementation guards its state with a mutex.
// Fetching (a token endpoint, STS, IMDS) blocks the callers for at most the fetch's
// timeout; that happens once per token lifetime, or after a refusal.
// Secrets never appear in a Status, a log line or an endpoint.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "base/status.h"
#include "sinks/auth_config.h"
#include "sinks/remote_write_request.h"

namespace rwgate::sinks {

class Credentials {
 public:
  virtual ~Credentials() = default;
  // Sets the authentication headers of `request`, whose body is final, for a send now, and
  // the version of the credentials used. An error: none can be had now (the send fails and
  // is retried with backoff, as for a network error).
  virtual Status apply(HttpRequest& request, uint64_t& version) = 0;
  // Fetches the credentials again; true when they are no longer those of `version`.
  virtual bool changed_since(uint64_t version) = 0;
};

// The Credentials for `config`; null for Kind::kNone.
std::unique_ptr<Credentials> make_credentials(const AuthConfig& config,
                                              std::chrono::milliseconds timeout);

// basic_auth and authorization: one header value from a secret. A secret file is re-read
// when its modification time or size changes, checked at most once a second.
class SecretHeader final : public Credentials {
 public:
  explicit SecretHeader(AuthConfig config);
  Status apply(HttpRequest& request, uint64_t& version) override;
  bool changed_since(uint64_t version) override;

 private:
  void reread(bool force);  // caller holds mu_
  const AuthConfig config_;
  std::mutex mu_;  // guards everything below
  std::string header_;
  uint64_t version_ = 0;
  std::chrono::steady_clock::time_point checked_{};
  int64_t stamp_ = -1;  // of the secret file, when last read
};

}  // namespace rwgate::sinks
