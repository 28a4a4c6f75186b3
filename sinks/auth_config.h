// How a sink proves who it is to its store, as Prometheus's remote_write writes it: at most
// one of `basic_auth`, `authorization`, `oauth2` and `sigv4` (a config error names both
// when two are set). Read here; the Credentials that act on it are in credentials.h.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/net.h"

namespace YAML {
class Node;
}
namespace rwgate::yaml {
class Reader;
}

namespace rwgate::sinks {

// oauth2: the client-credentials grant (RFC 6749 section 4.4).
struct OAuth2Config {
  std::string client_id;
  std::string client_secret;  // inline, or read from client_secret_file on every fetch
  std::string client_secret_file;
  net::Url token_url;
  std::vector<std::string> scopes;
  std::vector<std::pair<std::string, std::string>> endpoint_params;
  std::string ca_file;            // tls_config.ca_file, for the token endpoint
  std::optional<net::Url> proxy;  // proxy_url, for the token endpoint
};

// sigv4: AWS Signature Version 4 on every request (Amazon Managed Service for Prometheus).
struct SigV4Config {
  std::string region;  // empty in the YAML: from the URL's host, AWS_REGION, AWS_DEFAULT_REGION
  std::string access_key;
  std::string secret_key;
  std::string profile;
  std::string role_arn;
  std::string service_name = "aps";
};

struct AuthConfig {
  enum class Kind : uint8_t { kNone, kBasic, kAuthorization, kOAuth2, kSigV4 };
  Kind kind = Kind::kNone;
  std::string username;         // basic
  std::string secret;           // password or credentials, when given inline
  std::string secret_file;      // password_file or credentials_file
  std::string type = "Bearer";  // authorization
  OAuth2Config oauth2;
  SigV4Config sigv4;
};

// Reads the four keys of the remote_write block at `path` into `out`; `url` is the
// sink's, for sigv4's region.
void read_auth(yaml::Reader& r, const YAML::Node& remote_write, const std::string& path,
               const net::Url& url, AuthConfig& out);

}  // namespace rwgate::sinks
