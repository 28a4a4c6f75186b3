// Where AWS credentials come from, for every caller that signs (the aws discovery source,
// sinks with `sigv4`). The first provider that has keys wins:
//   1. static keys from the config;
//   2. the environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN;
//   3. a web identity (IRSA on EKS): AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE, the
//      token (re-read every time) traded for the role's credentials with an unsigned STS
//      AssumeRoleWithWebIdentity (AWS_ROLE_SESSION_NAME names the session);
//   4. the shared credentials file: AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials,
//      profile from the config, AWS_PROFILE, or "default";
//   5. the instance role, through IMDSv2 (token PUT, then role name and credentials).
//      AWS_EC2_METADATA_DISABLED=true skips it; the endpoint comes from the config,
//      AWS_EC2_METADATA_SERVICE_ENDPOINT, or http://169.254.169.254.
// With `role_arn`, those credentials only sign an STS AssumeRole call, and its temporary
// credentials are the ones handed out. The STS endpoint: `sts_endpoint`, else
// AWS_ENDPOINT_URL_STS, else AWS_ENDPOINT_URL, else https://sts.<region>.amazonaws.com.
//
// Caching: static and environment keys are kept; keys from the shared file are kept until
// the file changes (checked at most once a second: rotated keys are picked up without a
// reload); temporary credentials (IMDS, STS, web identity) until 5 minutes before they expire (a
// quarter of their lifetime when that is shorter). refresh() drops the cache, for a caller whose
// signature was just refused.
//
// Secrets never appear in a Status or the log.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>

#include "aws/sigv4.h"
#include "base/net.h"
#include "base/status.h"

namespace rwgate::aws {

struct CredentialOptions {
  std::string region;  // also STS's, for role_arn
  std::string access_key_id;
  std::string secret_access_key;
  std::string profile;
  std::string imds_endpoint;
  std::string ca_file;  // for https endpoints with a private CA (tests, private links)
  std::string role_arn;
  std::string sts_endpoint;
  std::optional<net::Url> proxy;  // proxy_url for STS and IMDS calls
  std::chrono::milliseconds timeout = std::chrono::seconds(10);
};

class CredentialChain {
 public:
  explicit CredentialChain(CredentialOptions options);
  // Current credentials, or the reason none could be had (each provider's).
  Status get(Credentials& out);
  // Forgets what is cached and asks the providers again.
  Status refresh(Credentials& out);

 private:
  Status fetch(Credentials& out);  // caller holds mu_
  Status from_chain(Credentials& out);
  Status from_imds(Credentials& out);
  Status assume_role(const Credentials& base, Credentials& out);
  Status from_web_identity(const std::string& role_arn, const std::string& token_file,
                           Credentials& out);
  bool cached_still_good();  // caller holds mu_

  const CredentialOptions options_;
  std::mutex mu_;  // guards the four below
  Credentials cached_;
  std::chrono::system_clock::time_point fetched_at_{};
  int64_t shared_file_stamp_ = 0;  // mtime and size of the shared file the keys came from
  std::chrono::steady_clock::time_point checked_{};
};

}  // namespace rwgate::aws
