#include "sinks/credentials.h"

#include <openssl/evp.h>

#include "base/log.h"
#include "base/secret_file.h"

namespace rwgate::sinks {

namespace {

std::string base64(std::string_view in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(in.data()),
                                static_cast<int>(in.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::string header_for(const AuthConfig& c, const std::string& secret) {
  if (c.kind == AuthConfig::Kind::kBasic) return "Basic " + base64(c.username + ":" + secret);
  if (c.kind == AuthConfig::Kind::kAuthorization) return c.type + " " + secret;
  return {};
}

}  // namespace

Credentials::Credentials(AuthConfig config)
    : config_(std::move(config)), watch_({config_.secret_file}) {
  std::lock_guard lock(mu_);
  if (config_.secret_file.empty()) {
    header_ = header_for(config_, config_.secret);
  } else {
    read_file();
  }
}

void Credentials::read_file() {
  std::string secret;
  if (Status s = read_secret_file(config_.secret_file, secret); !s) {
    log::warn("cannot re-read a sink's secret file; keeping the last one", {{"error", s.reason()}});
    watch_.forget();  // try again at the next look
    return;
  }
  std::string header = header_for(config_, secret);
  if (header != header_) {
    header_ = std::move(header);
    ++version_;
  }
}

std::string Credentials::header(uint64_t& version) {
  std::lock_guard lock(mu_);
  if (!config_.secret_file.empty() && watch_.changed()) read_file();
  version = version_;
  return header_;
}

bool Credentials::changed_since(uint64_t version) {
  std::lock_guard lock(mu_);
  if (!config_.secret_file.empty() && watch_.changed(/*force=*/true)) read_file();
  return version_ != version;
}

}  // namespace rwgate::sinks
