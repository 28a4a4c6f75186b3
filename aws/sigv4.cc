#include "aws/sigv4.h"

#include "base/net.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cctype>
#include <ctime>

namespace rwgate::aws {

namespace {

std::string hex(const unsigned char* p, size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(2 * n, '0');
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = kDigits[p[i] >> 4];
    out[2 * i + 1] = kDigits[p[i] & 15];
  }
  return out;
}

std::string hmac(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  return std::string(reinterpret_cast<const char*>(out), len);
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Header values: leading and trailing spaces trimmed, inner runs of spaces made one.
std::string trim_value(std::string_view v) {
  std::string out;
  bool space = false;
  for (char c : v) {
    if (c == ' ' || c == '\t') {
      space = !out.empty();
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(c);
  }
  return out;
}

std::string canonical_query(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> params;
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view part = query.substr(0, amp);
    if (!part.empty()) {
      const size_t eq = part.find('=');
      params.emplace_back(net::percent_encode(net::query_decode(part.substr(0, eq))),
                          eq == std::string_view::npos
                              ? ""
                              : net::percent_encode(net::query_decode(part.substr(eq + 1))));
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  std::sort(params.begin(), params.end());
  std::string out;
  for (const auto& [k, v] : params) {
    if (!out.empty()) out.push_back('&');
    out += k;
    out.push_back('=');
    out += v;
  }
  return out;
}

}  // namespace

std::string sha256_hex(std::string_view data) {
  unsigned char out[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), out);
  return hex(out, sizeof out);
}

SignOutput sign_v4(const Credentials& credentials, std::string_view region,
                   std::string_view service, const SignInput& in,
                   std::chrono::system_clock::time_point now) {
  SignOutput out;
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
  out.amz_date = stamp;
  const std::string date = out.amz_date.substr(0, 8);

  std::vector<std::pair<std::string, std::string>> headers;
  headers.emplace_back("host", trim_value(in.host));
  headers.emplace_back("x-amz-date", out.amz_date);
  if (!credentials.session_token.empty())
    headers.emplace_back("x-amz-security-token", credentials.session_token);
  for (const auto& [k, v] : in.headers) headers.emplace_back(lower(k), trim_value(v));
  std::sort(headers.begin(), headers.end());
  std::string canonical_headers, signed_headers;
  for (const auto& [k, v] : headers) {
    canonical_headers += k + ":" + v + "\n";
    if (!signed_headers.empty()) signed_headers.push_back(';');
    signed_headers += k;
  }
  // Every service but S3 signs the path as sent (already percent-encoded) encoded again.
  const std::string path = net::percent_encode(in.path.empty() ? "/" : in.path, true);
  out.canonical_request = in.method + "\n" + path + "\n" + canonical_query(in.query) + "\n" +
                          canonical_headers + "\n" + signed_headers + "\n" +
                          (in.payload_hash.empty() ? sha256_hex(in.body) : in.payload_hash);
  const std::string scope =
      date + "/" + std::string(region) + "/" + std::string(service) + "/aws4_request";
  out.string_to_sign =
      "AWS4-HMAC-SHA256\n" + out.amz_date + "\n" + scope + "\n" + sha256_hex(out.canonical_request);
  std::string key = hmac("AWS4" + credentials.secret_access_key, date);
  key = hmac(key, region);
  key = hmac(key, service);
  key = hmac(key, "aws4_request");
  const std::string sig = hmac(key, out.string_to_sign);
  out.authorization = "AWS4-HMAC-SHA256 Credential=" + credentials.access_key_id + "/" + scope +
                      ", SignedHeaders=" + signed_headers + ", Signature=" +
                      hex(reinterpret_cast<const unsigned char*>(sig.data()), sig.size());
  return out;
}

}  // namespace rwgate::aws
