// Fleet coverage: which instances are expected, when one counts as monitored, why one is
// not (a load balancer in front of its group, it stopped, never seen), and that the
// per-instance "last seen" outlives discovery changes.
#include "coverage/coverage.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <thread>
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

std::shared_ptr<const discovery::DiscoverySnapshot> fleet_of(
    std::vector<discovery::InstanceRecord> records) {
  return std::make_shared<const discovery::DiscoverySnapshot>(1, std::move(records));
}

TEST(CoverageTest, OnlyLiveInstancesInTheConfiguredLifecycleStatesAreExpected) {
  CoverageConfig config;
  discovery::InstanceRecord bare;  // a file_sd target with no fleet labels
  bare.addresses = {"10.0.0.9"};
  discovery::InstanceRecord stopped = instance("i-stopped", "10.0.0.6", "");
  stopped.ec2_state = "stopped";
  const auto fleet = fleet_of({instance("i-in", "10.0.0.1", "InService"),
                               instance("i-pending", "10.0.0.2", "Pending"),
                               instance("i-standby", "10.0.0.3", "Standby"),
                               instance("i-term", "10.0.0.4", "Terminating:Wait"),
                               instance("i-gone", "10.0.0.5", "Terminated"), stopped, bare});
  const CoverageReport report = compute_coverage(config, fleet, {}, kNow);
  EXPECT_EQ(report.expected(), 2u);
  EXPECT_NE(find(report, "i-in"), nullptr);
  EXPECT_NE(find(report, "10.0.0.9"), nullptr);  // no group, no lifecycle: counts as InService
  config.lifecycle_states = {"InService", "Standby"};
  EXPECT_EQ(compute_coverage(config, fleet, {}, kNow).expected(), 3u);
  config.lifecycle_states = {"Standby"};
  EXPECT_EQ(compute_coverage(config, fleet, {}, kNow).expected(), 1u);
}

TEST(CoverageTest, AnInstanceIsMonitoredWhileASeriesOfItArrivedWithinTheWindow) {
  CoverageConfig config;  // window 2m
  const auto fleet =
      fleet_of({instance("i-1", "10.0.0.1", "InService"), instance("i-2", "10.0.0.2", "InService"),
                instance("i-3", "10.0.0.3", "InService")});
  // A request's series: i-1 twice (not together), i-2 once, one series matched nothing.
  const std::vector<const discovery::InstanceRecord*> records = {
      fleet->lookup("i-1"), fleet->lookup("i-2"), nullptr, fleet->lookup("i-1")};
  mark_seen(*fleet, records, kNow - 120);
  CoverageReport report = compute_coverage(config, fleet, {}, kNow);
  ASSERT_EQ(report.groups.size(), 1u);
  EXPECT_EQ(report.groups[0].asg, "web");
  EXPECT_EQ(report.expected(), 3u);
  EXPECT_EQ(report.monitored(), 2u);
  EXPECT_TRUE(find(report, "i-1")->monitored());
  EXPECT_EQ(find(report, "i-3")->reason, Reason::kNeverSeen);
  EXPECT_EQ(find(report, "i-3")->last_seen_s, 0);

  report = compute_coverage(config, fleet, {}, kNow + 1);  // the window has passed
  EXPECT_EQ(report.monitored(), 0u);
  const InstanceCoverage* c = find(report, "i-1");
  EXPECT_EQ(c->reason, Reason::kStopped);
  EXPECT_EQ(c->last_seen_s, kNow - 120);
  EXPECT_EQ(c->detail, "it stopped sending at " + format_rfc3339_ms((kNow - 120) * 1000));
}

TEST(CoverageTest, ANewInstanceIsNotUnmonitoredBeforeItsFirstScrapesCouldArrive) {
  const auto fleet = fleet_of(
      {instance("i-1", "10.0.0.1", "InService"), instance("i-2", "10.0.0.2", "InService")});
  fleet->activity(*fleet->lookup("i-2"))->listed_since_s = kNow - 60;
  CoverageReport report = compute_coverage(CoverageConfig{}, fleet, {}, kNow);
  EXPECT_EQ(report.expected(), 1u);
  EXPECT_EQ(report.groups[0].waiting, 1u);
  report = compute_coverage(CoverageConfig{}, fleet, {}, kNow + 60);
  EXPECT_EQ(report.expected(), 2u);
  EXPECT_EQ(find(report, "i-2")->reason, Reason::kNeverSeen);
  // Nor is any instance right after rwgate starts.
  EXPECT_EQ(compute_coverage(CoverageConfig{}, fleet, {}, kNow, kNow - 1).expected(), 0u);
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
  const auto fleet = std::make_shared<const discovery::DiscoverySnapshot>(
      1, records, std::vector<discovery::InstanceRecord>{}, lbs);
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

int64_t last_seen(const discovery::DiscoverySnapshot& fleet, const std::string& id) {
  return fleet.activity(*fleet.lookup(id))->last_seen_s.load();
}

TEST(CoverageTest, LastSeenOutlivesDiscoveryChangesAShortAbsenceAndARestartedDiscovery) {
  ManualClock clock;
  auto activities = std::make_shared<discovery::InstanceActivities>();
  discovery::DiscoveryCache cache(std::chrono::minutes(2), clock, activities);
  cache.replace_source("file", {instance("i-1", "10.0.0.1", "InService")});
  cache.snapshot()->activity(*cache.snapshot()->lookup("i-1"))->mark(kNow);
  // Another field changes: a new snapshot, the same activity.
  discovery::InstanceRecord changed = instance("i-1", "10.0.0.1", "InService");
  changed.instance_type = "m6i.large";
  const uint64_t before = cache.snapshot()->generation();
  cache.replace_source("file", {changed, instance("i-2", "10.0.0.2", "InService")});
  ASSERT_NE(cache.snapshot()->generation(), before);
  EXPECT_EQ(last_seen(*cache.snapshot(), "i-1"), kNow);
  EXPECT_EQ(last_seen(*cache.snapshot(), "i-2"), 0);
  // Gone (no source lists it for missing_after), and back: still known.
  cache.replace_source("file", {instance("i-2", "10.0.0.2", "InService")});
  clock.advance(std::chrono::minutes(3));
  cache.expire();
  ASSERT_EQ(cache.snapshot()->lookup("i-1"), nullptr);
  cache.replace_source("file", {changed});
  EXPECT_EQ(last_seen(*cache.snapshot(), "i-1"), kNow);
  // A new cache (a changed discovery section) on the same table.
  discovery::DiscoveryCache restarted(std::chrono::minutes(2), clock, activities);
  restarted.replace_source("file", {changed});
  EXPECT_EQ(last_seen(*restarted.snapshot(), "i-1"), kNow);
}

TEST(CoverageTest, AnInstanceNeitherListedNorHeardOfForAnHourIsForgotten) {
  auto activities = std::make_shared<discovery::InstanceActivities>();
  auto a = activities->bind({"i-1", "i-2"}, kNow);
  a[0]->mark(kNow);
  a.clear();  // no snapshot holds them any more
  EXPECT_EQ(activities->bind({"i-1"}, kNow + 3599)[0]->last_seen_s.load(), kNow);
  activities->bind({"i-2"}, kNow + 6000);  // i-2, never seen, stays while it is listed
  activities->bind({}, kNow + 7200);       // over an hour after i-1 was listed or seen
  EXPECT_EQ(activities->bind({"i-1"}, kNow + 7300)[0]->last_seen_s.load(), 0);
  EXPECT_EQ(activities->bind({"i-2"}, kNow + 7300)[0]->listed_since_s, kNow);
}

TEST(CoverageTest, MarkingNeverMovesLastSeenBackEvenWhenWorkersRace) {
  const auto fleet = fleet_of({instance("i-1", "10.0.0.1", "InService")});
  discovery::InstanceActivity& a = *fleet->activity(*fleet->lookup("i-1"));
  a.mark(kNow);
  a.mark(kNow - 5);  // an older request finishing late
  EXPECT_EQ(a.last_seen_s.load(), kNow);
  std::vector<std::thread> workers;
  for (int t = 0; t < 4; ++t) {
    workers.emplace_back([&a, t] {
      for (int64_t i = 0; i < 10000; ++i) a.mark(kNow + (i * 4 + t) % 1000);
    });
  }
  for (std::thread& w : workers) w.join();
  EXPECT_EQ(a.last_seen_s.load(), kNow + 999);
}

TEST(CoverageTest, ARecordOfAnotherSnapshotHasNoActivityThere) {
  const auto one = fleet_of({instance("i-1", "10.0.0.1", "InService")});
  const auto other = fleet_of({instance("i-1", "10.0.0.1", "InService")});
  EXPECT_EQ(one->activity(*other->lookup("i-1")), nullptr);
  const std::vector<const discovery::InstanceRecord*> foreign = {other->lookup("i-1")};
  mark_seen(*one, foreign, kNow);  // ignored, not a write through a wild pointer
  EXPECT_EQ(last_seen(*one, "i-1"), 0);
}

TEST(CoverageTest, AReportKeepsTheSnapshotItsInstancesPointInto) {
  discovery::DiscoveryCache cache(std::chrono::minutes(2));
  cache.replace_source("file", {instance("i-1", "10.0.0.1", "InService")});
  const CoverageReport report = compute_coverage(CoverageConfig{}, cache.snapshot(), {}, kNow);
  cache.replace_source("file", {instance("i-2", "10.0.0.2", "InService")});
  cache.replace_source("file", {instance("i-3", "10.0.0.3", "InService")});
  // Under AddressSanitizer a freed record would be a use-after-free here.
  EXPECT_NE(coverage_json(CoverageConfig{}, report).find("\"i-1\""), std::string::npos);
}

TEST(CoverageTest, TheJsonListsEachGroupWithItsUnmonitoredInstances) {
  const auto fleet = fleet_of(
      {instance("i-1", "10.0.0.1", "InService"), instance("i-2", "10.0.0.2", "InService")});
  fleet->activity(*fleet->lookup("i-1"))->mark(kNow);
  CoverageConfig config;
  config.enabled = true;
  const std::string json = coverage_json(config, compute_coverage(config, fleet, {}, kNow));
  EXPECT_NE(
      json.find(R"("window":"2m","lifecycle_states":["InService"],"expected":2,)"
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
