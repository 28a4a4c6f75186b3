#include "proxy/basic_auth.h"

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <memory>

#include "base/base64.h"

namespace rwgate::proxy {

namespace {

constexpr size_t kMaxCached = 10000;
// The decoy an unknown user's password is checked against: cost 10, like the usual hashes.
constexpr const char* kDecoyHash = "$2b$10$uw8gCFIrYN7SqNZPzQtuZu63Z8GDDgKU2L94NiBLN4JXZS84wuSSy";

bool bcrypt_matches(const std::string& password, const std::string& hash) {
  auto data = std::make_unique<crypt_data>();  // about 32 KiB: not on the stack
  const char* out = crypt_r(password.c_str(), hash.c_str(), data.get());
  return out != nullptr && std::string_view(out).size() == hash.size() &&
         CRYPTO_memcmp(out, hash.data(), hash.size()) == 0;
}

}  // namespace

const char* auth_outcome_name(AuthOutcome o) {
  switch (o) {
    case AuthOutcome::kOk:
      return "ok";
    case AuthOutcome::kMissing:
      return "missing";
    case AuthOutcome::kMalformed:
      return "malformed";
    case AuthOutcome::kUnknownUser:
      return "unknown_user";
    case AuthOutcome::kWrongPassword:
    case AuthOutcome::kCount:
      break;
  }
  return "wrong_password";
}

BasicAuth::BasicAuth() {
  if (RAND_bytes(key_.data(), static_cast<int>(key_.size())) != 1) key_.fill(0x5c);
}

bool BasicAuth::verify(std::string_view user, std::string_view password, const std::string& hash) {
  std::string material(user);
  material.push_back('\0');
  material.append(password);
  material.push_back('\0');
  material.append(hash);
  unsigned char mac[32];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()),
       reinterpret_cast<const unsigned char*>(material.data()), material.size(), mac, &len);
  OPENSSL_cleanse(material.data(), material.size());
  const std::string key(reinterpret_cast<const char*>(mac), len);
  {
    std::lock_guard lock(mu_);
    if (auto it = cache_.find(key); it != cache_.end()) return it->second;
  }
  // Outside the lock: a slow bcrypt must not hold up other requests' cache hits.
  const bool ok = bcrypt_matches(std::string(password), hash);
  std::lock_guard lock(mu_);
  if (cache_.size() >= kMaxCached) cache_.clear();
  cache_[key] = ok;
  return ok;
}

AuthOutcome BasicAuth::check(const WebConfig& config, std::string_view authorization,
                             std::string& user) {
  if (authorization.empty()) return AuthOutcome::kMissing;
  constexpr std::string_view kScheme = "basic ";
  if (authorization.size() <= kScheme.size()) return AuthOutcome::kMalformed;
  for (size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(authorization[i])) != kScheme[i])
      return AuthOutcome::kMalformed;
  }
  std::string decoded;
  if (!base64_decode(authorization.substr(kScheme.size()), decoded)) return AuthOutcome::kMalformed;
  const size_t colon = decoded.find(':');
  // A NUL would end the password early for crypt(): never a match, so refuse it.
  if (colon == std::string::npos || decoded.find('\0') != std::string::npos) {
    OPENSSL_cleanse(decoded.data(), decoded.size());
    return AuthOutcome::kMalformed;
  }
  const std::string_view name = std::string_view(decoded).substr(0, colon);
  const std::string_view password = std::string_view(decoded).substr(colon + 1);
  const auto it = config.users.find(name);
  const bool known = it != config.users.end();
  const bool ok = verify(name, password, known ? it->second : std::string(kDecoyHash)) && known;
  if (ok) user = std::string(name);
  OPENSSL_cleanse(decoded.data(), decoded.size());
  if (ok) return AuthOutcome::kOk;
  return known ? AuthOutcome::kWrongPassword : AuthOutcome::kUnknownUser;
}

}  // namespace rwgate::proxy
