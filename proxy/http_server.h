// HTTP/1.1 server on Asio + Beast, plain or TLS.
//
// One io_context per worker thread. A single acceptor hands each new connection to the
// next worker in turn; from then on the connection lives on that worker's thread, and the
// handler is told which worker it runs on, so per-worker state needs no locks. Each
// connection is a coroutine that reads requests (keep-alive) and writes the handler's
// responses.
//
// TLS: when the context provider gives a context (the web config's, asked once per new
// connection, so new certificates apply to new connections), the connection starts with a
// TLS handshake. A failed one is counted by reason (plain HTTP sent to the TLS port gets
// the one-line 400 Go's servers send; a missing or unverifiable client certificate, garbage
// instead of a ClientHello, a timeout) and the connection closed.
//
// Slow or stalled clients cannot hold a connection forever: the handshake must finish in
// 10 s; an idle keep-alive connection is closed after 5 minutes; once a request's first
// byte has come, its header must be complete within 10 s and its body within 2 minutes.
// At most max_connections are open at once (Prometheus's --web.max-connections): one more
// is closed at once and counted.
#pragma once

#include <atomic>
// Asio 1.74 awaitable.hpp uses std::exchange without including <utility>.
#include <utility>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http.hpp>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "base/status.h"
#include "proxy/tls_server.h"

namespace rwgate::proxy {

using HttpRequest = boost::beast::http::request<boost::beast::http::string_body>;
using HttpResponse = boost::beast::http::response<boost::beast::http::string_body>;
// What a handler knows of the connection a request came on.
struct Connection {
  // The index of the worker thread the request runs on (0 .. worker_threads-1); per-worker
  // state is looked up by it, without locks.
  size_t worker = 0;
  // The subject of the verified client certificate (RFC 2253); empty without one.
  std::string_view client_certificate;
};
using HttpHandler = std::function<void(const HttpRequest&, HttpResponse&, const Connection&)>;

// Why a TLS handshake failed, as counted.
enum class TlsFailure : uint8_t {
  kPlainHttp,             // an HTTP request on the TLS port
  kNoClientCertificate,   // required and not sent
  kBadClientCertificate,  // sent and not verified
  kTimeout,
  kClosed,    // the client went away first
  kProtocol,  // anything else: not TLS, no common version or cipher, ...
};
inline constexpr const char* kTlsFailureNames[] = {
    "plain_http", "no_client_certificate", "bad_client_certificate", "timeout", "closed",
    "protocol"};

struct HttpServerOptions {
  std::string listen_address;  // HOST:PORT; port 0 picks a free one
  int worker_threads = 1;
  uint64_t max_body_bytes = 32ULL << 20;
  int max_connections = 512;
  std::function<void()> on_body_too_large;      // counts the 413s the server answers itself
  std::function<void()> on_connection_refused;  // over max_connections
  // TLS: the context for a new connection; null (or no function): plain HTTP.
  std::function<SslContext()> tls_context;
  std::function<void(TlsFailure)> on_tls_failure;
};

class HttpServer {
 public:
  HttpServer(HttpServerOptions options, HttpHandler handler);
  ~HttpServer();

  // Binds and starts the workers. The error names the address on failure.
  Status start();
  // The bound port (after start()).
  uint16_t port() const { return port_; }
  // Stops accepting; connections finish the request they are in and then close.
  void stop_accepting();
  // Requests being handled right now.
  int in_flight() const { return in_flight_.load(); }
  // Stops the workers and joins their threads.
  void stop();

 private:
  struct Worker;
  void accept_next();
  static boost::asio::awaitable<void> serve(HttpServer* server, size_t worker,
                                            boost::asio::ip::tcp::socket socket);
  // The request loop of one connection, over a plain or a TLS stream.
  template <class Stream>
  static boost::asio::awaitable<void> serve_requests(HttpServer* server, Stream& stream,
                                                     Connection connection);

  HttpServerOptions options_;
  HttpHandler handler_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor_;
  size_t next_worker_ = 0;
  uint16_t port_ = 0;
  std::atomic<bool> closing_{false};
  std::atomic<int> in_flight_{0};
  std::atomic<int> open_connections_{0};
};

}  // namespace rwgate::proxy
