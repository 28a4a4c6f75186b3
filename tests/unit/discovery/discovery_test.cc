// The discovery cache, its lookups, the file_sd parser and the EventBridge payloads.
#include <gtest/gtest.h>

#include "discovery/cache.h"
#include "discovery/sources/eventbridge.h"
#include "discovery/sources/source.h"

namespace rwgate::discovery {
namespace {

InstanceRecord rec_with_id(const std::string& id) {
  InstanceRecord r;
  r.instance_id = id;
  return r;
}

InstanceRecord rec(std::string id, std::string ip, std::string state = "InService") {
  InstanceRecord r;
  r.instance_id = std::move(id);
  r.private_ip = std::move(ip);
  r.lifecycle_state = std::move(state);
  r.asg_name = "web";
  return r;
}

TEST(HostOfTest, StripsPortsAndBrackets) {
  EXPECT_EQ(host_of("10.0.0.1:9100"), "10.0.0.1");
  EXPECT_EQ(host_of("ip-10-0-0-1.ec2.internal:9100"), "ip-10-0-0-1.ec2.internal");
  EXPECT_EQ(host_of("[2001:db8::1]:9100"), "2001:db8::1");
  EXPECT_EQ(host_of("2001:db8::1"), "2001:db8::1");
  EXPECT_EQ(host_of("10.0.0.1"), "10.0.0.1");
  EXPECT_EQ(host_of(""), "");
}

TEST(DiscoverySnapshotTest, LooksUpByEveryName) {
  InstanceRecord r = rec("i-1", "10.0.0.1");
  r.public_ip = "54.1.2.3";
  r.private_dns = "ip-10-0-0-1.ec2.internal";
  r.public_dns = "ec2-54-1-2-3.compute-1.amazonaws.com";
  r.addresses = {"node-a.example"};
  DiscoverySnapshot snap(1, {r});
  for (const char* name : {"i-1", "10.0.0.1", "54.1.2.3", "ip-10-0-0-1.ec2.internal",
                           "ec2-54-1-2-3.compute-1.amazonaws.com", "node-a.example"}) {
    ASSERT_NE(snap.lookup(name), nullptr) << name;
    EXPECT_EQ(snap.lookup(name)->instance_id, "i-1");
  }
  EXPECT_EQ(snap.lookup("10.0.0.2"), nullptr);
}

TEST(DiscoveryCacheTest, MergesSourcesLaterReportsWinFieldByField) {
  ManualClock clock;
  DiscoveryCache cache(std::chrono::minutes(2), clock);
  InstanceRecord from_file = rec("i-1", "10.0.0.1");
  from_file.availability_zone = "us-east-1a";
  cache.replace_source("file", {from_file});
  clock.advance(std::chrono::seconds(10));
  InstanceRecord event;
  event.instance_id = "i-1";
  event.lifecycle_state = "Terminating:Wait";
  cache.upsert("eventbridge", event);
  auto snap = cache.snapshot();
  const InstanceRecord* r = snap->lookup("10.0.0.1");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->lifecycle_state, "Terminating:Wait");  // the later report
  EXPECT_EQ(r->availability_zone, "us-east-1a");      // kept from the file
  // The same file list again changes nothing: the event stays the latest word.
  clock.advance(std::chrono::seconds(10));
  cache.replace_source("file", {from_file});
  EXPECT_EQ(cache.snapshot()->lookup("i-1")->lifecycle_state, "Terminating:Wait");
  // A changed file entry is newer than the event.
  clock.advance(std::chrono::seconds(10));
  from_file.lifecycle_state = "InService";
  from_file.instance_type = "m5.large";
  cache.replace_source("file", {from_file});
  EXPECT_EQ(cache.snapshot()->lookup("i-1")->lifecycle_state, "InService");
}

TEST(DiscoveryCacheTest, InstanceNoSourceListsIsGoneAfterMissingAfter) {
  ManualClock clock;
  DiscoveryCache cache(std::chrono::minutes(2), clock);
  std::vector<ChangeEvent> seen;
  cache.subscribe([&](const std::vector<ChangeEvent>& ev, uint64_t) {
    seen.insert(seen.end(), ev.begin(), ev.end());
  });
  cache.replace_source("file", {rec("i-1", "10.0.0.1"), rec("i-2", "10.0.0.2")});
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].kind, ChangeEvent::Kind::kAdded);
  seen.clear();
  cache.replace_source("file", {rec("i-1", "10.0.0.1")});  // i-2 no longer listed
  cache.expire();
  EXPECT_NE(cache.snapshot()->lookup("i-2"), nullptr);  // not yet
  clock.advance(std::chrono::seconds(119));
  cache.expire();
  EXPECT_NE(cache.snapshot()->lookup("i-2"), nullptr);
  clock.advance(std::chrono::seconds(1));
  cache.expire();
  EXPECT_EQ(cache.snapshot()->lookup("i-2"), nullptr);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].kind, ChangeEvent::Kind::kGone);
  EXPECT_EQ(seen[0].before.instance_id, "i-2");
  // Listed by another source: not gone while that one lists it.
  cache.upsert("grpc", rec("i-1", "10.0.0.1"));
  cache.replace_source("file", {});
  clock.advance(std::chrono::minutes(10));
  cache.expire();
  EXPECT_NE(cache.snapshot()->lookup("i-1"), nullptr);
}

// missing_after counts on the steady clock: setting the wall clock an hour back must not
// keep a dropped instance an hour longer, nor an hour forward drop a listed one early.
TEST(DiscoveryCacheTest, MissingAfterIgnoresTheWallClockBeingSet) {
  ManualClock clock;
  DiscoveryCache cache(std::chrono::minutes(2), clock);
  cache.replace_source("file", {rec("i-1", "10.0.0.1"), rec("i-2", "10.0.0.2")});
  cache.replace_source("file", {rec("i-1", "10.0.0.1")});  // i-2 dropped
  clock.set_wall_by(-std::chrono::hours(1));
  clock.advance(std::chrono::seconds(120));
  cache.expire();
  EXPECT_EQ(cache.snapshot()->lookup("i-2"), nullptr);
  cache.replace_source("file", {});  // i-1 dropped
  clock.set_wall_by(std::chrono::hours(2));
  cache.expire();
  EXPECT_NE(cache.snapshot()->lookup("i-1"), nullptr);
  clock.advance(std::chrono::seconds(120));
  cache.expire();
  EXPECT_EQ(cache.snapshot()->lookup("i-1"), nullptr);
}

TEST(DiscoveryCacheTest, ChangesProduceEventsAndNewGenerations) {
  ManualClock clock;
  DiscoveryCache cache(std::chrono::minutes(2), clock);
  std::vector<ChangeEvent> seen;
  cache.subscribe([&](const std::vector<ChangeEvent>& ev, uint64_t) {
    seen.insert(seen.end(), ev.begin(), ev.end());
  });
  cache.replace_source("file", {rec("i-1", "10.0.0.1")});
  const uint64_t g1 = cache.snapshot()->generation();
  cache.replace_source("file", {rec("i-1", "10.0.0.1")});
  EXPECT_EQ(cache.snapshot()->generation(), g1);  // nothing changed
  clock.advance(std::chrono::seconds(1));
  cache.replace_source("file", {rec("i-1", "10.0.0.1", "Terminating:Wait")});
  EXPECT_GT(cache.snapshot()->generation(), g1);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1].kind, ChangeEvent::Kind::kChanged);
  EXPECT_EQ(seen[1].before.lifecycle_state, "InService");
  EXPECT_EQ(seen[1].after.lifecycle_state, "Terminating:Wait");
}

TEST(InstanceRecordTest, MetaLabelsUsePrometheusEc2SdNames) {
  InstanceRecord r = rec("i-1", "10.0.0.1");
  r.availability_zone = "us-east-1a";
  r.tags["aws:autoscaling:groupName"] = "web";
  r.tags["Name"] = "api";
  const auto meta = r.meta_labels();
  auto get = [&](const std::string& k) {
    for (const auto& [n, v] : meta) {
      if (n == k) return v;
    }
    return std::string("<absent>");
  };
  EXPECT_EQ(get("__meta_ec2_instance_id"), "i-1");
  EXPECT_EQ(get("__meta_ec2_private_ip"), "10.0.0.1");
  EXPECT_EQ(get("__meta_ec2_availability_zone"), "us-east-1a");
  EXPECT_EQ(get("__meta_asg_name"), "web");
  EXPECT_EQ(get("__meta_asg_lifecycle_state"), "InService");
  EXPECT_EQ(get("__meta_ec2_tag_aws_autoscaling_groupName"), "web");
  EXPECT_EQ(get("__meta_ec2_tag_Name"), "api");
  EXPECT_EQ(get("__meta_ec2_public_ip"), "<absent>");
  EXPECT_TRUE(std::is_sorted(meta.begin(), meta.end()));
}

TEST(InstanceRecordTest, GoneStates) {
  for (const char* s : {"Terminated", "Detached", "Warmed:Terminated"})
    EXPECT_TRUE(rec("i", "", s).is_gone()) << s;
  for (const char* s : {"Terminating", "Terminating:Wait", "Terminating:Proceed", "Detaching",
                        "Standby", "InService"}) {
    EXPECT_FALSE(rec("i", "", s).is_gone()) << s;
  }
  InstanceRecord r = rec("i", "");
  for (const char* s : {"shutting-down", "terminated", "stopped"}) {
    r.ec2_state = s;
    EXPECT_TRUE(r.is_gone()) << s;
  }
}

TEST(FileSdTest, ParsesJsonAndYamlTargetGroups) {
  std::vector<InstanceRecord> out;
  ASSERT_TRUE(parse_sd_targets(R"([{"targets": ["10.0.0.1:9100", "10.0.0.2:9100"],
      "labels": {"__meta_ec2_instance_id": "i-1", "__meta_asg_name": "web", "job": "node",
                 "__meta_ec2_tag_aws_autoscaling_groupName": "web2"}}])",
                               out)
                  .ok());
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].instance_id, "i-1");
  EXPECT_EQ(out[0].asg_name, "web");
  EXPECT_EQ(out[1].addresses, std::vector<std::string>{"10.0.0.2"});
  ASSERT_TRUE(
      parse_sd_targets(
          "- targets: ['h:1']\n  labels: {__meta_ec2_tag_aws_autoscaling_groupName: api}\n", out)
          .ok());
  EXPECT_EQ(out[0].asg_name, "api");  // from the ASG tag when __meta_asg_name is absent
  for (const char* bad : {"{", "{}", "[1]", "[{\"labels\": {}}]", "[{\"targets\": [[1]]}]",
                          "[{\"targets\": [\"a\"], \"labels\": [1]}]"}) {
    EXPECT_FALSE(parse_sd_targets(bad, out).ok()) << bad;
  }
}

std::string event(const std::string& type, const std::string& source, const std::string& detail) {
  return R"({"version":"0","id":"1","detail-type":")" + type + R"(","source":")" + source +
         R"(","account":"123456789012","time":"2026-11-25T10:00:00Z","region":"us-east-1","resources":[],"detail":)" +
         detail + "}";
}

TEST(EventBridgeTest, LifecycleAndStateEventsUpdateTheInstance) {
  ManualClock clock;
  DiscoveryCache cache(std::chrono::minutes(2), clock);
  struct Case {
    std::string type, source, detail, lifecycle, ec2_state;
  };
  const Case cases[] = {
      {"EC2 Instance-launch Lifecycle Action", "aws.autoscaling",
       R"({"LifecycleActionToken":"t","AutoScalingGroupName":"web","LifecycleHookName":"h","EC2InstanceId":"i-9","LifecycleTransition":"autoscaling:EC2_INSTANCE_LAUNCHING"})",
       "Pending:Wait", ""},
      {"EC2 Instance Launch Successful", "aws.autoscaling",
       R"({"StatusCode":"InProgress","AutoScalingGroupName":"web","EC2InstanceId":"i-9","Details":{"Availability Zone":"us-east-1b","Subnet ID":"subnet-1"}})",
       "InService", ""},
      {"EC2 Instance-terminate Lifecycle Action", "aws.autoscaling",
       R"({"AutoScalingGroupName":"web","EC2InstanceId":"i-9","LifecycleTransition":"autoscaling:EC2_INSTANCE_TERMINATING"})",
       "Terminating:Wait", ""},
      {"EC2 Instance State-change Notification", "aws.ec2",
       R"({"instance-id":"i-9","state":"shutting-down"})", "Terminating:Wait", "shutting-down"},
      {"EC2 Instance Terminate Successful", "aws.autoscaling",
       R"({"StatusCode":"InProgress","AutoScalingGroupName":"web","EC2InstanceId":"i-9","Details":{}})",
       "Terminated", "shutting-down"},
  };
  for (const Case& c : cases) {
    clock.advance(std::chrono::seconds(1));
    const EventResult r = apply_eventbridge_event(event(c.type, c.source, c.detail), cache);
    EXPECT_EQ(r.status, 200) << c.type << ": " << r.message;
    EXPECT_TRUE(r.applied) << c.type;
    const InstanceRecord* rec = cache.snapshot()->lookup("i-9");
    ASSERT_NE(rec, nullptr);
    EXPECT_EQ(rec->lifecycle_state, c.lifecycle) << c.type;
    EXPECT_EQ(rec->ec2_state, c.ec2_state) << c.type;
    EXPECT_EQ(rec->asg_name, "web");
  }
  EXPECT_EQ(cache.snapshot()->lookup("i-9")->availability_zone, "us-east-1b");
  EXPECT_TRUE(cache.snapshot()->lookup("i-9")->is_gone());
}

TEST(EventBridgeTest, UnknownTypesAreIgnoredAndMalformedBodiesRefused) {
  DiscoveryCache cache(std::chrono::minutes(2));
  EventResult r = apply_eventbridge_event(
      event("EC2 Instance Launch Unsuccessful", "aws.autoscaling", "{}"), cache);
  EXPECT_EQ(r.status, 200);
  EXPECT_FALSE(r.applied);
  for (const char* bad : {"", "{", "[]", "{\"source\":\"aws.ec2\"}",
                          "{\"detail-type\":\"x\",\"source\":\"y\",\"detail\":1}"}) {
    EXPECT_EQ(apply_eventbridge_event(bad, cache).status, 400) << bad;
  }
  r = apply_eventbridge_event(
      event("EC2 Instance-terminate Lifecycle Action", "aws.autoscaling", "{}"), cache);
  EXPECT_EQ(r.status, 400);  // no instance id
}

}  // namespace
}  // namespace rwgate::discovery

namespace rwgate::discovery {
namespace {

TEST(DiscoveryCacheTest, AnInstanceListedUnderSeveralHostsIsFoundByEach) {
  DiscoveryCache cache(std::chrono::minutes(2));
  std::vector<InstanceRecord> records;
  ASSERT_TRUE(
      parse_sd_targets(R"([{"targets": ["10.0.0.1:9100", "10.0.0.1:9200", "web-1.internal:9100"],
      "labels": {"__meta_ec2_instance_id": "i-1"}}])",
                       records)
          .ok());
  cache.replace_source("file", records);
  for (const char* host : {"10.0.0.1", "web-1.internal", "i-1"}) {
    ASSERT_NE(cache.snapshot()->lookup(host), nullptr) << host;
  }
  EXPECT_EQ(cache.snapshot()->records().size(), 1u);
}

TEST(DiscoveryCacheTest, EventReportsLastWhileListedElsewhereThenExpire) {
  ManualClock clock;
  DiscoveryCache cache(std::chrono::minutes(2), clock);
  cache.replace_source("file", {rec("i-1", "10.0.0.1")});
  clock.advance(std::chrono::seconds(1));
  InstanceRecord ev;
  ev.instance_id = "i-1";
  ev.lifecycle_state = "Terminating:Wait";
  cache.upsert("eventbridge", ev, /*event=*/true);
  InstanceRecord lone;
  lone.instance_id = "i-2";
  lone.lifecycle_state = "Terminated";
  cache.upsert("eventbridge", lone, /*event=*/true);  // an instance no list knows
  clock.advance(std::chrono::minutes(3));
  cache.expire();
  EXPECT_EQ(cache.snapshot()->lookup("i-1")->lifecycle_state,
            "Terminating:Wait");                        // file still lists i-1
  EXPECT_EQ(cache.snapshot()->lookup("i-2"), nullptr);  // expired
  cache.replace_source("file", {});
  clock.advance(std::chrono::minutes(3));
  cache.expire();
  EXPECT_EQ(cache.snapshot()->lookup("i-1"), nullptr);
  EXPECT_TRUE(cache.snapshot()->records().empty());
}

TEST(DiscoverySnapshotTest, AnInstanceWinsOverABareAddressWithTheSameName) {
  InstanceRecord bare;
  bare.addresses = {"10.0.0.1"};
  DiscoverySnapshot snap(1, {bare, rec("i-1", "10.0.0.1")});
  ASSERT_NE(snap.lookup("10.0.0.1"), nullptr);
  EXPECT_EQ(snap.lookup("10.0.0.1")->instance_id, "i-1");
}

// Recently gone instances stay findable, so their late samples are recognised; an
// instance that comes back is live again.
TEST(DiscoveryGoneTest, GoneInstancesAreKeptForLateSamplesUntilTheyComeBack) {
  ManualClock clock;
  DiscoveryCache cache(std::chrono::seconds(60), clock);
  InstanceRecord r = rec_with_id("i-a");
  r.private_ip = "10.0.0.1";
  cache.replace_source("file", {r});
  cache.replace_source("file", {});
  clock.advance(std::chrono::seconds(61));
  cache.expire();
  auto snap = cache.snapshot();
  EXPECT_EQ(snap->lookup("10.0.0.1"), nullptr);
  ASSERT_NE(snap->lookup_gone("10.0.0.1"), nullptr);
  EXPECT_EQ(snap->lookup_gone("10.0.0.1")->instance_id, "i-a");
  // Another instance gets the address: it is live, and the gone one no longer answers.
  InstanceRecord other = rec_with_id("i-b");
  other.private_ip = "10.0.0.1";
  cache.replace_source("file", {other});
  snap = cache.snapshot();
  EXPECT_EQ(snap->lookup("10.0.0.1")->instance_id, "i-b");
  EXPECT_EQ(snap->lookup_gone("10.0.0.1"), nullptr);
  // The first one comes back.
  cache.replace_source("file", {other, r});
  EXPECT_TRUE(cache.snapshot()->gone().empty());
  // And after an hour gone, it is forgotten.
  cache.replace_source("file", {});
  clock.advance(std::chrono::seconds(61));
  cache.expire();
  EXPECT_EQ(cache.snapshot()->gone().size(), 2u);
  clock.advance(DiscoveryCache::kGoneRetention);
  cache.expire();
  EXPECT_TRUE(cache.snapshot()->gone().empty());
}

}  // namespace
}  // namespace rwgate::discovery
