#include "sinks/credentials.h"

#include "base/base64.h"
#include "base/file_stamp.h"
#include "base/log.h"
#include "base/secret_file.h"
#include "sinks/oauth2.h"
#include "sinks/sigv4_auth.h"

namespace rwgate::sinks {

namespace {

std::string header_for(const AuthConfig& c, const std::string& secret) {
  if (c.kind == AuthConfig::Kind::kBasic)
    return "Basic " + base64_encode(c.username + ":" + secret);
  if (c.kind == AuthConfig::Kind::kAuthorization) return c.type + " " + secret;
  return {};
}

}  // namespace

std::unique_ptr<Credentials> make_credentials(const AuthConfig& config,
                                              std::chrono::milliseconds timeout) {
  switch (config.kind) {
    case AuthConfig::Kind::kNone:
      return nullptr;
    case AuthConfig::Kind::kBasic:
    case AuthConfig::Kind::kAuthorization:
      return std::make_unique<SecretHeader>(config);
    case AuthConfig::Kind::kOAuth2:
      return std::make_unique<OAuth2Token>(config.oauth2, timeout);
    case AuthConfig::Kind::kSigV4:
      return std::make_unique<SigV4Auth>(config.sigv4, timeout);
  }
  return nullptr;
}

SecretHeader::SecretHeader(AuthConfig config) : config_(std::move(config)) {
  std::lock_guard lock(mu_);
  if (config_.secret_file.empty()) {
    header_ = header_for(config_, config_.secret);
  } else {
    reread(true);
  }
}

void SecretHeader::reread(bool force) {
  const auto now = std::chrono::steady_clock::now();
  if (!force && now - checked_ < std::chrono::seconds(1)) return;
  checked_ = now;
  const int64_t stamp = file_stamp(config_.secret_file);
  if (stamp == 0) return;  // gone for now: keep what we have
  if (!force && stamp == stamp_) return;
  std::string secret;
  if (Status s = read_secret_file(config_.secret_file, secret); !s) {
    log::warn("cannot re-read a sink's secret file; keeping the last one", {{"error", s.reason()}});
    return;
  }
  stamp_ = stamp;
  std::string header = header_for(config_, secret);
  if (header != header_) {
    header_ = std::move(header);
    ++version_;
  }
}

Status SecretHeader::apply(HttpRequest& request, uint64_t& version) {
  std::lock_guard lock(mu_);
  if (!config_.secret_file.empty()) reread(false);
  version = version_;
  request.set(boost::beast::http::field::authorization, header_);
  return {};
}

bool SecretHeader::changed_since(uint64_t version) {
  std::lock_guard lock(mu_);
  if (!config_.secret_file.empty()) reread(true);
  return version_ != version;
}

}  // namespace rwgate::sinks
