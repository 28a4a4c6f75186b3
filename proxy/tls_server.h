// TLS on rwgate's own listener: the `tls_server_config` of Prometheus's web configuration
// file (exporter-toolkit's format), so a file written for Prometheus or an exporter works:
//
//   tls_server_config:
//     cert_file: server.pem           # both required once any TLS key is set
//     key_file: server.key
//     client_auth_type: RequireAndVerifyClientCert
//     client_ca_file: ca.pem
//     min_version: TLS12              # default TLS12; max_version default TLS13
//
// client_auth_type, as in Go's crypto/tls:
//   NoClientCert (default)       no certificate asked for;
//   RequestClientCert            asked for, not required, not verified;
//   RequireAnyClientCert         required, not verified (RequireClientCert is the old name);
//   VerifyClientCertIfGiven      verified against client_ca_file when sent;
//   RequireAndVerifyClientCert   required and verified.
// client_ca_file without a client_auth_type that asks for a certificate is an error, as in
// exporter-toolkit; so is a verifying type without client_ca_file (nothing to verify
// against). Relative paths are relative to the web config file's directory.
//
// No Asio here: the web config parser (and its fuzz target) builds the OpenSSL context, so
// a file that does not load is an error at start with its path, and the server wraps the
// context per connection.
#pragma once

#include <openssl/ssl.h>

#include <cstdint>
#include <memory>
#include <string>

namespace YAML {
class Node;
}
namespace rwgate::yaml {
class Reader;
}

namespace rwgate::proxy {

enum class ClientAuth : uint8_t {
  kNone,
  kRequest,
  kRequireAny,
  kVerifyIfGiven,
  kRequireAndVerify,
};

struct TlsServerConfig {
  std::string cert_file;
  std::string key_file;
  ClientAuth client_auth = ClientAuth::kNone;
  std::string client_ca_file;
  int min_version = TLS1_2_VERSION;
  int max_version = TLS1_3_VERSION;
};

struct SslCtxFree {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
using SslContext = std::shared_ptr<SSL_CTX>;

// Reads `tls_server_config` (path "tls_server_config"); false when the section is absent or
// sets nothing (plain HTTP, as exporter-toolkit serves then).
bool read_tls_server_config(yaml::Reader& r, const YAML::Node& node, const std::string& base_dir,
                            TlsServerConfig& out);

// Builds the server context; null with `error` (naming the file) when a file does not load.
SslContext build_server_context(const TlsServerConfig& config, std::string& error);

// Changes when one of the config's files changes (mtime and size).
int64_t tls_files_stamp(const TlsServerConfig& config);

// The subject of the client's certificate, RFC 2253 style ("CN=sender,O=team"); empty when
// it sent none.
std::string peer_certificate_subject(SSL* ssl);

}  // namespace rwgate::proxy
