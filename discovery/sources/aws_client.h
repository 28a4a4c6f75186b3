// Talking to AWS: HTTP(S) exchanges, the credential chain, and Query API calls (POST
// form-encoded, XML answers) signed with SigV4, with retries on throttling.
//
// Credentials, the first that works:
//   1. static keys from the config (access_key_id, secret_access_key_file);
//   2. the environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN;
//   3. the shared credentials file: AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials,
//      profile from the config, AWS_PROFILE, or "default";
//   4. the instance role, through IMDSv2 (token PUT, then role name and credentials),
//      refreshed 5 minutes before they expire. AWS_EC2_METADATA_DISABLED=true skips it;
//      the endpoint comes from the config, AWS_EC2_METADATA_SERVICE_ENDPOINT, or
//      http://169.254.169.254.
// Secrets are never logged.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "base/net.h"
#include "base/status.h"
#include "discovery/sources/aws_sigv4.h"
#include "discovery/sources/aws_xml.h"

namespace rwgate::discovery::aws {

struct HttpResult {
  int status = 0;  // 0: no answer (error says why)
  std::string body;
  std::string error;
};

struct HttpRequest {
  std::string method = "GET";
  std::string target = "/";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

// One exchange with a deadline over all of it. https verifies the server's certificate
// chain (the system's CAs, or `ca_file`) and its name.
HttpResult http_exchange(const net::Url& url, const HttpRequest& request,
                         std::chrono::milliseconds timeout, const std::string& ca_file);

struct ClientOptions {
  std::string region;
  std::string endpoint;  // empty: https://<service>.<region>.amazonaws.com[.cn]
  std::string ca_file;
  std::string access_key_id;
  std::string secret_access_key;  // read from secret_access_key_file
  std::string profile;
  std::string imds_endpoint;
  std::chrono::milliseconds timeout = std::chrono::seconds(10);
  int max_attempts = 6;  // per call, throttling and 5xx included
  std::chrono::milliseconds min_backoff = std::chrono::milliseconds(100);
  std::chrono::milliseconds max_backoff = std::chrono::seconds(5);
};

class CredentialChain {
 public:
  explicit CredentialChain(ClientOptions options);
  // Current credentials, or the reason none could be had (each provider's).
  Status get(Credentials& out);

 private:
  Status from_imds(Credentials& out);
  ClientOptions options_;
  std::mutex mu_;  // guards cached_
  Credentials cached_;
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

}  // namespace rwgate::discovery::aws
