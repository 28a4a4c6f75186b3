// HTTP/1.1 server on Asio + Beast.
//
// One io_context per worker thread. A single acceptor hands each new connection to the
// next worker in turn; from then on the connection lives on that worker's thread, and the
// handler is told which worker it runs on, so per-worker state needs no locks. Each connection is a
// coroutine that reads requests (keep-alive) and writes the handler's responses.
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
#include <thread>
#include <vector>

#include "base/status.h"

namespace rwgate::proxy {

using HttpRequest = boost::beast::http::request<boost::beast::http::string_body>;
using HttpResponse = boost::beast::http::response<boost::beast::http::string_body>;
// `worker`: the index of the worker thread the request runs on (0 .. worker_threads-1);
// per-worker state is looked up by it, without locks.
using HttpHandler = std::function<void(const HttpRequest&, HttpResponse&, size_t worker)>;

struct HttpServerOptions {
  std::string listen_address;  // HOST:PORT; port 0 picks a free one
  int worker_threads = 1;
  uint64_t max_body_bytes = 32ULL << 20;
  std::function<void()> on_body_too_large;  // counts the 413s the server answers itself
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

  HttpServerOptions options_;
  HttpHandler handler_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor_;
  size_t next_worker_ = 0;
  uint16_t port_ = 0;
  std::atomic<bool> closing_{false};
  std::atomic<int> in_flight_{0};
};

}  // namespace rwgate::proxy
