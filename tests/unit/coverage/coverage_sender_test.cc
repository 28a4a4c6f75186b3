// The coverage sender: each round sends rwgate_fleet_instance_monitored for every expected
// instance and rwgate_fleet_instances per group; a series that leaves the round (Standby,
// a group gone) ends with a staleness marker; a sink that refuses gets its markers later;
// with tenancy the series go to the default tenant.
#include "coverage/coverage_sender.h"

#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "../fake_sink.h"
#include "proto/decode.h"

namespace rwgate::coverage {
namespace {

using rwgate::testing::FakeSink;

discovery::InstanceRecord instance(std::string id, std::string ip, std::string lifecycle) {
  discovery::InstanceRecord r;
  r.instance_id = std::move(id);
  r.private_ip = std::move(ip);
  r.asg_name = "web";
  r.availability_zone = "us-east-1a";
  r.lifecycle_state = std::move(lifecycle);
  return r;
}

// Label sets as Prometheus prints them, from RW 1.0 Label fields.
std::string text_of(const std::string& encoded) {
  std::vector<proto::Label> labels;
  EXPECT_TRUE(proto::read_labels_v1(encoded, labels));
  return proto::format_labels(labels);
}

struct Fixture {
  prometheus::Registry registry;
  discovery::SourceMetricFamilies source_metrics{registry};
  // The discovery cache lists instances at the real time; rounds run on this one.
  ManualClock clock{std::chrono::system_clock::now()};
  std::shared_ptr<discovery::Discovery> discovery =
      std::make_shared<discovery::Discovery>(discovery::DiscoveryConfig{}, source_metrics);
  std::shared_ptr<FakeSink> sink = std::make_shared<FakeSink>("store");
  CoverageSender sender{std::make_shared<lb::LbDetector>(clock), registry, clock};

  explicit Fixture(CoverageSetup setup = {}) {
    setup.config.enabled = true;
    setup.discovery = discovery;
    setup.sinks = {sink};
    sender.configure(std::move(setup));
  }
  // Lists i-1 (InService) and i-2 in `state` as the only instances of a file source.
  void list_pair(const std::string& state) {
    discovery->cache().replace_source(
        "file", {instance("i-1", "10.0.0.1", "InService"), instance("i-2", "10.0.0.2", state)});
  }
  // Past the wait for new instances' first scrapes.
  void settle() { clock.advance(std::chrono::minutes(2) + std::chrono::seconds(1)); }
  void seen(const std::string& id) {
    auto snap = discovery->cache().snapshot();
    snap->activity(*snap->lookup(id))->mark(clock.wall_ms() / 1000);
  }
  // The last round's values by series, markers as "stale".
  std::map<std::string, std::string> round() {
    sink->taken.clear();
    sender.round();
    std::map<std::string, std::string> out;
    for (const FakeSink::Taken& t : sink->taken)
      out[text_of(t.labels)] = t.stale ? "stale" : std::to_string(static_cast<int>(t.value));
    return out;
  }
};

const std::string kMonitored1 =
    R"({__name__="rwgate_fleet_instance_monitored", asg="web", availability_zone="us-east-1a", instance_id="i-1", lifecycle_state="InService"})";
const std::string kMonitored2 =
    R"({__name__="rwgate_fleet_instance_monitored", asg="web", availability_zone="us-east-1a", instance_id="i-2", lifecycle_state="InService"})";
const std::string kTrue = R"({__name__="rwgate_fleet_instances", asg="web", monitored="true"})";
const std::string kFalse = R"({__name__="rwgate_fleet_instances", asg="web", monitored="false"})";

TEST(CoverageSenderTest, EachRoundSendsEveryExpectedInstanceAndTheGroupCounts) {
  Fixture f;
  f.discovery->cache().replace_source(
      "file", {instance("i-1", "10.0.0.1", "InService"), instance("i-2", "10.0.0.2", "InService"),
               instance("i-3", "10.0.0.3", "Pending")});
  // New instances get the window to send something: neither monitored nor not.
  EXPECT_EQ(f.round(), (std::map<std::string, std::string>{{kTrue, "0"}, {kFalse, "0"}}));
  f.settle();
  f.seen("i-1");
  const auto got = f.round();
  EXPECT_EQ(got, (std::map<std::string, std::string>{
                     {kMonitored1, "1"}, {kMonitored2, "0"}, {kTrue, "1"}, {kFalse, "1"}}));
  for (const FakeSink::Taken& t : f.sink->taken) EXPECT_EQ(t.timestamp_ms, f.clock.wall_ms());
}

TEST(CoverageSenderTest, AnInstanceThatLeavesTheExpectedSetEndsWithAStalenessMarker) {
  Fixture f;
  f.list_pair("InService");
  f.settle();
  f.round();
  f.list_pair("Standby");
  f.clock.advance(std::chrono::seconds(15));
  const auto got = f.round();
  EXPECT_EQ(got.at(kMonitored2), "stale");
  EXPECT_EQ(got.at(kMonitored1), "0");
  EXPECT_EQ(got.at(kFalse), "1");
  EXPECT_EQ(f.round().count(kMonitored2), 0u);  // ended once
}

TEST(CoverageSenderTest, ASinkThatRefusesARoundGetsItsMarkersInTheNextOne) {
  Fixture f;
  f.list_pair("InService");
  f.settle();
  f.round();
  f.list_pair("Standby");
  f.sink->full = true;
  EXPECT_TRUE(f.round().empty());
  f.sink->full = false;
  EXPECT_EQ(f.round().at(kMonitored2), "stale");
}

TEST(CoverageSenderTest, TurningCoverageOffEndsEverySeries) {
  Fixture f;
  f.discovery->cache().replace_source("file", {instance("i-1", "10.0.0.1", "InService")});
  f.settle();
  f.round();
  // As the gateway builds it for `enabled: false`: no discovery, every running sink.
  CoverageSetup off;
  off.config.enabled = false;
  off.sinks = {f.sink};
  f.sender.configure(off);
  const auto got = f.round();
  ASSERT_EQ(got.size(), 3u);
  for (const auto& [labels, value] : got) EXPECT_EQ(value, "stale") << labels;
  EXPECT_TRUE(f.round().empty());
}

TEST(CoverageSenderTest, ASinkNoLongerSelectedGetsTheMarkersThatEndItsSeries) {
  Fixture f;
  auto other = std::make_shared<FakeSink>("other");
  CoverageSetup both;
  both.config.enabled = true;
  both.discovery = f.discovery;
  both.sinks = {f.sink, other};
  f.sender.configure(both);
  f.discovery->cache().replace_source("file", {instance("i-1", "10.0.0.1", "InService")});
  f.settle();
  f.round();
  EXPECT_EQ(other->taken.size(), 3u);
  both.config.sinks = {"store"};
  f.sender.configure(both);
  other->taken.clear();
  EXPECT_EQ(f.round().at(kMonitored1), "0");
  ASSERT_EQ(other->taken.size(), 3u);
  for (const FakeSink::Taken& t : other->taken) EXPECT_TRUE(t.stale);
  other->taken.clear();
  f.round();
  EXPECT_TRUE(other->taken.empty());
}

TEST(CoverageSenderTest, TurningCoverageOnAgainGivesEveryInstanceAWindowOfGrace) {
  Fixture f;
  f.discovery->cache().replace_source("file", {instance("i-1", "10.0.0.1", "InService")});
  f.settle();
  f.seen("i-1");
  EXPECT_EQ(f.round().at(kMonitored1), "1");
  CoverageSetup off;
  off.sinks = {f.sink};
  f.sender.configure(off);
  f.round();
  f.clock.advance(std::chrono::minutes(10));  // nothing is marked while coverage is off
  CoverageSetup on;
  on.config.enabled = true;
  on.discovery = f.discovery;
  on.sinks = {f.sink};
  f.sender.configure(on);
  EXPECT_EQ(f.round().count(kMonitored1), 0u);  // waiting, not "stopped sending"
  f.seen("i-1");
  EXPECT_EQ(f.round().at(kMonitored1), "1");
}

TEST(CoverageSenderTest, ALargeFleetGoesOutInRequestsOfBoundedSize) {
  Fixture f;
  std::vector<discovery::InstanceRecord> fleet;
  for (int i = 0; i < 4500; ++i)
    fleet.push_back(instance("i-" + std::to_string(i),
                             "10.1." + std::to_string(i / 250) + "." + std::to_string(i % 250),
                             "InService"));
  f.discovery->cache().replace_source("file", fleet);
  f.settle();
  f.sink->enqueues = 0;
  EXPECT_EQ(f.round().size(), 4502u);
  EXPECT_EQ(f.sink->enqueues, 3);  // 2000 + 2000 + 502
}

TEST(CoverageSenderTest, WithTenancyTheSeriesGoToTheDefaultTenant) {
  CoverageSetup setup;
  setup.tenancy_config.enabled = true;
  setup.tenancy_config.labels = {"team"};
  setup.tenancy_config.default_tenant = "platform";
  setup.tenant_names = std::make_shared<sinks::TenantNames>();
  Fixture f(setup);
  f.discovery->cache().replace_source("file", {instance("i-1", "10.0.0.1", "InService")});
  f.settle();
  f.round();
  ASSERT_FALSE(f.sink->taken.empty());
  for (const FakeSink::Taken& t : f.sink->taken)
    EXPECT_EQ(setup.tenant_names->name(t.tenant), "platform");
}

TEST(CoverageSenderTest, TheJsonAnswersFromTheRunningSetup) {
  Fixture f;
  f.discovery->cache().replace_source("file", {instance("i-1", "10.0.0.1", "InService")});
  EXPECT_NE(f.sender.json().find(R"("expected":0,"monitored":0)"), std::string::npos);
  f.settle();
  EXPECT_NE(f.sender.json().find(R"("expected":1,"monitored":0)"), std::string::npos);
}

}  // namespace
}  // namespace rwgate::coverage
