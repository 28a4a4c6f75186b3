// The web config file and basic auth: what loads, every error with its YAML path, and the
// outcomes of checking credentials against bcrypt hashes (made by python3-bcrypt, another
// implementation than libxcrypt's).
#include "proxy/web_config.h"

#include <gtest/gtest.h>

#include <string>

#include "proxy/basic_auth.h"

namespace rwgate::proxy {
namespace {

std::string basic(const std::string& user_colon_password);

TEST(WebConfigTest, LoadsUsersAndAllowedHeaders) {
  const WebConfigResult r = parse_web_config(std::string(R"(
basic_auth_users:
  alice: $2y$10$abcdefghijklmnopqrstuuM9rF7lX0Vb2cDqRk3n7p5m0Ok8w2yXq
http_server_config:
  headers:
    x-frame-options: SAMEORIGIN
    Content-Security-Policy: "default-src 'self'"
)"));
  ASSERT_TRUE(r.config) << (r.errors.empty() ? "" : r.errors[0]);
  EXPECT_EQ(r.config->users.size(), 1u);
  ASSERT_EQ(r.config->headers.size(), 2u);
  EXPECT_EQ(r.config->headers[0].first, "X-Frame-Options");  // the canonical name
  EXPECT_EQ(r.config->headers[0].second, "SAMEORIGIN");
}

TEST(WebConfigTest, EveryErrorHasItsPath) {
  const WebConfigResult r = parse_web_config(R"(
basic_auth_users:
  bob: plain
http_server_config:
  headers:
    Server: rwgate
    X-Content-Type-Options: sniff
tls_server_config: {cert_file: a}
extra: 1
)");
  EXPECT_FALSE(r.config);
  std::string all;
  for (const std::string& e : r.errors) all += e + "\n";
  for (const char* path :
       {"basic_auth_users.bob (line 3)", "http_server_config.headers.Server",
        "http_server_config.headers.X-Content-Type-Options", "tls_server_config", "extra"}) {
    EXPECT_NE(all.find(path), std::string::npos) << path << " in:\n" << all;
  }
}

TEST(WebConfigTest, AnEmptyFileIsNoAuthentication) {
  const WebConfigResult r = parse_web_config("");
  ASSERT_TRUE(r.config);
  EXPECT_TRUE(r.config->users.empty());
}

std::string errors_of(const std::string& yaml) {
  const WebConfigResult r = parse_web_config(yaml, "/etc/rwgate");
  std::string all;
  for (const std::string& e : r.errors) all += e + "\n";
  return all;
}

TEST(WebConfigTest, TlsServerConfigFollowsExporterToolkit) {
  // Nothing TLS set, or an empty section: plain HTTP.
  EXPECT_FALSE(parse_web_config("tls_server_config: {}\n").config->tls);
  EXPECT_FALSE(parse_web_config("tls_server_config: {min_version: TLS13}\n").config->tls);
  // Any TLS key turns it on, and then both files are needed.
  EXPECT_NE(errors_of("tls_server_config: {client_auth_type: RequestClientCert}\n")
                .find("tls_server_config.cert_file (line 1): missing"),
            std::string::npos);
  // Client CAs need a policy that asks for a certificate; verifying needs client CAs.
  EXPECT_NE(errors_of("tls_server_config: {cert_file: a, key_file: b, client_ca_file: c}\n")
                .find("client CAs are configured without a client_auth_type"),
            std::string::npos);
  EXPECT_NE(errors_of("tls_server_config: {cert_file: a, key_file: b, client_auth_type: "
                      "RequireAndVerifyClientCert}\n")
                .find("tls_server_config.client_ca_file (line 1): missing"),
            std::string::npos);
  EXPECT_NE(errors_of("tls_server_config: {cert_file: a, key_file: b, client_auth_type: Maybe}\n")
                .find("tls_server_config.client_auth_type (line 1): must be NoClientCert"),
            std::string::npos);
  EXPECT_NE(errors_of("tls_server_config: {cert_file: a, key_file: b, min_version: TLS14}\n")
                .find("tls_server_config.min_version (line 1): must be TLS10"),
            std::string::npos);
  EXPECT_NE(errors_of("tls_server_config: {cert_file: a, key_file: b, cipher_suites: [x]}\n")
                .find("tls_server_config.cipher_suites (line 1): not supported"),
            std::string::npos);
  // Relative files are the web config's directory's, and a missing one is named.
  const std::string missing = errors_of("tls_server_config: {cert_file: a.pem, key_file: /k}\n");
  EXPECT_NE(missing.find("cert_file /etc/rwgate/a.pem"), std::string::npos) << missing;
}

class BasicAuthTest : public ::testing::Test {
 protected:
  void SetUp() override { config.users["alice"] = kHash; }
  // python3 -c 'import bcrypt; print(bcrypt.hashpw(b"s3cret", bcrypt.gensalt(4)))'
  static constexpr const char* kHash =
      "$2b$04$E/JBd.wp.VuTBmWsBYzMVe.I28eOx70DVfhLm.aEVXDs/rhFx719e";
  WebConfig config;
  BasicAuth auth;
  std::string user;
};

std::string basic(const std::string& s) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < s.size(); i += 3) {
    const uint32_t v = (uint8_t(s[i]) << 16) | (uint8_t(s[i + 1]) << 8) | uint8_t(s[i + 2]);
    for (int k = 18; k >= 0; k -= 6) out.push_back(kAlphabet[(v >> k) & 63]);
  }
  if (i + 1 == s.size()) {
    const uint32_t v = uint8_t(s[i]) << 16;
    out += {kAlphabet[(v >> 18) & 63], kAlphabet[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == s.size()) {
    const uint32_t v = (uint8_t(s[i]) << 16) | (uint8_t(s[i + 1]) << 8);
    out += {kAlphabet[(v >> 18) & 63], kAlphabet[(v >> 12) & 63], kAlphabet[(v >> 6) & 63], '='};
  }
  return "Basic " + out;
}

TEST_F(BasicAuthTest, TheRightPasswordIsAcceptedAndNamesTheUser) {
  EXPECT_EQ(auth.check(config, basic("alice:s3cret"), user), AuthOutcome::kOk);
  EXPECT_EQ(user, "alice");
  // Remembered: the same answer again (and the scheme is case-insensitive).
  user.clear();
  EXPECT_EQ(auth.check(config, "basic " + basic("alice:s3cret").substr(6), user), AuthOutcome::kOk);
  EXPECT_EQ(user, "alice");
}

TEST_F(BasicAuthTest, WrongOrMissingCredentialsAreRefusedByReason) {
  EXPECT_EQ(auth.check(config, basic("alice:wrong"), user), AuthOutcome::kWrongPassword);
  EXPECT_EQ(auth.check(config, basic("alice:s3cre"), user), AuthOutcome::kWrongPassword);
  EXPECT_EQ(auth.check(config, basic("mallory:s3cret"), user), AuthOutcome::kUnknownUser);
  EXPECT_EQ(auth.check(config, "", user), AuthOutcome::kMissing);
  EXPECT_EQ(auth.check(config, "Bearer abc", user), AuthOutcome::kMalformed);
  EXPECT_EQ(auth.check(config, "Basic !!!!", user), AuthOutcome::kMalformed);
  EXPECT_EQ(auth.check(config, basic("no-colon"), user), AuthOutcome::kMalformed);
  // A NUL would cut the password short for crypt(): refused, never a match.
  EXPECT_EQ(auth.check(config, basic(std::string("alice:s3cret\0x", 14)), user),
            AuthOutcome::kMalformed);
  EXPECT_TRUE(user.empty());
}

TEST_F(BasicAuthTest, AChangedHashTakesEffectAtOnce) {
  ASSERT_EQ(auth.check(config, basic("alice:s3cret"), user), AuthOutcome::kOk);
  config.users["alice"] =
      "$2b$04$jn0hgo6AKIFSgZV0pRiGsOPfCgRfwMoYa1Ht0uZRtepcp3aslUJuq";  // "other"
  EXPECT_EQ(auth.check(config, basic("alice:s3cret"), user), AuthOutcome::kWrongPassword);
  EXPECT_EQ(auth.check(config, basic("alice:other"), user), AuthOutcome::kOk);
}

}  // namespace
}  // namespace rwgate::proxy
