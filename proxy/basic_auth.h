// Basic authentication of requests against the web config's bcrypt users.
//
// bcrypt is slow on purpose (tens of milliseconds at cost 10), and a sender authenticates
// every request, so each distinct (user, password, hash) is verified once and the answer
// remembered. The cache key is an HMAC-SHA256 of the three under a random key made at
// start: the plain password is never stored, and the keys are no offline oracle for it.
// The cache is bounded (it starts over when full), and a changed hash in the web config
// is a different key, so a password change takes effect at once.
//
// An unknown user is checked against a decoy hash, so the answer takes as long as for a
// known user with a wrong password (no user enumeration through timing); the stored and
// computed hashes are compared in constant time.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "proxy/web_config.h"

namespace rwgate::proxy {

enum class AuthOutcome : uint8_t {
  kOk,
  kMissing,    // no Authorization header
  kMalformed,  // not "Basic base64(user:password)"
  kUnknownUser,
  kWrongPassword,
  kCount,
};
const char* auth_outcome_name(AuthOutcome o);

class BasicAuth {
 public:
  BasicAuth();
  // Checks an Authorization header value against `config`'s users; on kOk, `user` is the
  // authenticated user name.
  AuthOutcome check(const WebConfig& config, std::string_view authorization, std::string& user);

 private:
  // Whether `password` matches `hash` (bcrypt), remembered.
  bool verify(std::string_view user, std::string_view password, const std::string& hash);

  std::array<unsigned char, 32> key_;  // the cache keys' HMAC key
  std::mutex mu_;                      // guards cache_
  std::unordered_map<std::string, bool> cache_;
};

}  // namespace rwgate::proxy
