// What a store's answer means (classify), Retry-After parsing, the backoff between
// attempts, the per-status send counters, and the headers of the request a sink sends.
#include "sinks/send_outcome.h"

#include <gtest/gtest.h>
#include <prometheus/registry.h>
#include <snappy.h>

#include <limits>

#include "sinks/remote_write_request.h"
#include "sinks/remote_write_sink.h"

namespace rwgate::sinks {
namespace {

using std::chrono::milliseconds;

TEST(SendOutcomeTest, ClassifiesEvery2xxAsDelivered) {
  for (const int status : {200, 201, 204, 299}) {
    EXPECT_EQ(classify(status, true), SendClass::kDelivered) << status;
    EXPECT_EQ(classify(status, false), SendClass::kDelivered) << status;
  }
}

TEST(SendOutcomeTest, ClassifiesServerErrorsAsRetry) {
  for (const int status : {500, 502, 503, 504, 599}) {
    EXPECT_EQ(classify(status, true), SendClass::kRetry) << status;
    EXPECT_EQ(classify(status, false), SendClass::kRetry) << status;
  }
}

TEST(SendOutcomeTest, ClassifiesNoAnswerAsRetry) {
  EXPECT_EQ(classify(kNoAnswer, true), SendClass::kRetry);
  EXPECT_EQ(classify(kNoAnswer, false), SendClass::kRetry);
}

TEST(SendOutcomeTest, Classifies429AsRetryOnlyWhenRetryOnHttp429) {
  EXPECT_EQ(classify(429, true), SendClass::kRetry);
  EXPECT_EQ(classify(429, false), SendClass::kFinalFailure);
}

TEST(SendOutcomeTest, ClassifiesOtherClientErrorsAsFinal) {
  for (const int status : {400, 401, 403, 404, 409, 413, 422, 499}) {
    EXPECT_EQ(classify(status, true), SendClass::kFinalFailure) << status;
    EXPECT_EQ(classify(status, false), SendClass::kFinalFailure) << status;
  }
}

TEST(SendOutcomeTest, ClassifiesInformationalAndRedirectsAsFinal) {
  // Redirects are not followed: a store that moved is a configuration error.
  for (const int status : {100, 301, 302, 307, 308}) {
    EXPECT_EQ(classify(status, true), SendClass::kFinalFailure) << status;
  }
}

TEST(SendOutcomeTest, ParsesRetryAfterInSeconds) {
  EXPECT_EQ(parse_retry_after("0"), milliseconds(0));
  EXPECT_EQ(parse_retry_after("120"), milliseconds(120000));
  EXPECT_EQ(parse_retry_after("999999"), std::chrono::seconds(999999));
}

TEST(SendOutcomeTest, IgnoresRetryAfterThatIsNotPlainSeconds) {
  EXPECT_EQ(parse_retry_after(""), std::nullopt);
  EXPECT_EQ(parse_retry_after("1.5"), std::nullopt);
  EXPECT_EQ(parse_retry_after("-1"), std::nullopt);
  EXPECT_EQ(parse_retry_after("1234567"), std::nullopt);  // over 6 digits
  EXPECT_EQ(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), std::nullopt);
}

TEST(BackoffTest, DoublesFromMinBackoffUpToMaxBackoff) {
  Backoff b(milliseconds(10), milliseconds(80));
  // random 0 picks the bottom of [base/2, base]: half of 10, 20, 40, 80, 80.
  std::vector<int64_t> got;
  for (int i = 0; i < 6; ++i) got.push_back(b.next(std::nullopt, 0).count());
  EXPECT_EQ(got, (std::vector<int64_t>{5, 10, 20, 40, 40, 40}));
}

TEST(BackoffTest, WaitsBetweenHalfAndAllOfTheBase) {
  Backoff top(milliseconds(10), milliseconds(80));
  std::vector<int64_t> got;
  // random == base/2 is the top of the range (random % (base/2 + 1)).
  for (const uint64_t r : {5, 10, 20, 40}) got.push_back(top.next(std::nullopt, r).count());
  EXPECT_EQ(got, (std::vector<int64_t>{10, 20, 40, 80}));

  Backoff any(milliseconds(30), milliseconds(5000));
  int64_t base = 30;
  for (int i = 0; i < 12; ++i) {
    const int64_t w = any.next(std::nullopt, std::numeric_limits<uint64_t>::max() - i).count();
    EXPECT_GE(w, base / 2) << i;
    EXPECT_LE(w, base) << i;
    base = std::min<int64_t>(base * 2, 5000);
  }
}

TEST(BackoffTest, RetryAfterWinsClampedToMinBackoffAndFiveMinutes) {
  Backoff b(milliseconds(30), milliseconds(5000));
  EXPECT_EQ(b.next(milliseconds(0), 0), milliseconds(30));  // "0" must not spin
  EXPECT_EQ(b.next(std::chrono::seconds(10), 0), std::chrono::seconds(10));
  EXPECT_EQ(b.next(std::chrono::hours(1), 0), std::chrono::minutes(5));
  // The base kept doubling under Retry-After: 30 → 60 → 120 → 240, half of it is 120.
  EXPECT_EQ(b.next(std::nullopt, 0), milliseconds(120));
}

double value_of(prometheus::Registry& registry, const std::string& status) {
  for (const auto& family : registry.Collect()) {
    for (const auto& m : family.metric) {
      for (const auto& l : m.label) {
        if (l.name == "status" && l.value == status) return m.counter.value;
      }
    }
  }
  return -1;
}

size_t series_count(prometheus::Registry& registry) {
  size_t n = 0;
  for (const auto& family : registry.Collect()) n += family.metric.size();
  return n;
}

TEST(SendCountersTest, ASeriesAppearsWithTheFirstSendOfItsStatus) {
  prometheus::Registry registry;
  auto& family = prometheus::BuildCounter().Name("sends_total").Register(registry);
  SendCounters sends(family, {{"sink", "store"}});
  EXPECT_EQ(series_count(registry), 0u);
  sends.of(503).Increment();
  sends.of(503).Increment();
  sends.of(kNoAnswer).Increment();
  EXPECT_EQ(&sends.of(503), &family.Add({{"sink", "store"}, {"status", "503"}}));
  EXPECT_EQ(value_of(registry, "503"), 2);
  EXPECT_EQ(value_of(registry, "error"), 1);
  EXPECT_EQ(value_of(registry, "204"), -1);
  EXPECT_EQ(series_count(registry), 2u);
}

RemoteWriteOptions store_options(proto::Protocol protocol) {
  RemoteWriteOptions o;
  o.host = "::1";
  o.port = "9201";
  o.target = "/api/v1/write";
  o.protocol = protocol;
  o.headers = {{"X-Scope-OrgID", "team-a"}};
  return o;
}

TEST(RemoteWriteRequestTest, SetsTheRemoteWrite1Headers) {
  const HttpRequest req = make_http_request(store_options(proto::Protocol::kV1));
  EXPECT_EQ(req.method(), boost::beast::http::verb::post);
  EXPECT_EQ(req.target(), "/api/v1/write");
  EXPECT_EQ(req[boost::beast::http::field::host], "[::1]:9201");
  EXPECT_EQ(req[boost::beast::http::field::content_encoding], "snappy");
  EXPECT_EQ(req[boost::beast::http::field::content_type], "application/x-protobuf");
  EXPECT_EQ(req["X-Prometheus-Remote-Write-Version"], "0.1.0");
  EXPECT_EQ(req["X-Scope-OrgID"], "team-a");
}

TEST(RemoteWriteRequestTest, SetsTheRemoteWrite2Headers) {
  const HttpRequest req = make_http_request(store_options(proto::Protocol::kV2));
  EXPECT_EQ(req[boost::beast::http::field::content_type],
            "application/x-protobuf;proto=io.prometheus.write.v2.Request");
  EXPECT_EQ(req["X-Prometheus-Remote-Write-Version"], "2.0.0");
}

TEST(RemoteWriteRequestTest, SetBodyCompressesAndSetsContentLength) {
  HttpRequest req = make_http_request(store_options(proto::Protocol::kV1));
  const std::string body(1000, 'x');
  CompressBuffer buffer;
  set_body(req, body, buffer);
  EXPECT_LT(req.body().size(), body.size());
  EXPECT_EQ(req[boost::beast::http::field::content_length], std::to_string(req.body().size()));
  std::string back;
  ASSERT_TRUE(snappy::Uncompress(req.body().data(), req.body().size(), &back));
  EXPECT_EQ(back, body);
  set_body(req, "small", buffer);  // the buffer is reused; the body holds only the new bytes
  ASSERT_TRUE(snappy::Uncompress(req.body().data(), req.body().size(), &back));
  EXPECT_EQ(back, "small");
}

}  // namespace
}  // namespace rwgate::sinks
