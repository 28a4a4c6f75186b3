#include "sinks/tls.h"

#include <openssl/ssl.h>

#include "base/file_stamp.h"
#include "base/log.h"

namespace rwgate::sinks {

namespace ssl = boost::asio::ssl;

std::unique_ptr<TlsClient> TlsClient::make(TlsConfig config, std::string host, std::string& error) {
  std::string name = config.server_name.empty() ? std::move(host) : config.server_name;
  std::unique_ptr<TlsClient> c(new TlsClient(std::move(config), std::move(name)));
  if (Status st = c->build(c->context_); !st) {
    error = st.reason();
    return nullptr;
  }
  c->stamp_ = c->files_stamp();
  c->checked_ = std::chrono::steady_clock::now();
  return c;
}

int64_t TlsClient::files_stamp() const {
  return rwgate::files_stamp({&config_.ca_file, &config_.cert_file, &config_.key_file});
}

Status TlsClient::build(std::shared_ptr<ssl::context>& out) const {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(ctx->native_handle(),
                                config_.min_version != 0 ? config_.min_version : TLS1_2_VERSION);
  boost::system::error_code ec;
  if (config_.ca_file.empty()) {
    ctx->set_default_verify_paths(ec);
  } else {
    ctx->load_verify_file(config_.ca_file, ec);
  }
  if (ec) return Status::error("tls_config.ca_file " + config_.ca_file + ": " + ec.message());
  if (!config_.cert_file.empty()) {
    ctx->use_certificate_chain_file(config_.cert_file, ec);
    if (ec) return Status::error("tls_config.cert_file " + config_.cert_file + ": " + ec.message());
    ctx->use_private_key_file(config_.key_file, ssl::context::pem, ec);
    if (ec) return Status::error("tls_config.key_file " + config_.key_file + ": " + ec.message());
  }
  ctx->set_verify_mode(config_.insecure_skip_verify ? ssl::verify_none : ssl::verify_peer);
  out = std::move(ctx);
  return {};
}

std::shared_ptr<ssl::context> TlsClient::context() {
  std::lock_guard lock(mu_);
  const auto now = std::chrono::steady_clock::now();
  if (now - checked_ < std::chrono::seconds(1)) return context_;
  checked_ = now;
  const int64_t stamp = files_stamp();
  if (stamp == stamp_) return context_;
  stamp_ = stamp;
  std::shared_ptr<ssl::context> fresh;
  if (Status st = build(fresh); !st) {
    log::warn("a sink's TLS files changed but do not load; keeping the last good ones",
              {{"error", st.reason()}});
    return context_;
  }
  log::info("a sink's TLS files changed; new connections use them");
  context_ = std::move(fresh);
  return context_;
}

}  // namespace rwgate::sinks
