// One keep-alive connection from a shard to its store: plain TCP or TLS, directly or
// through an HTTP proxy (proxy_url), as Go's net/http does it for Prometheus: plain http
// asks the proxy for the whole URL ("POST http://store:8428/api/v1/write"), https opens a
// CONNECT tunnel and speaks TLS to the store inside it, so the proxy never sees the data.
//
// A failed exchange closes the connection (half a request may be on it); the next one
// connects again. TLS contexts come from TlsClient, which rebuilds them when certificate
// files change; a connection keeps the context it was made with. The TLS session of a
// closed connection is offered again by the next one (resumption: no full handshake, no
// certificate check again) as long as the context is the same.
#pragma once

// Asio 1.74 awaitable.hpp uses std::exchange without including <utility>.
#include <utility>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "base/net.h"
#include "sinks/remote_write_request.h"
#include "sinks/tls.h"

namespace rwgate::sinks {

struct StoreAddress {
  std::string host;
  std::string port;
  std::optional<net::Url> proxy;  // proxy_url
  bool https = false;
};

class StoreConnection {
 public:
  using Response = boost::beast::http::response<boost::beast::http::string_body>;
  // `tls` (null for plain http) outlives the connection.
  StoreConnection(boost::asio::io_context& ioc, const StoreAddress& address, TlsClient* tls);

  // The request target to send: the path, or the whole URL through a proxy to plain http.
  std::string request_target(const std::string& path) const;
  // Sends `request` and reads the answer, connecting first when needed, all within
  // `timeout`. Empty on success; otherwise what failed (the connection is closed then).
  boost::asio::awaitable<std::string> exchange(HttpRequest& request, Response& response,
                                               std::chrono::milliseconds timeout);
  void close();

 private:
  boost::asio::awaitable<std::string> connect(std::chrono::milliseconds timeout);

  boost::asio::io_context& ioc_;
  const StoreAddress& address_;
  TlsClient* tls_;
  std::unique_ptr<boost::beast::tcp_stream> tcp_;  // plain http (null when not connected)
  // https: the connection's TLS stream (null when not connected), and the context it was
  // made with (kept: a rebuilt one must not pull it away).
  std::unique_ptr<boost::beast::ssl_stream<boost::beast::tcp_stream>> tls_stream_;
  std::shared_ptr<boost::asio::ssl::context> tls_context_;
  struct SessionFree {
    void operator()(SSL_SESSION* s) const { SSL_SESSION_free(s); }
  };
  std::unique_ptr<SSL_SESSION, SessionFree> session_;  // of the last connection, to resume
  bool connected_ = false;
  boost::beast::flat_buffer read_buffer_;
};

}  // namespace rwgate::sinks
