#include "proxy/tls_server.h"

#include <openssl/err.h>
#include <openssl/x509.h>
#include <yaml-cpp/yaml.h>

#include "base/file_stamp.h"
#include "base/tls_version.h"
#include "base/yaml_reader.h"

namespace rwgate::proxy {

using yaml::Reader;

namespace {

struct ClientAuthName {
  const char* name;
  ClientAuth value;
};
constexpr ClientAuthName kClientAuthNames[] = {
    {"NoClientCert", ClientAuth::kNone},
    {"RequestClientCert", ClientAuth::kRequest},
    {"RequireAnyClientCert", ClientAuth::kRequireAny},
    {"RequireClientCert", ClientAuth::kRequireAny},  // exporter-toolkit's older name
    {"VerifyClientCertIfGiven", ClientAuth::kVerifyIfGiven},
    {"RequireAndVerifyClientCert", ClientAuth::kRequireAndVerify},
};

std::string in_dir(const std::string& dir, const std::string& path) {
  if (path.empty() || path[0] == '/' || dir.empty()) return path;
  return dir + "/" + path;
}

std::string openssl_error() {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

// RequestClientCert and RequireAnyClientCert take any certificate, verified or not.
int accept_any(int /*preverify_ok*/, X509_STORE_CTX* /*ctx*/) { return 1; }

}  // namespace

bool read_tls_server_config(Reader& r, const YAML::Node& n, const std::string& base_dir,
                            TlsServerConfig& out) {
  const std::string p = "tls_server_config";
  if (!r.map(n, p,
             {"cert_file", "key_file", "client_auth_type", "client_ca_file", "min_version",
              "max_version", "cert", "key", "client_ca", "cipher_suites", "curve_preferences",
              "prefer_server_cipher_suites", "client_allowed_sans"}))
    return false;
  for (const char* unsupported :
       {"cert", "key", "client_ca", "cipher_suites", "curve_preferences", "client_allowed_sans"}) {
    if (n[unsupported].IsDefined())
      r.error(p + "." + unsupported, n[unsupported],
              "not supported by rwgate yet (use cert_file, key_file, client_ca_file; OpenSSL's "
              "default ciphers and curves)");
  }
  bool prefer = true;  // Go's default; OpenSSL servers prefer their own order anyway
  r.boolean(n, p, "prefer_server_cipher_suites", prefer);
  r.string(n, p, "cert_file", out.cert_file);
  r.string(n, p, "key_file", out.key_file);
  r.string(n, p, "client_ca_file", out.client_ca_file);
  std::string auth;
  r.string(n, p, "client_auth_type", auth);
  read_tls_version(r, n, p, "min_version", out.min_version);
  read_tls_version(r, n, p, "max_version", out.max_version);
  if (out.cert_file.empty() && out.key_file.empty() && out.client_ca_file.empty() && auth.empty())
    return false;
  if (out.cert_file.empty())
    r.error(p + ".cert_file", n, "missing (TLS needs cert_file and key_file)");
  if (out.key_file.empty())
    r.error(p + ".key_file", n, "missing (TLS needs cert_file and key_file)");
  bool known = auth.empty();
  for (const ClientAuthName& c : kClientAuthNames) {
    if (auth == c.name) {
      out.client_auth = c.value;
      known = true;
    }
  }
  if (!known) {
    r.error(p + ".client_auth_type", n["client_auth_type"],
            "must be NoClientCert, RequestClientCert, RequireAnyClientCert, "
            "VerifyClientCertIfGiven or RequireAndVerifyClientCert, not \"" +
                auth + "\"");
  }
  const bool verifies = out.client_auth == ClientAuth::kVerifyIfGiven ||
                        out.client_auth == ClientAuth::kRequireAndVerify;
  if (!out.client_ca_file.empty() && out.client_auth == ClientAuth::kNone)
    r.error(p + ".client_ca_file", n["client_ca_file"],
            "client CAs are configured without a client_auth_type that asks for a certificate");
  if (known && verifies && out.client_ca_file.empty())
    r.error(p + ".client_ca_file", n, "missing: " + auth + " verifies against it");
  if (out.min_version > out.max_version && out.max_version != 0)
    r.error(p + ".min_version", n["min_version"], "must not be above max_version");
  out.cert_file = in_dir(base_dir, out.cert_file);
  out.key_file = in_dir(base_dir, out.key_file);
  out.client_ca_file = in_dir(base_dir, out.client_ca_file);
  return true;
}

SslContext build_server_context(const TlsServerConfig& c, std::string& error) {
  SslContext ctx(SSL_CTX_new(TLS_server_method()), SslCtxFree{});
  if (!ctx) {
    error = "cannot create a TLS context: " + openssl_error();
    return nullptr;
  }
  SSL_CTX* raw = ctx.get();
  SSL_CTX_set_min_proto_version(raw, c.min_version);
  SSL_CTX_set_max_proto_version(raw, c.max_version);
  SSL_CTX_set_options(
      raw, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  if (SSL_CTX_use_certificate_chain_file(raw, c.cert_file.c_str()) != 1) {
    error = "tls_server_config.cert_file " + c.cert_file + ": " + openssl_error();
    return nullptr;
  }
  if (SSL_CTX_use_PrivateKey_file(raw, c.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    error = "tls_server_config.key_file " + c.key_file + ": " + openssl_error();
    return nullptr;
  }
  if (SSL_CTX_check_private_key(raw) != 1) {
    error = "tls_server_config.key_file " + c.key_file + " does not match cert_file " + c.cert_file;
    return nullptr;
  }
  if (!c.client_ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(raw, c.client_ca_file.c_str(), nullptr) != 1) {
      error = "tls_server_config.client_ca_file " + c.client_ca_file + ": " + openssl_error();
      return nullptr;
    }
    // The CA names sent in the CertificateRequest, so clients pick the right certificate.
    SSL_CTX_set_client_CA_list(raw, SSL_load_client_CA_file(c.client_ca_file.c_str()));
  }
  switch (c.client_auth) {
    case ClientAuth::kNone:
      SSL_CTX_set_verify(raw, SSL_VERIFY_NONE, nullptr);
      break;
    case ClientAuth::kRequest:
      SSL_CTX_set_verify(raw, SSL_VERIFY_PEER, accept_any);
      break;
    case ClientAuth::kRequireAny:
      SSL_CTX_set_verify(raw, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, accept_any);
      break;
    case ClientAuth::kVerifyIfGiven:
      SSL_CTX_set_verify(raw, SSL_VERIFY_PEER, nullptr);
      break;
    case ClientAuth::kRequireAndVerify:
      SSL_CTX_set_verify(raw, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
      break;
  }
  // Session resumption for keep-alive senders that reconnect: the context's id, so a
  // session from another context (other CA, other file) is never resumed.
  static const unsigned char kSessionContext[] = "rwgate";
  SSL_CTX_set_session_id_context(raw, kSessionContext, sizeof kSessionContext - 1);
  return ctx;
}

int64_t tls_files_stamp(const TlsServerConfig& c) {
  return files_stamp({&c.cert_file, &c.key_file, &c.client_ca_file});
}

std::string peer_certificate_subject(SSL* ssl) {
  X509* cert = SSL_get_peer_certificate(ssl);
  if (cert == nullptr) return {};
  std::string out;
  BIO* bio = BIO_new(BIO_s_mem());
  if (bio != nullptr &&
      X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253) >= 0) {
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio, &data);
    if (n > 0) out.assign(data, static_cast<size_t>(n));
  }
  BIO_free(bio);
  X509_free(cert);
  return out;
}

}  // namespace rwgate::proxy
