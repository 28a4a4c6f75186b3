// What the remote_write sink tests share: a real HTTP store in the test process (Beast,
// 127.0.0.1, port 0) that answers from a script and records what it got, batches, options
// for fast retries, and metric lookups.
#pragma once

#include <gtest/gtest.h>
#include <prometheus/registry.h>
#include <snappy.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "proto/decode.h"
#include "proto/hash.h"
#include "sinks/remote_write_sink.h"

namespace rwgate::sinks::test_support {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;
using std::chrono::milliseconds;

// A store that answers each request with the next entry of its script, then 204.
class ScriptedStore {
 public:
  struct Answer {
    int status = 204;
    bool close_without_answer = false;
    std::string retry_after;
  };
  struct Received {
    std::string body;  // as sent: snappy
    std::string content_length;
    std::string content_type;
    std::string target;
    std::string tenant;  // the X-Scope-OrgID header
  };

  explicit ScriptedStore(std::deque<Answer> script) : ScriptedStore(std::move(script), Answer()) {}
  ScriptedStore(std::deque<Answer> script, Answer after)
      : script_(std::move(script)),
        after_(std::move(after)),
        acceptor_(ioc_, {asio::ip::make_address("127.0.0.1"), 0}) {
    asio::co_spawn(ioc_, accept_loop(this), asio::detached);
    thread_ = std::thread([this] { ioc_.run(); });
  }
  ~ScriptedStore() {
    ioc_.stop();
    thread_.join();
  }

  std::string port() const { return std::to_string(acceptor_.local_endpoint().port()); }

  // Waits until `n` requests came in (false after 10 s), then returns them all.
  bool wait_for(size_t n, std::vector<Received>* out = nullptr) {
    std::unique_lock lock(mu_);
    const bool ok =
        cv_.wait_for(lock, std::chrono::seconds(10), [&] { return received_.size() >= n; });
    if (out != nullptr) *out = received_;
    return ok;
  }
  // Set before the first request: answers a request itself (nullopt: the script does).
  std::function<std::optional<Answer>(const Received&)> answer_for;

  std::vector<Received> received() {
    std::lock_guard lock(mu_);
    return received_;
  }

 private:
  static asio::awaitable<void> accept_loop(ScriptedStore* store) {
    for (;;) {
      boost::system::error_code ec;
      tcp::socket socket =
          co_await store->acceptor_.async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
      asio::co_spawn(store->ioc_, session(store, std::move(socket)), asio::detached);
    }
  }

  static asio::awaitable<void> session(ScriptedStore* store, tcp::socket socket) {
    beast::flat_buffer buffer;
    for (;;) {
      boost::system::error_code ec;
      http::request<http::string_body> req;
      co_await http::async_read(socket, buffer, req, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
      const Answer answer = store->record(req);
      if (answer.close_without_answer) co_return;  // the socket closes with this frame
      http::response<http::string_body> res{static_cast<http::status>(answer.status), 11};
      res.keep_alive(req.keep_alive());
      if (!answer.retry_after.empty()) res.set(http::field::retry_after, answer.retry_after);
      // A 204 has no body (prepare_payload throws on one); the others say who answered.
      if (answer.status != 204) res.body() = "scripted " + std::to_string(answer.status);
      res.prepare_payload();
      co_await http::async_write(socket, res, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
    }
  }

  Answer record(const http::request<http::string_body>& req) {
    std::lock_guard lock(mu_);
    received_.push_back({req.body(), std::string(req[http::field::content_length]),
                         std::string(req[http::field::content_type]), std::string(req.target()),
                         std::string(req["X-Scope-OrgID"])});
    cv_.notify_all();
    if (answer_for) {
      if (std::optional<Answer> a = answer_for(received_.back())) return *a;
    }
    if (script_.empty()) return after_;
    Answer a = script_.front();
    script_.pop_front();
    return a;
  }

  std::mutex mu_;  // guards script_ and received_
  std::deque<Answer> script_;
  std::vector<Received> received_;
  std::condition_variable cv_;
  const Answer after_;
  asio::io_context ioc_;
  tcp::acceptor acceptor_;
  std::thread thread_;
};

using Script = std::deque<ScriptedStore::Answer>;

inline ScriptedStore::Answer answer(int status, std::string retry_after = "") {
  ScriptedStore::Answer a;
  a.status = status;
  a.retry_after = std::move(retry_after);
  return a;
}

inline ScriptedStore::Answer close_without_answer() {
  ScriptedStore::Answer a;
  a.close_without_answer = true;
  return a;
}

// A batch of `n` series `m{i="<first + k>"}`, one sample each, and its SeriesOut.
struct TestBatch {
  std::deque<std::string> strings;  // the views below point into these
  proto::Batch batch;
  std::vector<proto::SeriesOut> outs;

  TestBatch(int n, int first = 0) {
    for (int k = 0; k < n; ++k) {
      const auto& value = strings.emplace_back(std::to_string(first + k));
      proto::Series s;
      s.labels_begin = static_cast<uint32_t>(batch.labels.size());
      s.labels_count = 2;
      batch.labels.push_back({"__name__", "m"});
      batch.labels.push_back({"i", value});
      s.samples_begin = static_cast<uint32_t>(batch.samples.size());
      s.samples_count = 1;
      batch.samples.push_back({static_cast<double>(k), 1700000000000 + k});
      batch.series.push_back(s);
    }
    for (uint32_t k = 0; k < batch.series.size(); ++k) {
      const auto labels = batch.labels_of(batch.series[k]);
      outs.push_back({k, labels, proto::hash_labels(labels)});
    }
  }
};

inline RemoteWriteOptions fast_options(const ScriptedStore& store) {
  RemoteWriteOptions o;
  o.name = "store";
  o.host = "127.0.0.1";
  o.port = store.port();
  o.target = "/api/v1/write";
  o.timeout = milliseconds(2000);
  o.shards = 1;
  o.batch_send_deadline = milliseconds(5);
  o.min_backoff = milliseconds(1);
  o.max_backoff = milliseconds(4);
  return o;
}

// The value of a sink metric, or -1 when it has no such series.
inline double metric(prometheus::Registry& registry, const std::string& name,
                     const std::map<std::string, std::string>& labels = {}) {
  for (const auto& family : registry.Collect()) {
    if (family.name != name) continue;
    for (const auto& m : family.metric) {
      size_t matched = 0;
      for (const auto& l : m.label) {
        if (auto it = labels.find(l.name); it != labels.end() && it->second == l.value) ++matched;
      }
      if (matched == labels.size()) return m.counter.value + m.gauge.value;
    }
  }
  return -1;
}

inline bool eventually(const std::function<bool()>& done) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(milliseconds(2));
  }
  return true;
}

// The samples a received body carries (decompressed and decoded as RW 1.0).
inline size_t samples_in(const ScriptedStore::Received& r) {
  std::string raw;
  EXPECT_TRUE(snappy::Uncompress(r.body.data(), r.body.size(), &raw));
  proto::Decoder decoder;
  proto::Batch batch;
  EXPECT_TRUE(decoder.decode_v1(raw, batch).ok());
  return batch.samples.size();
}

}  // namespace rwgate::sinks::test_support
