#include "discovery/sources/http_source.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "base/log.h"

namespace rwgate::discovery {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

struct Fetch {
  int status = 0;
  std::string content_type;
  std::string body;
  std::string error;
};

// One GET with a deadline over the whole exchange.
asio::awaitable<void> get(HttpSdConfig config, Fetch* out) {
  auto ex = co_await asio::this_coro::executor;
  boost::system::error_code ec;
  asio::ip::tcp::resolver resolver(ex);
  beast::tcp_stream stream(ex);
  stream.expires_after(config.timeout);
  auto endpoints = co_await resolver.async_resolve(config.host, config.port,
                                                   asio::redirect_error(asio::use_awaitable, ec));
  if (!ec) co_await stream.async_connect(endpoints, asio::redirect_error(asio::use_awaitable, ec));
  http::request<http::empty_body> req{http::verb::get, config.target, 11};
  req.set(http::field::host, config.host + ":" + config.port);
  req.set(http::field::accept, "application/json");
  req.set(http::field::user_agent, "rwgate/0.1");
  req.set("X-Prometheus-Refresh-Interval-Seconds",
          std::to_string(
              std::chrono::duration_cast<std::chrono::seconds>(config.refresh_interval).count()));
  if (!ec) co_await http::async_write(stream, req, asio::redirect_error(asio::use_awaitable, ec));
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 << 20);
  if (!ec)
    co_await http::async_read(stream, buffer, parser,
                              asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    out->error = ec.message();
    co_return;
  }
  out->status = parser.get().result_int();
  out->content_type = std::string(parser.get()[http::field::content_type]);
  out->body = std::move(parser.get().body());
}

}  // namespace

HttpSource::HttpSource(std::string name, HttpSdConfig config, DiscoveryCache& cache,
                       SourceMetricFamilies& metrics)
    : name_(std::move(name)), config_(std::move(config)), cache_(cache), metrics_(metrics, name_) {}

HttpSource::~HttpSource() { stop(); }

Status HttpSource::refresh() {
  const auto t0 = std::chrono::steady_clock::now();
  Fetch fetch;
  {
    asio::io_context ioc(1);
    asio::co_spawn(ioc, get(config_, &fetch), asio::detached);
    ioc.run();
  }
  Status st;
  std::vector<InstanceRecord> records;
  std::vector<LoadBalancerRecord> lbs;
  if (!fetch.error.empty()) {
    st = Status::error(fetch.error);
  } else if (fetch.status != 200) {
    st = Status::error("HTTP status " + std::to_string(fetch.status));
  } else if (!fetch.content_type.starts_with("application/json")) {
    st = Status::error("Content-Type \"" + fetch.content_type + "\" is not application/json");
  } else {
    st = parse_sd_targets(fetch.body, records, &lbs);
  }
  if (!st) {
    metrics_.refreshed(t0, true, -1);
    cache_.source_failed(name_, st.reason());
    log::warn("http_sd refresh failed; keeping the last good list",
              {{"source", name_}, {"url", config_.url}, {"error", st.reason()}});
    return st;
  }
  cache_.replace_source(name_, records);
  cache_.replace_load_balancers(name_, std::move(lbs));
  metrics_.refreshed(t0, false, static_cast<int64_t>(records.size()));
  return st;
}

void HttpSource::start() {
  loop_.start(
      config_.refresh_interval, [this] { (void)refresh(); }, RefreshLoop::First::kInStart);
}

void HttpSource::stop() { loop_.stop(); }

}  // namespace rwgate::discovery
