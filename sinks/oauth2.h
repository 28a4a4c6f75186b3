// oauth2: a bearer token from the OAuth 2.0 client-credentials grant (RFC 6749 section 4.4),
// as Prometheus's remote_write `oauth2` block gets one.
//
// The token request: POST token_url, application/x-www-form-urlencoded, with
// grant_type=client_credentials, `scope` (the scopes joined by spaces) and endpoint_params;
// the client authenticates with HTTP Basic, its id and secret form-encoded first (section
// 2.3.1). The secret file, if any, is read for every token request (secrets rotate).
//
// The token is kept until 10 seconds before it expires (a quarter of its lifetime when that
// is shorter; expires_in absent: until refused). A background thread fetches the next one
// when 80% of the lifetime has passed, so sends do not wait for the token endpoint; a send
// that finds no valid token (at start, or when the endpoint was down) fetches one itself.
// After a 401 or 403, changed_since() fetches a new token unless one newer than the refused
// request's is already there.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include "sinks/auth_config.h"
#include "sinks/credentials.h"

namespace rwgate::sinks {

class OAuth2Token final : public Credentials {
 public:
  OAuth2Token(OAuth2Config config, std::chrono::milliseconds timeout);
  ~OAuth2Token() override;
  Status apply(HttpRequest& request, uint64_t& version) override;
  bool changed_since(uint64_t version) override;

 private:
  using Clock = std::chrono::steady_clock;
  struct Token {
    std::string header;  // "Bearer <access_token>"
    Clock::time_point usable_until = Clock::time_point::max();
    Clock::time_point refresh_at = Clock::time_point::max();
  };
  // One token request; no lock held (it waits on the network).
  Status fetch(Token& out) const;
  // Fetches and installs a token; false when the endpoint said no (logged once per change).
  bool renew();
  void refresh_loop();

  const OAuth2Config config_;
  const std::chrono::milliseconds timeout_;
  std::mutex mu_;  // guards everything below
  std::condition_variable wake_;
  Token token_;
  uint64_t version_ = 0;  // bumped with every token installed
  std::string last_error_;
  bool stopping_ = false;
  std::thread refresher_;  // last: started once the members above exist
};

}  // namespace rwgate::sinks
