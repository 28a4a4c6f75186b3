// Per-tenant limits on a manual clock: the token bucket (429 with Retry-After, tokens given
// back when the request is refused), series over a label limit or past max_series refused
// while the rest goes on, active series forgotten when idle, overrides per tenant, the
// counters and the report.
#include "pipeline/limits.h"

#include <gtest/gtest.h>
#include <prometheus/registry.h>
#include <yaml-cpp/yaml.h>

#include "base/yaml_reader.h"
#include "tests/unit/pipeline/label_batch.h"

namespace rwgate::pipeline {
namespace {

using std::chrono::seconds;
using testing::TestBatch;
using Labels = std::map<std::string, std::string>;

struct LimitsUnderTest {
  prometheus::Registry registry;
  std::shared_ptr<sinks::TenantNames> names = std::make_shared<sinks::TenantNames>();
  ManualClock clock;
  LimitsState state{registry, names, clock};
  uint32_t a = *names->intern("team-a", 10);
  uint32_t b = *names->intern("team-b", 10);

  explicit LimitsUnderTest(TenantLimits defaults,
                           std::map<std::string, TenantLimits> tenants = {}) {
    auto c = std::make_shared<LimitsConfig>();
    c->enabled = true;
    c->defaults = defaults;
    c->tenants = std::move(tenants);
    c->series_idle_timeout = seconds(60);
    state.configure(c);
  }

  // A batch of `n` series of `tenant` (i="first"...), `samples` samples each.
  TestBatch batch(uint32_t tenant, int n, uint32_t samples = 1, int first = 0) {
    std::vector<Labels> series;
    for (int i = 0; i < n; ++i)
      series.push_back({{"__name__", "m"}, {"i", std::to_string(first + i)}});
    TestBatch t(series, samples);
    for (auto& s : t.batch.series) s.tenant = tenant;
    return t;
  }

  double discarded(const std::string& tenant, const std::string& reason) {
    for (const auto& f : registry.Collect()) {
      if (f.name != "rwgate_discarded_samples_total") continue;
      for (const auto& m : f.metric) {
        std::map<std::string, std::string> l;
        for (const auto& p : m.label) l[p.name] = p.value;
        if (l["tenant"] == tenant && l["reason"] == reason) return m.counter.value;
      }
    }
    return 0;
  }
};

TEST(LimitsTest, TheRateIsATokenBucketAnsweredWith429AndRetryAfter) {
  TenantLimits l;
  l.ingestion_rate = 100;
  l.ingestion_burst = 200;
  LimitsUnderTest t(l);
  TestBatch first = t.batch(t.a, 150);
  EXPECT_FALSE(t.state.apply(first.batch).throttled);  // a new bucket starts full: 200
  TestBatch second = t.batch(t.a, 100);
  const LimitsOutcome o = t.state.apply(second.batch);  // 50 left
  ASSERT_TRUE(o.throttled);
  EXPECT_EQ(*o.throttled,
            "tenant \"team-a\": ingestion rate limit (100 samples/s, burst 200) exceeded while "
            "adding 100 samples");
  EXPECT_EQ(o.retry_after_s, 1);  // 50 more tokens take half a second
  EXPECT_EQ(t.discarded("team-a", "rate_limited"), 100);
  // The other tenant has a bucket of its own.
  TestBatch other = t.batch(t.b, 200);
  EXPECT_FALSE(t.state.apply(other.batch).throttled);
  t.clock.advance(std::chrono::milliseconds(500));
  TestBatch later = t.batch(t.a, 100);
  EXPECT_FALSE(t.state.apply(later.batch).throttled);
  // Larger than the burst: never, so a 400 rather than a 429 to be resent for ever.
  t.clock.advance(seconds(100));
  TestBatch huge = t.batch(t.a, 201);
  const LimitsOutcome h = t.state.apply(huge.batch);
  EXPECT_FALSE(h.throttled);
  ASSERT_TRUE(h.too_large);
  EXPECT_NE(h.too_large->find("a request of 201 samples is larger than"), std::string::npos);
  TestBatch fits = t.batch(t.a, 200);  // and it took no tokens
  EXPECT_FALSE(t.state.apply(fits.batch).throttled);
}

TEST(LimitsTest, ARequestRefusedForOneTenantTakesNoTokensFromAnother) {
  TenantLimits l;
  l.ingestion_rate = 10;
  l.ingestion_burst = 30;
  LimitsUnderTest t(l);
  TestBatch drain = t.batch(t.b, 25);  // team-b keeps 5 tokens
  EXPECT_FALSE(t.state.apply(drain.batch).throttled);
  TestBatch b = t.batch(t.a, 8);
  for (int i = 0; i < 20; ++i) b.batch.series.push_back(b.batch.series[0]);
  for (size_t i = 8; i < b.batch.series.size(); ++i) b.batch.series[i].tenant = t.b;  // 20 > 5
  EXPECT_TRUE(t.state.apply(b.batch).throttled);
  TestBatch a_again = t.batch(t.a, 30);  // team-a's 30 tokens are all still there
  EXPECT_FALSE(t.state.apply(a_again.batch).throttled);
}

TEST(LimitsTest, ARequestASinkRefusedGetsItsTokensBack) {
  TenantLimits l;
  l.ingestion_rate = 10;
  l.ingestion_burst = 30;
  LimitsUnderTest t(l);
  TestBatch first = t.batch(t.a, 30);
  const LimitsOutcome o = t.state.apply(first.batch);
  ASSERT_FALSE(o.throttled);
  t.state.refund(o);  // a sink's queue was full: 503
  TestBatch retry = t.batch(t.a, 30);
  EXPECT_FALSE(t.state.apply(retry.batch).throttled) << "the retry is not charged twice";
}

TEST(LimitsTest, SeriesOverALabelLimitAreRefusedAndTheRestGoesOn) {
  TenantLimits l;
  l.max_label_names_per_series = 2;
  l.max_label_value_length = 4;
  LimitsUnderTest t(l);
  TestBatch b({{{"__name__", "m"}, {"i", "1"}},
               {{"__name__", "m"}, {"i", "2"}, {"j", "3"}},
               {{"__name__", "m"}, {"i", "12345"}},
               {{"__name__", "m"}, {"i", "4"}}},
              2);
  for (auto& s : b.batch.series) s.tenant = t.a;
  const LimitsOutcome o = t.state.apply(b.batch);
  EXPECT_FALSE(o.throttled);
  ASSERT_TRUE(o.refused);
  EXPECT_EQ(*o.refused,
            "tenant \"team-a\": series {__name__=\"m\", i=\"2\", j=\"3\"} has 3 labels, more "
            "than limits.max_label_names_per_series (2)");
  EXPECT_EQ(b.series(), (std::vector<Labels>{{{"__name__", "m"}, {"i", "1"}},
                                             {{"__name__", "m"}, {"i", "4"}}}));
  EXPECT_EQ(o.accepted, (std::vector<std::pair<uint32_t, uint64_t>>{{t.a, 4}}));
  EXPECT_EQ(t.discarded("team-a", "max_label_names_per_series"), 2);
  EXPECT_EQ(t.discarded("team-a", "max_label_value_length"), 2);
}

TEST(LimitsTest, AtMaxSeriesNewSeriesAreRefusedAndActiveOnesFlow) {
  TenantLimits l;
  l.max_series = 3;
  LimitsUnderTest t(l);
  TestBatch first = t.batch(t.a, 3);
  EXPECT_FALSE(t.state.apply(first.batch).refused);
  TestBatch more = t.batch(t.a, 5);  // i=0..2 are active, 3 and 4 are new
  const LimitsOutcome o = t.state.apply(more.batch);
  ASSERT_TRUE(o.refused);
  EXPECT_NE(o.refused->find("limits.max_series (3)"), std::string::npos) << *o.refused;
  ASSERT_EQ(more.batch.series.size(), 3u);
  EXPECT_EQ(more.series()[2].at("i"), "2");
  EXPECT_EQ(t.discarded("team-a", "max_series"), 2);
  // team-b counts its own.
  TestBatch other = t.batch(t.b, 3, 1, 100);
  EXPECT_FALSE(t.state.apply(other.batch).refused);
  // Idle for longer than series_idle_timeout: forgotten, room again.
  t.clock.advance(seconds(61));
  TestBatch fresh = t.batch(t.a, 3, 1, 50);
  EXPECT_FALSE(t.state.apply(fresh.batch).refused);
  const auto report = t.state.report();
  ASSERT_EQ(report.size(), 2u);
  EXPECT_EQ(report[0].tenant, "team-a");
  EXPECT_EQ(report[0].active_series, 3u);
}

TEST(LimitsTest, ATenantsOverrideReplacesTheDefault) {
  TenantLimits l;
  l.ingestion_rate = 10;
  TenantLimits big = l;
  big.ingestion_rate = 1000;
  LimitsUnderTest t(l, {{"team-b", big}});
  TestBatch a = t.batch(t.a, 100);
  EXPECT_TRUE(t.state.apply(a.batch).too_large);  // over team-a's burst of 10
  TestBatch b = t.batch(t.b, 100);
  EXPECT_FALSE(t.state.apply(b.batch).throttled);
}

TEST(LimitsTest, TheReportCountsAcceptedSamplesAndRefusals) {
  TenantLimits l;
  l.max_label_value_length = 1;
  LimitsUnderTest t(l);
  TestBatch b = t.batch(t.a, 12);  // i=10, i=11 are too long
  const LimitsOutcome o = t.state.apply(b.batch);
  t.state.count_accepted(o.accepted);
  const std::string json = t.state.report_json();
  EXPECT_NE(json.find("\"tenant\":\"team-a\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"samples_total\":10"), std::string::npos) << json;
  EXPECT_NE(json.find("\"active_series\":null"), std::string::npos) << json;
  EXPECT_NE(json.find("\"max_label_value_length\":2"), std::string::npos) << json;
  EXPECT_NE(json.find("\"max_label_value_length\":1}"), std::string::npos) << json;
  t.clock.advance(seconds(10));
  t.state.count_accepted(o.accepted);
  EXPECT_NEAR(t.state.report()[0].samples_per_second, 1.0, 0.01);
}

TEST(LimitsTest, ConfigErrorsNameTheirKey) {
  auto errors = [](const std::string& text, bool tenancy, LimitsConfig* out = nullptr) {
    std::vector<std::string> errs;
    yaml::Reader r(errs);
    LimitsConfig c;
    read_limits(r, YAML::Load(text), tenancy, c);
    if (out != nullptr) *out = c;
    return errs;
  };
  LimitsConfig c;
  EXPECT_TRUE(
      errors("{default: {ingestion_rate: 10, max_series: 5}, tenants: {a: {max_series: 9}}}", true,
             &c)
          .empty());
  EXPECT_EQ(c.tenants.at("a").ingestion_rate, 10);  // inherited from default
  EXPECT_EQ(c.tenants.at("a").max_series, 9u);
  auto one = [&](const std::string& text, bool tenancy, const std::string& path) {
    const auto e = errors(text, tenancy);
    ASSERT_EQ(e.size(), 1u) << text;
    EXPECT_NE(e[0].find(path), std::string::npos) << e[0];
  };
  one("{tenants: {a: {}}}", false, "limits.tenants");
  one("{tenants: {'a b': {}}}", true, "limits.tenants.a b");
  one("{default: {ingestion_rate: -1}}", false, "limits.default.ingestion_rate");
  one("{default: {max_serie: 1}}", false, "limits.default");
  one("{series_idle_timeout: 0s}", false, "limits.series_idle_timeout");
}

}  // namespace
}  // namespace rwgate::pipeline
