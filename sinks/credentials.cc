#include "sinks/credentials.h"

#include <openssl/evp.h>
#include <sys/stat.h>

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

Credentials::Credentials(AuthConfig config) : config_(std::move(config)) {
  std::lock_guard lock(mu_);
  if (config_.secret_file.empty()) {
    header_ = header_for(config_, config_.secret);
  } else {
    reread(true);
  }
}

void Credentials::reread(bool force) {
  const auto now = std::chrono::steady_clock::now();
  if (!force && now - checked_ < std::chrono::seconds(1)) return;
  checked_ = now;
  struct stat st {};
  if (::stat(config_.secret_file.c_str(), &st) != 0) return;  // keep what we have
  const int64_t mtime =
      static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  if (!force && mtime == mtime_ns_ && static_cast<int64_t>(st.st_size) == size_) return;
  std::string secret;
  if (Status s = read_secret_file(config_.secret_file, secret); !s) {
    log::warn("cannot re-read a sink's secret file; keeping the last one", {{"error", s.reason()}});
    return;
  }
  mtime_ns_ = mtime;
  size_ = static_cast<int64_t>(st.st_size);
  std::string header = header_for(config_, secret);
  if (header != header_) {
    header_ = std::move(header);
    ++version_;
  }
}

std::string Credentials::header(uint64_t& version) {
  std::lock_guard lock(mu_);
  if (!config_.secret_file.empty()) reread(false);
  version = version_;
  return header_;
}

bool Credentials::changed_since(uint64_t version) {
  std::lock_guard lock(mu_);
  if (!config_.secret_file.empty()) reread(true);
  return version_ != version;
}

}  // namespace rwgate::sinks
