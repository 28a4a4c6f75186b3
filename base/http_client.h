// One HTTP(S) exchange, blocking, with a deadline over all of it: for the few calls made
// off the request path (AWS APIs, IMDS, STS, OAuth2 token endpoints). https verifies the
// server's chain (the system's CAs, or `ca_file`) and its name, and sends SNI.
//
// Through an HTTP proxy (`proxy`), as Go's net/http does for Prometheus's proxy_url: an
// http URL is asked of the proxy in absolute form ("POST http://host:port/path"); an https
// URL gets a CONNECT tunnel and TLS inside it. connect_tunnel() is the CONNECT step alone,
// for the remote_write sink's own connections.
#pragma once

// Asio 1.74 awaitable.hpp uses std::exchange without including <utility>.
#include <utility>

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "base/net.h"

namespace rwgate::net {

struct HttpRequest {
  std::string method = "GET";
  std::string target = "/";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

struct HttpResult {
  int status = 0;  // 0: no answer (error says why)
  std::string body;
  std::string error;
};

struct HttpClientOptions {
  std::chrono::milliseconds timeout = std::chrono::seconds(10);
  std::string ca_file;          // https: empty means the system's CAs
  const Url* proxy = nullptr;   // proxy_url; null: connect directly
  size_t max_body = 16u << 20;  // a longer answer is an error, not a memory spike
};

// Sends `request` (its target is the path; `url` says where) and reads the answer.
HttpResult http_exchange(const Url& url, const HttpRequest& request,
                         const HttpClientOptions& options);

// Asks the proxy `stream` is connected to for a tunnel to host:port; an empty string on
// success, otherwise why not (the proxy's status line, or the I/O error).
boost::asio::awaitable<std::string> connect_tunnel(boost::beast::tcp_stream& stream,
                                                   std::string host, std::string port);

}  // namespace rwgate::net
