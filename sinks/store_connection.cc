#include "sinks/store_connection.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "base/http_client.h"

namespace rwgate::sinks {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::awaitable;
using asio::use_awaitable;

StoreConnection::StoreConnection(asio::io_context& ioc, const StoreAddress& address, TlsClient* tls)
    : ioc_(ioc), address_(address), tls_(tls) {}

std::string StoreConnection::request_target(const std::string& path) const {
  if (!address_.proxy || address_.https) return path;
  return "http://" + net::host_header(address_.host, address_.port, false) + path;
}

namespace {

template <class Stream>
awaitable<boost::system::error_code> write_and_read(Stream& s, HttpRequest& request,
                                                    beast::flat_buffer& buffer,
                                                    StoreConnection::Response& res) {
  boost::system::error_code ec;
  co_await http::async_write(s, request, asio::redirect_error(use_awaitable, ec));
  if (!ec) {
    buffer.clear();
    co_await http::async_read(s, buffer, res, asio::redirect_error(use_awaitable, ec));
  }
  co_return ec;
}

}  // namespace

awaitable<std::string> StoreConnection::exchange(HttpRequest& request, Response& response,
                                                 std::chrono::milliseconds timeout) {
  if (!connected_) {
    if (std::string why = co_await connect(timeout); !why.empty()) {
      close();
      co_return why;
    }
  }
  boost::system::error_code ec;
  // Not a conditional expression: GCC 12 miscompiles co_await inside one.
  if (tls_stream_) {
    beast::get_lowest_layer(*tls_stream_).expires_after(timeout);
    ec = co_await write_and_read(*tls_stream_, request, read_buffer_, response);
  } else {
    tcp_->expires_after(timeout);
    ec = co_await write_and_read(*tcp_, request, read_buffer_, response);
  }
  if (ec) {
    close();
    co_return ec.message();
  }
  if (!response.keep_alive()) close();
  co_return std::string();
}

awaitable<std::string> StoreConnection::connect(std::chrono::milliseconds timeout) {
  boost::system::error_code ec;
  const std::string& host = address_.proxy ? address_.proxy->host : address_.host;
  const std::string& port = address_.proxy ? address_.proxy->port : address_.port;
  asio::ip::tcp::resolver resolver(ioc_);
  auto endpoints =
      co_await resolver.async_resolve(host, port, asio::redirect_error(use_awaitable, ec));
  if (ec) co_return "resolving " + host + ": " + ec.message();
  if (address_.https && tls_ == nullptr) co_return "the TLS files do not load";
  beast::tcp_stream tcp(ioc_);
  tcp.expires_after(timeout);
  co_await tcp.async_connect(endpoints, asio::redirect_error(use_awaitable, ec));
  if (ec) co_return ec.message();
  // Without it, TLS records (each a separate write, smaller than a segment) wait for the
  // previous one's ACK (Nagle against delayed ACKs): the sink falls behind with CPU to spare.
  tcp.socket().set_option(asio::ip::tcp::no_delay(true), ec);
  if (!address_.https) {
    tcp_ = std::make_unique<beast::tcp_stream>(std::move(tcp));
    connected_ = true;
    co_return std::string();
  }
  if (address_.proxy) {
    if (std::string why = co_await net::connect_tunnel(tcp, address_.host, address_.port);
        !why.empty())
      co_return why;
  }
  std::shared_ptr<asio::ssl::context> context = tls_->context();
  if (context != tls_context_) session_.reset();  // new files: a full handshake
  tls_context_ = std::move(context);
  tls_stream_ =
      std::make_unique<beast::ssl_stream<beast::tcp_stream>>(std::move(tcp), *tls_context_);
  if (session_) SSL_set_session(tls_stream_->native_handle(), session_.get());
  // SNI (a DNS name only: RFC 6066 has no IP addresses in it) and the name the certificate
  // must carry (an IP address is checked as one).
  if (!net::is_ip_literal(tls_->server_name()))
    SSL_set_tlsext_host_name(tls_stream_->native_handle(), tls_->server_name().c_str());
  if (tls_->verify())
    tls_stream_->set_verify_callback(asio::ssl::host_name_verification(tls_->server_name()));
  co_await tls_stream_->async_handshake(asio::ssl::stream_base::client,
                                        asio::redirect_error(use_awaitable, ec));
  if (ec) co_return ec.message();
  connected_ = true;
  co_return std::string();
}

void StoreConnection::close() {
  boost::system::error_code ignored;
  if (tls_stream_) {
    // TLS 1.3 hands out its tickets after the handshake: the session is taken at the end.
    SSL_SESSION* session = SSL_get1_session(tls_stream_->native_handle());
    if (session != nullptr && SSL_SESSION_is_resumable(session) == 1) {
      session_.reset(session);
    } else if (session != nullptr) {
      SSL_SESSION_free(session);
    }
    beast::get_lowest_layer(*tls_stream_).socket().close(ignored);
    tls_stream_.reset();
  } else if (tcp_) {
    tcp_->socket().close(ignored);
    tcp_.reset();
  }
  connected_ = false;
}

}  // namespace rwgate::sinks
