// Fleet coverage: which instances are expected, when one counts as monitored, why one is
// not (a load balancer in front of its group, it stopped, never seen), and that the
// per-instance "last seen" outlives discovery changes.
#include "coverage/coverage.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "base/clock.h"
#include "discovery/cache.h"
#include "discovery/sources/source.h"

namespace rwgate::coverage {
namespace {

discovery::InstanceRecord instance(std::string id, std::string ip, std::string lifecycle,
                                   std::string asg = "web") {
  discovery::InstanceRecord r;
  r.instance_id = std::move(id);
  r.private_ip = std::move(ip);
  r.asg_name = std::move(asg);
  r.availability_zone = "us-east-1a";
  r.lifecycle_state = std::move(lifecycle);
  return r;
}

const InstanceCoverage* find(const CoverageReport& report, const std::string& id) {
  for (const GroupCoverage& g : report.groups) {
    for (const InstanceCoverage& c : g.instances) {
      if (c.id() == id) return &c;
    }
  }
  return nullptr;
}

constexpr int64_t kNow = 1'800'000'000;

TEST(CoverageTest, OnlyLiveInstancesInTheConfiguredLifecycleStatesAreExpected) {
  CoverageConfig config;
  discovery::InstanceRecord bare;  // a file_sd target with no fleet labels
  bare.addresses = {"10.0.0.9"};
  discovery::InstanceRecord stopped = instance("i-stopped", "10.0.0.6", "");
  stopped.ec2_state = "stopped";
  discovery::DiscoverySnapshot fleet(1, {instance("i-in", "10.0.0.1", "InService"),
                                         instance("i-pending", "10.0.0.2", "Pending"),
                                         instance("i-standby", "10.0.0.3", "Standby"),
                                         instance("i-term", "10.0.0.4", "Terminating:Wait"),
                                         instance("i-gone", "10.0.0.5", "Terminated"), stopped,
                                         bare});
  const CoverageReport report = compute_coverage(config, fleet, {}, kNow);
  EXPECT_EQ(report.expected, 2u);
  EXPECT_NE(find(report, "i-in"), nullptr);
  EXPECT_NE(find(report, "10.0.0.9"), nullptr);  // no group, no lifecycle: counts as InService
  config.lifecycle_states = {"InService", "Standby"};
  EXPECT_EQ(compute_coverage(config, fleet, {}, kNow).expected, 3u);
  config.lifecycle_states = {"Standby"};
  EXPECT_EQ(compute_coverage(config, fleet, {}, kNow).expected, 1u);
}

TEST(CoverageTest, AnInstanceIsMonitoredWhileASeriesOfItArrivedWithinTheWindow) {
  CoverageConfig config;  // window 2m
  discovery::DiscoverySnapshot fleet(1, {instance("i-1", "10.0.0.1", "InService"),
                                         instance("i-2", "10.0.0.2", "InService"),
                                         instance("i-3", "10.0.0.3", "InService")});
  // A request's series: i-1 twice (not together), i-2 once, one series matched nothing.
  const std::vector<const discovery::InstanceRecord*> records = {
      fleet.lookup("i-1"), fleet.lookup("i-2"), nullptr, fleet.lookup("i-1")};
  mark_seen(fleet, records, kNow - 120);
  CoverageReport report = compute_coverage(config, fleet, {}, kNow);
  ASSERT_EQ(report.groups.size(), 1u);
  EXPECT_EQ(report.groups[0].asg, "web");
  EXPECT_EQ(report.expected, 3u);
  EXPECT_EQ(report.monitored, 2u);
  EXPECT_TRUE(find(report, "i-1")->monitored());
  EXPECT_EQ(find(report, "i-3")->reason, Reason::kNeverSeen);
  EXPECT_EQ(find(report, "i-3")->last_seen_s, 0);

  report = compute_coverage(config, fleet, {}, kNow + 1);  // the window has passed
  EXPECT_EQ(report.monitored, 0u);
  const InstanceCoverage* c = find(report, "i-1");
  EXPECT_EQ(c->reason, Reason::kStopped);
  EXPECT_EQ(c->last_seen_s, kNow - 120);
  EXPECT_EQ(c->detail, "it stopped sending at " + format_rfc3339_ms((kNow - 120) * 1000));
}

TEST(CoverageTest, ANewInstanceIsNotUnmonitoredBeforeItsFirstScrapesCouldArrive) {
  discovery::DiscoverySnapshot fleet(1, {instance("i-1", "10.0.0.1", "InService"),
                                         instance("i-2", "10.0.0.2", "InService")});
  fleet.activity(*fleet.lookup("i-2")).listed_since_s = kNow - 60;
  CoverageReport report = compute_coverage(CoverageConfig{}, fleet, {}, kNow);
  EXPECT_EQ(report.expected, 1u);
  EXPECT_EQ(report.groups[0].waiting, 1u);
  report = compute_coverage(CoverageConfig{}, fleet, {}, kNow + 60);
  EXPECT_EQ(report.expected, 2u);
  EXPECT_EQ(find(report, "i-2")->reason, Reason::kNeverSeen);
  // Nor is any instance right after rwgate starts.
  EXPECT_EQ(compute_coverage(CoverageConfig{}, fleet, {}, kNow, kNow - 1).expected, 0u);
}

TEST(CoverageTest, AGroupBehindAFlaggedLoadBalancerThatDiscoveryListsSaysSo) {
  std::vector<discovery::InstanceRecord> records;
  std::vector<discovery::LoadBalancerRecord> lbs;
  ASSERT_TRUE(discovery::parse_sd_targets(
      R"([{"targets": ["127.0.0.2:8080"],
           "labels": {"__meta_lb_name": "web-lb", "__meta_lb_type": "nginx",
                      "__meta_lb_asgs": "web,api"}},
          {"targets": ["10.0.0.1:9100"],
           "labels": {"__meta_ec2_instance_id": "i-1", "__meta_asg_name": "web",
                      "__meta_asg_lifecycle_state": "InService"}}])",
      records, &lbs));
  ASSERT_EQ(records.size(), 1u);  // the load balancer is not an instance
  ASSERT_EQ(lbs.size(), 1u);
  EXPECT_EQ(lbs[0].asgs, (std::vector<std::string>{"web", "api"}));
  records.push_back(instance("i-2", "10.0.0.2", "InService", "batch"));
  discovery::DiscoverySnapshot fleet(1, records, {}, lbs);
  lb::LbTargetReport flagged;
  flagged.job = "via_lb";
  flagged.instance = "127.0.0.2:8080";
  flagged.verdict = "confirmed";
  const CoverageReport report = compute_coverage(CoverageConfig{}, fleet, {&flagged, 1}, kNow);
  EXPECT_EQ(find(report, "i-1")->reason, Reason::kLoadBalancer);
  EXPECT_EQ(find(report, "i-1")->detail,
            "its group is scraped through load balancer web-lb at 127.0.0.2:8080 (job via_lb)");
  EXPECT_EQ(find(report, "i-2")->reason, Reason::kNeverSeen);  // group batch: not behind it
  // Without the flagged target, nothing says the load balancer is how the group is scraped.
  EXPECT_EQ(find(compute_coverage(CoverageConfig{}, fleet, {}, kNow), "i-1")->reason,
            Reason::kNeverSeen);
}

TEST(CoverageTest, LastSeenOutlivesDiscoveryChangesAndAShortAbsence) {
  ManualClock clock;
  discovery::DiscoveryCache cache(std::chrono::minutes(2), clock);
  cache.replace_source("file", {instance("i-1", "10.0.0.1", "InService")});
  auto first = cache.snapshot();
  first->activity(*first->lookup("i-1")).mark(kNow);
  // Another field changes: a new snapshot, the same activity.
  discovery::InstanceRecord changed = instance("i-1", "10.0.0.1", "InService");
  changed.instance_type = "m6i.large";
  cache.replace_source("file", {changed, instance("i-2", "10.0.0.2", "InService")});
  auto second = cache.snapshot();
  ASSERT_NE(first->generation(), second->generation());
  EXPECT_EQ(second->activity(*second->lookup("i-1")).last_seen_s.load(), kNow);
  EXPECT_EQ(second->activity(*second->lookup("i-2")).last_seen_s.load(), 0);
  // Gone, and back within the hour gone instances are remembered: still known.
  cache.replace_source("file", {instance("i-2", "10.0.0.2", "InService")});
  clock.advance(std::chrono::minutes(3));
  cache.expire();
  ASSERT_EQ(cache.snapshot()->lookup("i-1"), nullptr);
  cache.replace_source("file", {changed});
  auto back = cache.snapshot();
  EXPECT_EQ(back->activity(*back->lookup("i-1")).last_seen_s.load(), kNow);
}

TEST(CoverageTest, MarkingWritesOnlyWhenTheSecondChanges) {
  discovery::DiscoverySnapshot fleet(1, {instance("i-1", "10.0.0.1", "InService")});
  const discovery::InstanceRecord* r = fleet.lookup("i-1");
  discovery::InstanceActivity& a = fleet.activity(*r);
  a.mark(kNow);
  a.mark(kNow - 5);  // an older request finishing late does not move it back
  EXPECT_EQ(a.last_seen_s.load(), kNow);
  a.mark(kNow + 1);
  EXPECT_EQ(a.last_seen_s.load(), kNow + 1);
}

TEST(CoverageTest, TheJsonListsEachGroupWithItsUnmonitoredInstances) {
  discovery::DiscoverySnapshot fleet(1, {instance("i-1", "10.0.0.1", "InService"),
                                         instance("i-2", "10.0.0.2", "InService")});
  fleet.activity(*fleet.lookup("i-1")).mark(kNow);
  CoverageConfig config;
  config.enabled = true;
  const std::string json = coverage_json(config, compute_coverage(config, fleet, {}, kNow));
  EXPECT_NE(json.find(R"("window":"2m","lifecycle_states":["InService"],"expected":2,)"
                      R"("monitored":1,"groups":[{"asg":"web","expected":2,"monitored":1,"waiting":0,)"
                      R"("unmonitored":[{"instance_id":"i-2","address":"10.0.0.2",)"
                      R"("availability_zone":"us-east-1a","lifecycle_state":"InService",)"
                      R"("reason":"never_seen",)"),
            std::string::npos)
      << json;
  EXPECT_NE(json.find(R"("last_seen":null}]}]})"), std::string::npos) << json;
}

}  // namespace
}  // namespace rwgate::coverage
