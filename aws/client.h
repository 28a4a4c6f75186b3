// AWS Query API calls (POST form-encoded, XML answers) signed with SigV4, with retries on
// throttling, for the aws discovery source. Credentials come from aws/credentials.h.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "aws/credentials.h"
#include "aws/xml.h"
#include "base/status.h"

namespace rwgate::aws {

struct ClientOptions : CredentialOptions {
  std::string endpoint;  // empty: https://<service>.<region>.amazonaws.com[.cn]
  int max_attempts = 6;  // per call, throttling and 5xx included
  std::chrono::milliseconds min_backoff = std::chrono::milliseconds(100);
  std::chrono::milliseconds max_backoff = std::chrono::seconds(5);
};

// What an API said when it said no.
struct ApiError {
  int http_status = 0;
  std::string code;  // Throttling, RequestLimitExceeded, AuthFailure, …
  std::string message;
  bool throttled() const;
  bool auth() const;  // bad or missing credentials, or not allowed
};

class QueryClient {
 public:
  explicit QueryClient(ClientOptions options);

  // Calls `action` of `service` (its signing name: autoscaling, ec2, elasticloadbalancing)
  // at API `version`; throttling, 5xx and network errors are retried with jittered
  // exponential backoff up to max_attempts. On an API error, `error` has its details.
  Status call(const std::string& service, const std::string& version, const std::string& action,
              const std::vector<std::pair<std::string, std::string>>& params,
              std::unique_ptr<XmlNode>& out, ApiError& error);

  const ClientOptions& options() const { return options_; }
  uint64_t retries() const { return retries_; }
  // Ends waits between retries at once (and every later call): the source is stopping.
  void cancel() { cancelled_.store(true); }
  bool cancelled() const { return cancelled_.load(); }

 private:
  ClientOptions options_;
  CredentialChain credentials_;
  uint64_t retries_ = 0;
  std::atomic<bool> cancelled_{false};
};

// The form body of a Query API call: Action, Version, then params, percent-encoded.
std::string form_body(const std::string& action, const std::string& version,
                      const std::vector<std::pair<std::string, std::string>>& params);

}  // namespace rwgate::aws
