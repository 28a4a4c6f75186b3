// sigv4: every request signed with AWS Signature Version 4, as Prometheus's remote_write
// `sigv4` block does it for Amazon Managed Service for Prometheus (service "aps").
//
// Signed: host, x-amz-date, x-amz-security-token for temporary credentials, and every
// header the request carries but User-Agent and Authorization (Content-Encoding,
// Content-Type, Content-Length, X-Prometheus-Remote-Write-Version and the configured
// headers); the payload hash is the SHA-256 of the compressed body as sent. Each attempt is
// signed at its own time, so a request retried for minutes never carries a stale date.
//
// Credentials come from aws/credentials.h (static keys, environment, shared file with
// `profile`, IMDS; then `role_arn` through STS). Their version changes whenever the keys
// do, so a 403 after a key rotation sends the request again with the new keys.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>

#include "aws/credentials.h"
#include "sinks/auth_config.h"
#include "sinks/credentials.h"

namespace rwgate::sinks {

class SigV4Auth final : public Credentials {
 public:
  SigV4Auth(const SigV4Config& config, std::chrono::milliseconds timeout);
  Status apply(HttpRequest& request, uint64_t& version) override;
  bool changed_since(uint64_t version) override;

 private:
  uint64_t version_of(const aws::Credentials& c);  // caller holds mu_

  const std::string region_;
  const std::string service_;
  aws::CredentialChain chain_;
  std::mutex mu_;     // guards the two below
  std::string keys_;  // the access key id and session token version_ was counted for
  uint64_t version_ = 0;
};

}  // namespace rwgate::sinks
