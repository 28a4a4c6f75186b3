// The remote_write sink against a real HTTP store in the test process (Beast, 127.0.0.1,
// port 0) that answers from a script: 2xx delivers, 5xx / 429 (when configured) / a
// connection closed without an answer are retried with the very same bytes, other 4xx are
// dropped once and counted, the drain deadline ends retries, and concurrent ingest
// threads (memory and disk mode) lose nothing.
#include "sinks/remote_write_sink.h"

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
#include <filesystem>
#include <functional>
#include <thread>

#include "proto/decode.h"
#include "proto/hash.h"

namespace rwgate::sinks {
namespace {

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
                         std::string(req[http::field::content_type])});
    cv_.notify_all();
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

ScriptedStore::Answer answer(int status, std::string retry_after = "") {
  ScriptedStore::Answer a;
  a.status = status;
  a.retry_after = std::move(retry_after);
  return a;
}

ScriptedStore::Answer close_without_answer() {
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

RemoteWriteOptions fast_options(const ScriptedStore& store) {
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
double metric(prometheus::Registry& registry, const std::string& name,
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

bool eventually(const std::function<bool()>& done) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(milliseconds(2));
  }
  return true;
}

// The samples a received body carries (decompressed and decoded as RW 1.0).
size_t samples_in(const ScriptedStore::Received& r) {
  std::string raw;
  EXPECT_TRUE(snappy::Uncompress(r.body.data(), r.body.size(), &raw));
  proto::Decoder decoder;
  proto::Batch batch;
  EXPECT_TRUE(decoder.decode_v1(raw, batch).ok());
  return batch.samples.size();
}

struct SinkUnderTest {
  prometheus::Registry registry;
  SinkMetricFamilies families{registry};
  RemoteWriteSink sink;

  explicit SinkUnderTest(RemoteWriteOptions o) : sink(std::move(o), families) { sink.start(); }
  ~SinkUnderTest() { sink.stop(std::chrono::steady_clock::now()); }

  void send(const TestBatch& b) {
    ASSERT_TRUE(sink.try_reserve(1000));
    ASSERT_TRUE(sink.enqueue(b.batch, b.outs, 1000).ok());
  }
  double forwarded() { return metric(registry, "rwgate_forwarded_samples_total"); }
  double rejected() {
    return metric(registry, "rwgate_dropped_samples_total", {{"reason", "rejected"}});
  }
  double sends(const std::string& status) {
    return metric(registry, "rwgate_sends_total", {{"status", status}});
  }
  double retries() { return metric(registry, "rwgate_send_retries_total"); }
};

void expect_all_identical(const std::vector<ScriptedStore::Received>& got) {
  for (size_t i = 1; i < got.size(); ++i) {
    EXPECT_EQ(got[i].body, got[0].body) << "attempt " << i;
    EXPECT_EQ(got[i].content_length, got[0].content_length) << "attempt " << i;
  }
}

TEST(RemoteWriteSinkTest, RetriesServerErrorsWithTheSameBody) {
  ScriptedStore store(Script{answer(503), answer(500)});
  SinkUnderTest t(fast_options(store));
  t.send(TestBatch(10));
  ASSERT_TRUE(eventually([&] { return t.forwarded() == 10; }));
  const auto got = store.received();
  ASSERT_EQ(got.size(), 3u);
  expect_all_identical(got);
  EXPECT_EQ(samples_in(got[0]), 10u);
  EXPECT_EQ(got[0].content_type, "application/x-protobuf");
  EXPECT_EQ(t.sends("503"), 1);
  EXPECT_EQ(t.sends("500"), 1);
  EXPECT_EQ(t.sends("204"), 1);
  EXPECT_EQ(t.retries(), 2);
  EXPECT_EQ(t.rejected(), 0);
  // What the request held of the queue came back exactly.
  EXPECT_TRUE(eventually([&] { return metric(t.registry, "rwgate_queue_bytes") == 0; }));
}

// A dropped request is followed by the next one, never by a retry of itself: with one
// shard, a retry would be the second request the store sees.
void expect_dropped_once(ScriptedStore& store, SinkUnderTest& t, const std::string& status) {
  t.send(TestBatch(10));
  ASSERT_TRUE(eventually([&] { return t.rejected() == 10; }));
  t.send(TestBatch(5, 100));
  ASSERT_TRUE(eventually([&] { return t.forwarded() == 5; }));
  const auto got = store.received();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_NE(got[1].body, got[0].body);
  EXPECT_EQ(samples_in(got[1]), 5u);
  EXPECT_EQ(t.sends(status), 1);
  EXPECT_EQ(t.retries(), 0);
}

TEST(RemoteWriteSinkTest, DropsClientErrorsWithoutRetrying) {
  ScriptedStore store(Script{answer(400)});
  SinkUnderTest t(fast_options(store));
  expect_dropped_once(store, t, "400");
}

TEST(RemoteWriteSinkTest, RetriesTooManyRequestsWhenRetryOnHttp429) {
  ScriptedStore store(Script{answer(429, "0"), answer(429)});
  auto o = fast_options(store);
  o.retry_on_http_429 = true;
  SinkUnderTest t(std::move(o));
  t.send(TestBatch(10));
  ASSERT_TRUE(eventually([&] { return t.forwarded() == 10; }));
  const auto got = store.received();
  ASSERT_EQ(got.size(), 3u);
  expect_all_identical(got);
  EXPECT_EQ(t.sends("429"), 2);
  EXPECT_EQ(t.retries(), 2);
  EXPECT_EQ(t.rejected(), 0);
}

TEST(RemoteWriteSinkTest, DropsTooManyRequestsWithoutRetryOnHttp429) {
  ScriptedStore store(Script{answer(429)});
  auto o = fast_options(store);
  o.retry_on_http_429 = false;
  SinkUnderTest t(std::move(o));
  expect_dropped_once(store, t, "429");
}

TEST(RemoteWriteSinkTest, RetriesAConnectionClosedWithoutAnAnswer) {
  ScriptedStore store(Script{close_without_answer(), close_without_answer()});
  SinkUnderTest t(fast_options(store));
  t.send(TestBatch(10));
  ASSERT_TRUE(eventually([&] { return t.forwarded() == 10; }));
  const auto got = store.received();
  ASSERT_EQ(got.size(), 3u);
  expect_all_identical(got);
  EXPECT_EQ(t.sends("error"), 2);
  EXPECT_EQ(t.sends("204"), 1);
  EXPECT_EQ(t.retries(), 2);
}

TEST(RemoteWriteSinkTest, StopsRetryingAtTheDrainDeadlineAndCountsTheRequestDropped) {
  ScriptedStore store(Script{}, answer(503));
  auto t = std::make_unique<SinkUnderTest>(fast_options(store));
  t->send(TestBatch(10));
  ASSERT_TRUE(store.wait_for(2));  // failing and being retried
  t->sink.stop(std::chrono::steady_clock::now() + milliseconds(50));
  EXPECT_EQ(metric(t->registry, "rwgate_dropped_samples_total", {{"reason", "shutdown"}}), 10);
  EXPECT_EQ(t->forwarded(), 0);
  EXPECT_EQ(t->rejected(), 0);
}

// Several ingest threads at once: each enqueue leases its own scratch, nothing is lost.
void enqueue_from_threads(SinkUnderTest& t, int threads, int batches, int series) {
  std::vector<std::thread> ingest;
  for (int th = 0; th < threads; ++th) {
    ingest.emplace_back([&, th] {
      for (int b = 0; b < batches; ++b) t.send(TestBatch(series, (th * batches + b) * series));
    });
  }
  for (auto& th : ingest) th.join();
}

size_t samples_received(ScriptedStore& store) {
  size_t n = 0;
  for (const auto& r : store.received()) n += samples_in(r);
  return n;
}

TEST(RemoteWriteSinkTest, ConcurrentEnqueuesDeliverEverySample) {
  ScriptedStore store(Script{});
  auto o = fast_options(store);
  o.shards = 4;
  o.max_samples_per_send = 50;
  SinkUnderTest t(std::move(o));
  enqueue_from_threads(t, 4, 50, 10);
  ASSERT_TRUE(eventually([&] { return t.forwarded() == 2000; }));
  EXPECT_EQ(samples_received(store), 2000u);
}

TEST(RemoteWriteSinkTest, DiskModeDeliversBatchesThatUseOnlySomeShards) {
  char tmpl[] = "/tmp/rwgate-sink-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  {
    ScriptedStore store(Script{});
    auto o = fast_options(store);
    o.shards = 8;
    o.disk = DiskBufferOptions{};
    o.disk->path = dir;
    o.disk->fsync = FsyncMode::kNever;
    SinkUnderTest t(std::move(o));
    ASSERT_EQ(t.sink.open_error(), "");
    // 3 series over 8 shards leave most shards unused in every call.
    enqueue_from_threads(t, 3, 20, 3);
    ASSERT_TRUE(eventually([&] { return t.forwarded() == 180; }));
    EXPECT_EQ(samples_received(store), 180u);
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace rwgate::sinks

namespace rwgate::sinks {
namespace {

// Prometheus sends RW 1.0 metadata in requests of its own, with no series: a sink that
// speaks RW 2.0 attaches it to the family's series in the requests that follow, and a
// newer entry replaces an older one.
TEST(RemoteWriteSinkTest, RemembersRw1MetadataForTheSeriesOfLaterRw2Requests) {
  ScriptedStore store(Script{});
  RemoteWriteOptions o = fast_options(store);
  o.protocol = proto::Protocol::kV2;
  SinkUnderTest t(std::move(o));
  auto metadata_only = [&](std::string_view help) {
    TestBatch b(0);
    b.batch.metadata.push_back({proto::MetricType::kCounter, "m", help, "seconds"});
    t.send(b);
  };
  auto helps_received = [&](size_t request) {
    std::string raw;
    const auto got = store.received();
    EXPECT_TRUE(snappy::Uncompress(got[request].body.data(), got[request].body.size(), &raw));
    proto::Decoder decoder;
    proto::Batch batch;
    EXPECT_TRUE(decoder.decode_v2(raw, batch).ok());
    std::vector<std::string> helps;
    for (const proto::Series& s : batch.series) {
      EXPECT_EQ(s.metadata.type, proto::MetricType::kCounter);
      EXPECT_EQ(s.metadata.unit, "seconds");
      helps.emplace_back(s.metadata.present ? s.metadata.help : "(none)");
    }
    return helps;
  };
  metadata_only("old");
  metadata_only("Seconds spent.");
  t.send(TestBatch(2));
  ASSERT_TRUE(eventually([&] { return t.forwarded() == 2; }));
  ASSERT_EQ(store.received().size(), 1u);  // the metadata-only requests send nothing alone
  EXPECT_EQ(helps_received(0), (std::vector<std::string>{"Seconds spent.", "Seconds spent."}));
}

}  // namespace
}  // namespace rwgate::sinks
