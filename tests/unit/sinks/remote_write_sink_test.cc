// The remote_write sink against a real HTTP store in the test process (Beast, 127.0.0.1,
// port 0) that answers from a script: 2xx delivers, 5xx / 429 (when configured) / a
// connection closed without an answer are retried with the very same bytes, other 4xx are
// dropped once and counted, the drain deadline ends retries, and concurrent ingest
// threads (memory and disk mode) lose nothing.
#include "sinks/remote_write_sink.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "tests/unit/sinks/sink_test_support.h"

namespace rwgate::sinks {
namespace {

using namespace test_support;  // NOLINT: the shared store, batches and lookups

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

using namespace test_support;  // NOLINT: the shared store, batches and lookups

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
