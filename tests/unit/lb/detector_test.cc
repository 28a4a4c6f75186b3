// Load-balancer detection: the name patterns, the behaviour rule (back-switches of the
// identity metric, counter decreases as support), stickiness, and the bounds on state.
#include "lb/detector.h"

#include "proto/sample_batch.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <string>
#include <vector>

namespace rwgate::lb {
namespace {

std::shared_ptr<const LbNamePatterns> patterns(const std::vector<std::string>& extra = {}) {
  std::string why;
  auto p = LbNamePatterns::build(extra, why);
  EXPECT_NE(p, nullptr) << why;
  return p;
}

TEST(LbNamePatternsTest, MatchesAwsAndAzureLoadBalancerNames) {
  const auto p = patterns();
  for (const char* host : {
           "my-lb-1234567890.us-east-1.elb.amazonaws.com",
           "internal-my-lb-1234567890.eu-west-1.elb.amazonaws.com:9100",
           "dualstack.my-lb-1234567890.us-west-2.elb.amazonaws.com",
           "my-old-lb-123.elb.amazonaws.com",
           "MY-LB-1234567890.US-EAST-1.ELB.AMAZONAWS.COM.",
           "my-nlb-0123456789abcdef.elb.us-east-1.amazonaws.com:443",
           "my-gwlb-0123456789abcdef.elb.ap-southeast-2.amazonaws.com",
           "my-lb-123.cn-north-1.elb.amazonaws.com.cn",
           "my-nlb-0123456789abcdef.elb.cn-northwest-1.amazonaws.com.cn",
           "web-frontend.eastus.cloudapp.azure.com:80",
       }) {
    EXPECT_GE(p->match(host), 0) << host;
  }
}

TEST(LbNamePatternsTest, DoesNotMatchInstancesOrLookalikes) {
  const auto p = patterns();
  for (const char* host : {
           "10.0.1.17:9100",
           "ip-10-0-1-17.ec2.internal:9100",
           "ec2-54-1-2-3.compute-1.amazonaws.com",
           "elb.amazonaws.com.evil.example",
           "my-lb.elb.amazonaws.com.example.org",
           "s3.us-east-1.amazonaws.com",
           "[::1]:9100",
           "",
       }) {
    EXPECT_EQ(p->match(host), -1) << host;
  }
}

TEST(LbNamePatternsTest, OperatorPatternsAreAnchoredAndDescribed) {
  const auto p = patterns({R"(haproxy-\d+\.corp)"});
  const int i = p->match("haproxy-3.corp:8080");
  ASSERT_GE(i, 0);
  EXPECT_NE(p->description(i).find("host_patterns"), std::string::npos);
  EXPECT_EQ(p->match("my-haproxy-3.corp"), -1);
  std::string why;
  EXPECT_EQ(LbNamePatterns::build({"("}, why), nullptr);
  EXPECT_NE(why.find("invalid regex"), std::string::npos);
}

TEST(LbNamePatternsTest, ReadsTheRegionOutOfAwsNames) {
  EXPECT_EQ(LbNamePatterns::aws_region_of("a-1.us-east-1.elb.amazonaws.com:80"), "us-east-1");
  EXPECT_EQ(LbNamePatterns::aws_region_of("a-1.elb.eu-central-1.amazonaws.com"), "eu-central-1");
  EXPECT_EQ(LbNamePatterns::aws_region_of("a-1.cn-north-1.elb.amazonaws.com.cn"), "cn-north-1");
  EXPECT_EQ(LbNamePatterns::aws_region_of("a-1.elb.amazonaws.com"), "");
  EXPECT_EQ(LbNamePatterns::aws_region_of("127.0.0.1:9100"), "");
}

ManualClock fake_clock;

// Feeds one identity value (and optionally a counter value) per scrape for one target.
struct Feeder {
  LbDetector& d;
  std::string job = "j";
  std::string instance = "lb:80";
  int64_t ts = 1000;
  void scrape(double start_time, double counter = -1) {
    std::vector<LbObservation> obs;
    obs.push_back({job, instance, 1, "process_start_time_seconds", true, start_time, ts});
    if (counter >= 0)
      obs.push_back({job, instance, 2, "process_cpu_seconds_total", false, counter, ts});
    ts += 1000;
    fake_clock.advance(std::chrono::seconds(1));
    d.observe(obs, {});
  }
  std::string verdict() const {
    for (const auto& r : d.report()) {
      if (r.job == job && r.instance == instance) return r.verdict;
    }
    return "none";
  }
};

TEST(LbDetectorTest, RoundRobinIsSuspectedAtTheFourthScrapeAndConfirmedAtTheFifth) {
  LbDetector d(fake_clock);
  Feeder f{d};
  const double a = 100, b = 200, c = 300;
  f.scrape(a);
  f.scrape(b);
  f.scrape(c);
  EXPECT_EQ(f.verdict(), "none");
  f.scrape(a);
  EXPECT_EQ(f.verdict(), "suspected");
  EXPECT_TRUE(d.verdicts()->confirmed.empty());
  f.scrape(b);
  EXPECT_EQ(f.verdict(), "confirmed");
  EXPECT_TRUE(d.verdicts()->confirmed.contains(target_key("j", "lb:80")));
  const auto r = d.report();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].reasons[0],
            "process_start_time_seconds: 3 distinct values in the last 5 scrapes, 4 switches, 2 "
            "back to an earlier value");
}

TEST(LbDetectorTest, StalenessMarkersEndATargetUntilItIsScrapedAgain) {
  LbDetector d(fake_clock);
  Feeder f{d};
  for (const double v : {100.0, 200.0, 300.0, 100.0, 200.0}) f.scrape(v);
  ASSERT_EQ(f.verdict(), "confirmed");
  // The sender stopped scraping it (the fix was applied): its series end.
  f.scrape(proto::stale_nan());
  EXPECT_EQ(f.verdict(), "none");
  EXPECT_TRUE(d.verdicts()->confirmed.contains(target_key("j", "lb:80")));
  // A plain NaN is a value, not an end.
  f.scrape(100);
  f.scrape(std::nan(""));
  EXPECT_EQ(f.verdict(), "confirmed");  // back, with its window kept
}

TEST(LbDetectorTest, RestartsAreNeverFlagged) {
  LbDetector d(fake_clock);
  Feeder f{d};
  // Three restarts in twenty scrapes, counter starting over each time.
  double start = 100, cpu = 0;
  for (int i = 0; i < 20; ++i) {
    if (i == 5 || i == 11 || i == 17) {
      start += 50;
      cpu = 0;
    }
    cpu += 0.5;
    f.scrape(start, cpu);
    EXPECT_EQ(f.verdict(), "none") << "scrape " << i;
  }
}

TEST(LbDetectorTest, TwoBackendsAlternatingAreConfirmedAndCountersSupport) {
  LbDetector d(fake_clock);
  Feeder f{d};
  f.scrape(100, 50);
  f.scrape(200, 10);
  f.scrape(100, 51);  // one back-switch, one counter decrease so far
  EXPECT_EQ(f.verdict(), "suspected");
  f.scrape(100, 51.5);
  f.scrape(100, 52);
  f.scrape(200, 11);  // a forward switch; counter down again: 2 decreases support the verdict
  EXPECT_EQ(f.verdict(), "confirmed");
  const auto r = d.report();
  ASSERT_EQ(r[0].reasons.size(), 2u);
  EXPECT_EQ(r[0].reasons[1], "process_cpu_seconds_total went down 2 times in the last 6 scrapes");
}

TEST(LbDetectorTest, CountersAloneOnlyRaiseSuspicion) {
  LbDetector d(fake_clock);
  Feeder f{d};
  f.instance = "noid:80";
  for (double v : {50.0, 10.0, 51.0, 11.0, 52.0, 12.0}) {
    std::vector<LbObservation> obs{
        {f.job, f.instance, 2, "process_cpu_seconds_total", false, v, f.ts}};
    f.ts += 1000;
    d.observe(obs, {});
  }
  EXPECT_EQ(f.verdict(), "suspected");
  EXPECT_TRUE(d.verdicts()->confirmed.empty());
}

TEST(LbDetectorTest, RepeatedOrOlderTimestampsAreIgnored) {
  LbDetector d(fake_clock);
  Feeder f{d};
  f.scrape(100);
  // Retries and HA duplicates: same or older timestamps with other values change nothing.
  for (int i = 0; i < 5; ++i) {
    std::vector<LbObservation> obs{{f.job, f.instance, 1, "process_start_time_seconds", true,
                                    i % 2 ? 100.0 : 200.0, f.ts - 1000}};
    d.observe(obs, {});
  }
  f.scrape(100);
  EXPECT_EQ(f.verdict(), "none");
}

TEST(LbDetectorTest, ConfirmedSticksUntilAFullWindowWithoutSwitches) {
  LbDetector d(fake_clock);
  Feeder f{d};
  for (double v : {1.0, 2.0, 1.0, 2.0}) f.scrape(v);
  ASSERT_EQ(f.verdict(), "confirmed");
  const uint64_t gen = d.verdicts()->generation;
  // The fix is applied: one process from now on.
  for (size_t i = 0; i + 1 < LbDetector::kWindow; ++i) {
    f.scrape(3);
    EXPECT_EQ(f.verdict(), "confirmed") << i;
  }
  f.scrape(3);
  EXPECT_EQ(f.verdict(), "none");
  EXPECT_TRUE(d.verdicts()->confirmed.empty());
  EXPECT_GT(d.verdicts()->generation, gen);
}

TEST(LbDetectorTest, IdleTargetsAreForgotten) {
  LbDetector d(fake_clock);
  Feeder f{d};
  for (double v : {1.0, 2.0, 1.0, 2.0}) f.scrape(v);
  ASSERT_EQ(f.verdict(), "confirmed");
  fake_clock.advance(LbDetector::kForgetAfter + std::chrono::seconds(20));
  Feeder other{d};
  other.instance = "other:80";
  other.scrape(5);
  EXPECT_EQ(f.verdict(), "none");
  EXPECT_TRUE(d.verdicts()->confirmed.empty());
}

TEST(LbDetectorTest, StateIsBoundedAndFlaggedTargetsAreKept) {
  LbDetector d(fake_clock);
  Feeder lb{d};
  for (double v : {1.0, 2.0, 1.0, 2.0}) lb.scrape(v);
  ASSERT_EQ(lb.verdict(), "confirmed");
  std::vector<std::string> names;
  for (size_t i = 0; i < LbDetector::kMaxTargets + 50; ++i)
    names.push_back("t" + std::to_string(i));
  for (const std::string& n : names) {
    std::vector<LbObservation> obs{{"j", n, 1, "process_start_time_seconds", true, 1.0, 1}};
    d.observe(obs, {});
  }
  EXPECT_EQ(lb.verdict(), "confirmed");
  EXPECT_TRUE(d.verdicts()->confirmed.contains(target_key("j", "lb:80")));
}

TEST(LbDetectorTest, FlaggedSeriesAreCountedOnce) {
  LbDetector d(fake_clock);
  std::vector<LbFlaggedSeries> flagged{{"alb", "x.us-east-1.elb.amazonaws.com:80", 7, "a pattern"},
                                       {"alb", "x.us-east-1.elb.amazonaws.com:80", 8, "a pattern"},
                                       {"alb", "x.us-east-1.elb.amazonaws.com:80", 7, "a pattern"}};
  d.observe({}, flagged);
  const auto r = d.report();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].series, 2u);
  EXPECT_EQ(r[0].evidence, "name");
  EXPECT_EQ(r[0].verdict, "confirmed");
}

}  // namespace
}  // namespace rwgate::lb
