// The ingest stages on their own: what check_request, decompress, decode and hand_off
// refuse, with which status and reason, and that hand_off is all or nothing.
#include "proxy/ingest.h"

#include <gtest/gtest.h>
#include <snappy.h>

#include <memory>
#include <string>
#include <vector>

#include "../fake_sink.h"
#include "proto/encode.h"
#include "proto/hash.h"

namespace rwgate::proxy {
namespace {

namespace http = boost::beast::http;
using rwgate::testing::FakeSink;

HttpRequest post(std::string content_type = "", std::string encoding = "snappy") {
  HttpRequest req{http::verb::post, "/api/v1/write", 11};
  if (!content_type.empty()) req.set(http::field::content_type, content_type);
  if (!encoding.empty()) req.set(http::field::content_encoding, encoding);
  return req;
}

// A one-series batch whose strings live in the test.
struct OneSeries {
  proto::Batch batch;
  explicit OneSeries(std::string_view name = "up") {
    proto::Series s;
    s.labels_count = 2;
    s.samples_count = 1;
    batch.labels = {{"__name__", name}, {"job", "j"}};
    batch.samples = {{1.0, 1000}};
    batch.series = {s};
  }
  std::string body(proto::Protocol p) const {
    std::string raw, compressed;
    proto::encode_batch(p, batch, raw);
    snappy::Compress(raw.data(), raw.size(), &compressed);
    return compressed;
  }
};

TEST(IngestStagesTest, CheckRequestReadsTheProtocolFromContentType) {
  proto::Protocol p = proto::Protocol::kV2;
  EXPECT_FALSE(check_request(post(), p));
  EXPECT_EQ(p, proto::Protocol::kV1);
  EXPECT_FALSE(
      check_request(post("application/x-protobuf;proto=io.prometheus.write.v2.Request"), p));
  EXPECT_EQ(p, proto::Protocol::kV2);
  EXPECT_FALSE(check_request(post("Application/X-Protobuf; proto=prometheus.WriteRequest"), p));
  EXPECT_EQ(p, proto::Protocol::kV1);
}

TEST(IngestStagesTest, CheckRequestRefusesOtherMethodsEncodingsAndMessages) {
  proto::Protocol p;
  HttpRequest get = post();
  get.method(http::verb::get);
  auto r = check_request(get, p);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(r->allow, "POST");
  EXPECT_EQ(r->reason, RejectReason::kMethod);

  r = check_request(post("", "gzip"), p);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 415);
  EXPECT_EQ(r->reason, RejectReason::kContentEncoding);

  r = check_request(post("application/json"), p);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 415);
  EXPECT_EQ(r->reason, RejectReason::kContentType);

  r = check_request(post("application/x-protobuf;proto=io.prometheus.write.v3.Request"), p);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->reason, RejectReason::kContentType);
}

TEST(IngestStagesTest, DecompressRefusesBadSnappyAndOversizedBodiesBeforeAllocating) {
  std::string out;
  auto r = decompress("\xff\xff\xff\xff\xff\xff", 1 << 20, out);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(r->reason, RejectReason::kSnappy);

  const std::string body = OneSeries().body(proto::Protocol::kV1);
  r = decompress(body, 4, out);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->reason, RejectReason::kDecodedTooLarge);
  EXPECT_TRUE(out.empty());  // refused from the header alone

  EXPECT_FALSE(decompress(body, 1 << 20, out));
}

TEST(IngestStagesTest, DecodeErrorsAreRefusedByTheirCodeNotTheirText) {
  pipeline::WorkerContext ctx;
  ctx.decoded = "\x0a\x05\x0a\x03";  // a timeseries whose label runs past the end
  auto r = decode(proto::Protocol::kV1, ctx);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(r->reason, RejectReason::kProtobuf);

  OneSeries no_name("");  // an empty __name__ is no __name__: invalid labels
  std::string compressed = no_name.body(proto::Protocol::kV1);
  ASSERT_FALSE(decompress(compressed, 1 << 20, ctx.decoded));
  r = decode(proto::Protocol::kV1, ctx);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->reason, RejectReason::kLabels);

  compressed = OneSeries().body(proto::Protocol::kV1);
  ASSERT_FALSE(decompress(compressed, 1 << 20, ctx.decoded));
  EXPECT_FALSE(decode(proto::Protocol::kV1, ctx));
  EXPECT_EQ(ctx.batch.series.size(), 1u);
}

std::vector<proto::SeriesOut> as_received(const proto::Batch& b) {
  std::vector<proto::SeriesOut> out;
  const auto labels = b.labels_of(b.series[0]);
  out.push_back({0, labels, proto::hash_labels(labels), {}});
  return out;
}

TEST(IngestStagesTest, HandOffGivesEverySinkTheBatchOrNone) {
  const OneSeries one;
  const auto series = as_received(one.batch);
  auto a = std::make_shared<FakeSink>("a");
  auto b = std::make_shared<FakeSink>("b");
  const std::vector<std::shared_ptr<sinks::Sink>> sinks = {a, b};

  EXPECT_FALSE(hand_off(sinks, one.batch, 100, {}, series));
  EXPECT_EQ(a->taken.size(), 1u);
  EXPECT_EQ(b->taken.size(), 1u);

  b->full = true;  // the second is full: the first gives its reservation back
  auto r = hand_off(sinks, one.batch, 100, {}, series);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->reason, RejectReason::kQueueFull);
  EXPECT_EQ(r->retry_after, "5");
  EXPECT_NE(r->message.find("\"b\""), std::string::npos);
  EXPECT_EQ(a->taken.size(), 1u);
  EXPECT_EQ(a->reserved, 0u);
  EXPECT_EQ(a->cancelled, 1);

  b->full = false;
  a->fail_enqueue = true;  // the first cannot buffer: the second's reservation goes back
  r = hand_off(sinks, one.batch, 100, {}, series);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->reason, RejectReason::kBufferError);
  EXPECT_EQ(b->taken.size(), 1u);
  EXPECT_EQ(b->reserved, 0u);
}

TEST(IngestStagesTest, HandOffGivesEachSinkItsOwnSeries) {
  const OneSeries one;
  auto a = std::make_shared<FakeSink>("a");
  auto b = std::make_shared<FakeSink>("b");
  const std::vector<std::shared_ptr<sinks::Sink>> sinks = {a, b};
  std::vector<std::vector<proto::SeriesOut>> per_sink = {as_received(one.batch), {}};
  EXPECT_FALSE(hand_off(sinks, one.batch, 100, per_sink, {}));
  EXPECT_EQ(a->taken.size(), 1u);
  EXPECT_TRUE(b->taken.empty());  // its rules dropped the series
}

TEST(IngestStagesTest, GroupByTenantKeepsEachTenantsOrder) {
  proto::Batch batch;
  const std::vector<uint32_t> tenants = {2, 1, 2, 3, 1, 2};
  std::vector<proto::SeriesOut> series;
  for (uint32_t i = 0; i < tenants.size(); ++i) {
    proto::Series s;
    s.tenant = tenants[i];
    batch.series.push_back(s);
    series.push_back({i, {}, 0});
  }
  pipeline::TenantGrouping grouping;
  grouping.group(batch, series);
  std::vector<uint32_t> order;
  for (const auto& o : series) order.push_back(o.index);
  EXPECT_EQ(order, (std::vector<uint32_t>{0, 2, 5, 1, 4, 3}));  // tenants 2, 1, 3
  grouping.group(batch, series);                                // grouped already: the same again
  order.clear();
  for (const auto& o : series) order.push_back(o.index);
  EXPECT_EQ(order, (std::vector<uint32_t>{0, 2, 5, 1, 4, 3}));
}

}  // namespace
}  // namespace rwgate::proxy
