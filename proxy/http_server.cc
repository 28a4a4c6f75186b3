#include "proxy/http_server.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>

#include "base/log.h"
#include "base/net.h"

namespace rwgate::proxy {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;

struct HttpServer::Worker {
  size_t index = 0;
  asio::io_context ioc{1};
  asio::executor_work_guard<asio::io_context::executor_type> guard = asio::make_work_guard(ioc);
  std::thread thread;
};

HttpServer::HttpServer(HttpServerOptions options, HttpHandler handler)
    : options_(std::move(options)), handler_(std::move(handler)) {}

HttpServer::~HttpServer() { stop(); }

Status HttpServer::start() {
  const std::string& addr = options_.listen_address;
  const net::HostPort split = net::split_host_port(addr);
  if (!split.ok || !split.has_port)
    return Status::error("listen address \"" + addr + "\" is not HOST:PORT");
  const std::string host = split.host.empty() ? "0.0.0.0" : std::string(split.host);
  const std::string port(split.port);

  const int nworkers = std::max(1, options_.worker_threads);
  for (int i = 0; i < nworkers; ++i) {
    workers_.push_back(std::make_unique<Worker>());
    workers_.back()->index = static_cast<size_t>(i);
  }

  boost::system::error_code ec;
  tcp::resolver resolver(workers_[0]->ioc);
  auto results = resolver.resolve(host, port, tcp::resolver::passive, ec);
  if (ec || results.empty())
    return Status::error("cannot resolve listen address \"" + addr + "\": " + ec.message());
  const tcp::endpoint endpoint = results.begin()->endpoint();
  acceptor_ = std::make_unique<tcp::acceptor>(workers_[0]->ioc);
  acceptor_->open(endpoint.protocol(), ec);
  if (!ec) acceptor_->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_->bind(endpoint, ec);
  if (!ec) acceptor_->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Status::error("cannot listen on \"" + addr + "\": " + ec.message());
  port_ = acceptor_->local_endpoint().port();
  accept_next();
  for (auto& w : workers_) {
    w->thread = std::thread([&ioc = w->ioc] { ioc.run(); });
  }
  return {};
}

void HttpServer::accept_next() {
  Worker& target = *workers_[next_worker_];
  next_worker_ = (next_worker_ + 1) % workers_.size();
  acceptor_->async_accept(
      target.ioc, [this, &target](boost::system::error_code ec, tcp::socket socket) {
        if (ec) {
          if (ec == asio::error::operation_aborted || !acceptor_->is_open()) return;
          log::warn("accept failed", {{"component", "http"}, {"error", ec.message()}});
        } else if (open_connections_.load() >= options_.max_connections) {
          socket.close(ec);
          if (options_.on_connection_refused) options_.on_connection_refused();
        } else {
          open_connections_.fetch_add(1);
          socket.set_option(tcp::no_delay(true), ec);
          asio::co_spawn(target.ioc, serve(this, target.index, std::move(socket)), asio::detached);
        }
        if (!closing_.load()) accept_next();
      });
}

namespace {

constexpr auto kHandshakeTimeout = std::chrono::seconds(10);
constexpr auto kIdleTimeout = std::chrono::minutes(5);
constexpr auto kHeaderTimeout = std::chrono::seconds(10);
constexpr auto kBodyTimeout = std::chrono::minutes(2);
constexpr auto kWriteTimeout = std::chrono::minutes(1);

TlsFailure classify_handshake_error(const boost::system::error_code& ec) {
  if (ec == beast::error::timeout) return TlsFailure::kTimeout;
  if (ec.category() == asio::error::get_ssl_category()) {
    switch (ERR_GET_REASON(static_cast<unsigned long>(ec.value()))) {
      case SSL_R_HTTP_REQUEST:
        return TlsFailure::kPlainHttp;
      case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
        return TlsFailure::kNoClientCertificate;
      case SSL_R_CERTIFICATE_VERIFY_FAILED:
        return TlsFailure::kBadClientCertificate;
      default:
        return TlsFailure::kProtocol;
    }
  }
  if (ec == asio::error::eof || ec == asio::error::connection_reset ||
      ec == asio::ssl::error::stream_truncated)
    return TlsFailure::kClosed;
  return TlsFailure::kProtocol;
}

void set_too_large(HttpResponse& res, uint64_t limit) {
  res.result(http::status::payload_too_large);
  res.body() = "request body is over the limit of " + std::to_string(limit) + " bytes\n";
}

}  // namespace

asio::awaitable<void> HttpServer::serve(HttpServer* server, size_t worker, tcp::socket socket) {
  struct Release {
    HttpServer* s;
    ~Release() { s->open_connections_.fetch_sub(1); }
  } release{server};
  const SslContext context =
      server->options_.tls_context ? server->options_.tls_context() : nullptr;
  beast::tcp_stream tcp(std::move(socket));
  boost::system::error_code ec;
  if (!context) {
    co_await serve_requests(server, tcp, Connection{worker, {}});
    tcp.socket().shutdown(tcp::socket::shutdown_send, ec);
    co_return;
  }
  // Asio's context takes ownership of a reference; the stream's SSL holds its own.
  SSL_CTX_up_ref(context.get());
  asio::ssl::context wrapper(context.get());
  beast::ssl_stream<beast::tcp_stream> stream(std::move(tcp), wrapper);
  stream.next_layer().expires_after(kHandshakeTimeout);
  co_await stream.async_handshake(asio::ssl::stream_base::server,
                                  asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    const TlsFailure why = classify_handshake_error(ec);
    if (server->options_.on_tls_failure) server->options_.on_tls_failure(why);
    if (why == TlsFailure::kPlainHttp) {
      // What Go's servers answer, so a sender misconfigured with http:// sees why.
      static constexpr std::string_view kAnswer =
          "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n";
      stream.next_layer().expires_after(std::chrono::seconds(1));
      co_await asio::async_write(stream.next_layer(), asio::buffer(kAnswer),
                                 asio::redirect_error(asio::use_awaitable, ec));
    }
    stream.next_layer().socket().close(ec);
    co_return;
  }
  const std::string subject = peer_certificate_subject(stream.native_handle());
  co_await serve_requests(server, stream, Connection{worker, subject});
  stream.next_layer().socket().shutdown(tcp::socket::shutdown_send, ec);
}

template <class Stream>
asio::awaitable<void> HttpServer::serve_requests(HttpServer* server, Stream& stream,
                                                 Connection connection) {
  auto& tcp = beast::get_lowest_layer(stream);
  const uint64_t limit = server->options_.max_body_bytes;
  beast::flat_buffer buffer;
  boost::system::error_code ec;
  for (;;) {
    if (buffer.size() == 0) {
      // Idle between requests: a keep-alive connection may wait long for its next one.
      tcp.expires_after(kIdleTimeout);
      const size_t n = co_await stream.async_read_some(
          buffer.prepare(16 * 1024), asio::redirect_error(asio::use_awaitable, ec));
      if (ec) break;
      buffer.commit(n);
    }
    http::request_parser<http::string_body> parser;
    parser.body_limit(limit);
    parser.header_limit(64 * 1024);
    // Once it has started, a header that trickles in a byte a second is cut off.
    tcp.expires_after(kHeaderTimeout);
    co_await http::async_read_header(stream, buffer, parser,
                                     asio::redirect_error(asio::use_awaitable, ec));
    // Beast reports a Content-Length over the body limit while reading the header.
    const bool declared_too_large = ec == http::error::body_limit;
    if (ec && !declared_too_large) break;
    HttpResponse res;
    res.version(parser.get().version() ? parser.get().version() : 11);
    bool close_after = false;
    const auto& cl = parser.content_length();
    if (declared_too_large || (cl && *cl > limit)) {
      set_too_large(res, limit);
      close_after = true;  // the body was not read
      if (server->options_.on_body_too_large) server->options_.on_body_too_large();
    } else {
      tcp.expires_after(kBodyTimeout);
      co_await http::async_read(stream, buffer, parser,
                                asio::redirect_error(asio::use_awaitable, ec));
      if (ec == http::error::body_limit) {
        set_too_large(res, limit);
        close_after = true;
        if (server->options_.on_body_too_large) server->options_.on_body_too_large();
      } else if (ec) {
        break;
      } else {
        server->in_flight_.fetch_add(1);
        HttpRequest req = parser.release();
        server->handler_(req, res, connection);
        res.keep_alive(req.keep_alive());
        server->in_flight_.fetch_sub(1);
      }
    }
    if (close_after || server->closing_.load()) res.keep_alive(false);
    res.set(http::field::server, "rwgate");
    if (!res.has_content_length()) res.prepare_payload();
    const bool keep_alive = res.keep_alive();
    tcp.expires_after(kWriteTimeout);
    co_await http::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
    if (ec || !keep_alive) break;
  }
}

void HttpServer::stop_accepting() {
  if (closing_.exchange(true)) return;
  if (acceptor_ && !workers_.empty()) {
    asio::post(workers_[0]->ioc, [this] {
      boost::system::error_code ec;
      acceptor_->close(ec);
    });
  }
}

void HttpServer::stop() {
  stop_accepting();
  for (auto& w : workers_) {
    w->guard.reset();
    w->ioc.stop();
  }
  for (auto& w : workers_) {
    if (w->thread.joinable()) w->thread.join();
  }
  acceptor_.reset();  // before the io_context it belongs to
  workers_.clear();
}

}  // namespace rwgate::proxy
