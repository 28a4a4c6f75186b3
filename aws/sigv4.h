// AWS Signature Version 4 (the signing every AWS API call carries), with OpenSSL's
// SHA-256 and HMAC.
//
//   canonical request = METHOD \n URI \n sorted query \n lower-cased sorted headers \n
//                       signed header names \n hex(sha256(body))
//   string to sign    = AWS4-HMAC-SHA256 \n 20150830T123600Z \n date/region/service/aws4_request
//                       \n hex(sha256(canonical request))
//   signing key       = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service),
//                            "aws4_request")
//   Authorization     = AWS4-HMAC-SHA256 Credential=KEY/scope, SignedHeaders=…, Signature=…
//
// Checked against AWS's published test suite and against Debian's python3-botocore on
// requests of our own (tests/integration/test_aws.py, through tests/tools/sigv4_sign).
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rwgate::aws {

struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // empty unless temporary credentials
  // When temporary credentials stop working; the epoch for those that do not expire.
  std::chrono::system_clock::time_point expiration{};
  std::string provider;  // where they came from: config, environment, web-identity, shared-file,
                         // imds, sts

  bool empty() const { return access_key_id.empty() || secret_access_key.empty(); }
};

struct SignInput {
  std::string method = "POST";
  std::string host;        // the Host header as sent (with :port when not the default)
  std::string path = "/";  // as sent: normalised and percent-encoded
  std::string query;       // raw query string, without '?' (parameters in any order)
  std::vector<std::pair<std::string, std::string>> headers;  // signed too; not Host
  std::string body;
  // Hex SHA-256 of the body when the caller has it already (a large body signed again on a
  // retry); `body` is then not read.
  std::string payload_hash;
};

struct SignOutput {
  std::string amz_date;       // X-Amz-Date
  std::string authorization;  // Authorization
  std::string canonical_request;
  std::string string_to_sign;
};

// Signs `in` for `service` in `region` at `now`. The caller sends X-Amz-Date and
// Authorization, and X-Amz-Security-Token = session_token when there is one (it is signed).
SignOutput sign_v4(const Credentials& credentials, std::string_view region,
                   std::string_view service, const SignInput& in,
                   std::chrono::system_clock::time_point now);

std::string sha256_hex(std::string_view data);

}  // namespace rwgate::aws
