#include "base/http_client.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

namespace rwgate::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using asio::use_awaitable;

asio::awaitable<std::string> connect_tunnel(beast::tcp_stream& stream, std::string host,
                                            std::string port) {
  const std::string authority = join_host_port(host, port);
  http::request<http::empty_body> req{http::verb::connect, authority, 11};
  req.set(http::field::host, authority);
  boost::system::error_code ec;
  co_await http::async_write(stream, req, asio::redirect_error(use_awaitable, ec));
  if (ec) co_return "proxy: " + ec.message();
  // The answer to CONNECT has no body; anything after its header belongs to the tunnel,
  // and a TLS client speaks first, so the buffer holds nothing more.
  beast::flat_buffer buffer;
  http::response_parser<http::empty_body> parser;
  parser.skip(true);
  co_await http::async_read_header(stream, buffer, parser, asio::redirect_error(use_awaitable, ec));
  if (ec) co_return "proxy: " + ec.message();
  const int status = parser.get().result_int();
  if (status / 100 != 2) {
    co_return "proxy answered CONNECT with " + std::to_string(status) + " " +
        std::string(parser.get().reason());
  }
  co_return std::string();
}

namespace {

template <typename Stream>
asio::awaitable<void> talk(Stream& stream, std::string target, const Url& url,
                           const HttpRequest& request, size_t max_body, HttpResult* out,
                           boost::system::error_code& ec) {
  http::request<http::string_body> req{http::string_to_verb(request.method), target, 11};
  req.set(http::field::host, host_header(url));
  req.set(http::field::user_agent, "rwgate/0.1");
  for (const auto& [k, v] : request.headers) req.set(k, v);
  req.body() = request.body;
  req.prepare_payload();
  co_await http::async_write(stream, req, asio::redirect_error(use_awaitable, ec));
  if (ec) co_return;
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(max_body);
  co_await http::async_read(stream, buffer, parser, asio::redirect_error(use_awaitable, ec));
  if (ec) co_return;
  out->status = parser.get().result_int();
  out->body = std::move(parser.get().body());
}

asio::awaitable<void> exchange(Url url, HttpRequest request, HttpClientOptions options,
                               HttpResult* out) {
  auto ex = co_await asio::this_coro::executor;
  boost::system::error_code ec;
  const Url& peer = options.proxy != nullptr ? *options.proxy : url;
  asio::ip::tcp::resolver resolver(ex);
  auto endpoints = co_await resolver.async_resolve(peer.host, peer.port,
                                                   asio::redirect_error(use_awaitable, ec));
  if (ec) {
    out->error = "resolving " + peer.host + ": " + ec.message();
    co_return;
  }
  beast::tcp_stream tcp(ex);
  tcp.expires_after(options.timeout);
  co_await tcp.async_connect(endpoints, asio::redirect_error(use_awaitable, ec));
  if (ec) {
    out->error = "connecting to " + peer.host + ":" + peer.port + ": " + ec.message();
    co_return;
  }
  tcp.socket().set_option(asio::ip::tcp::no_delay(true), ec);
  if (url.scheme == "http") {
    // Through a proxy, plain http asks for the whole URL.
    std::string target = options.proxy != nullptr
                             ? url.scheme + "://" + host_header(url) + request.target
                             : request.target;
    co_await talk(tcp, std::move(target), url, request, options.max_body, out, ec);
    if (ec && out->status == 0) out->error = ec.message();
    co_return;
  }
  if (options.proxy != nullptr) {
    if (std::string why = co_await connect_tunnel(tcp, url.host, url.port); !why.empty()) {
      out->error = why;
      co_return;
    }
  }
  ssl::context ctx(ssl::context::tls_client);
  ctx.set_verify_mode(ssl::verify_peer);
  if (!options.ca_file.empty()) {
    ctx.load_verify_file(options.ca_file, ec);
  } else {
    ctx.set_default_verify_paths(ec);
  }
  if (ec) {
    out->error = "cannot load CA file " + options.ca_file + ": " + ec.message();
    co_return;
  }
  beast::ssl_stream<beast::tcp_stream> stream(std::move(tcp), ctx);
  if (!is_ip_literal(url.host))  // SNI carries DNS names only (RFC 6066)
    SSL_set_tlsext_host_name(stream.native_handle(), url.host.c_str());
  stream.set_verify_callback(ssl::host_name_verification(url.host));
  co_await stream.async_handshake(ssl::stream_base::client,
                                  asio::redirect_error(use_awaitable, ec));
  if (!ec) co_await talk(stream, request.target, url, request, options.max_body, out, ec);
  if (ec && out->status == 0) out->error = ec.message();
}

}  // namespace

HttpResult http_exchange(const Url& url, const HttpRequest& request,
                         const HttpClientOptions& options) {
  HttpResult out;
  asio::io_context ioc(1);
  asio::co_spawn(ioc, exchange(url, request, options, &out), asio::detached);
  ioc.run();
  return out;
}

}  // namespace rwgate::net
