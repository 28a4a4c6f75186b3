#include "discovery/sd_export.h"

#include <gtest/gtest.h>

namespace rwgate::discovery {
namespace {

InstanceRecord instance(std::string id, std::string ip, std::string asg, std::string lifecycle,
                        std::string zone = "us-east-1a") {
  InstanceRecord r;
  r.instance_id = std::move(id);
  r.private_ip = std::move(ip);
  r.asg_name = std::move(asg);
  r.lifecycle_state = std::move(lifecycle);
  r.availability_zone = std::move(zone);
  r.ec2_state = "running";
  return r;
}

DiscoverySnapshot fleet() {
  LoadBalancerRecord lb{"web-alb",     "web-alb-1.us-east-1.elb.amazonaws.com",
                        "application", "us-east-1",
                        {"web"},       "aws[0]",
                        "9100"};
  LoadBalancerRecord empty{
      "idle", "idle-1.us-east-1.elb.amazonaws.com", "application", "us-east-1", {}, "aws[0]", "80"};
  InstanceRecord standalone;  // in no group: InService while it runs
  standalone.instance_id = "i-4";
  standalone.private_ip = "10.0.0.4";
  standalone.ec2_state = "running";
  return DiscoverySnapshot(1,
                           {instance("i-1", "10.0.0.1", "web", "InService"),
                            instance("i-2", "10.0.0.2", "web", "Standby", "us-east-1b"),
                            instance("i-3", "10.0.0.3", "api", "InService", "us-east-1b"),
                            standalone, instance("i-5", "", "web", "Terminated")},
                           {}, {lb, empty});
}

SdAnswer answer(const DiscoverySnapshot& f, std::string_view target) {
  SdQuery q;
  const Status st = parse_sd_query(target, q);
  EXPECT_TRUE(st) << st.reason();
  return sd_targets(f, q);
}

TEST(SdExportTest, DefaultServesInServiceInstancesWithTheirMetaLabels) {
  const DiscoverySnapshot f = fleet();
  const SdAnswer a = answer(f, "/api/v1/sd?port=9100");
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(a.body.find("10.0.0.2"), std::string::npos);  // Standby
  EXPECT_EQ(a.body.find("i-5"), std::string::npos);       // gone
  EXPECT_TRUE(a.body.starts_with(
      R"([{"targets":["10.0.0.1:9100"],"labels":{"__meta_asg_lifecycle_state":"InService",)"))
      << a.body;
  EXPECT_NE(a.body.find("\"__meta_asg_name\":\"web\""), std::string::npos);
  EXPECT_NE(a.body.find("\"__meta_ec2_instance_id\":\"i-1\""), std::string::npos);
  EXPECT_NE(a.body.find("10.0.0.3:9100"), std::string::npos);
  EXPECT_NE(a.body.find("10.0.0.4:9100"), std::string::npos);
}

TEST(SdExportTest, FiltersCombine) {
  const DiscoverySnapshot f = fleet();
  EXPECT_EQ(answer(f, "/api/v1/sd?asg=api").body.find("10.0.0.1"), std::string::npos);
  EXPECT_NE(answer(f, "/api/v1/sd?asg=api&asg=web").body.find("10.0.0.1"), std::string::npos);
  const std::string standby = answer(f, "/api/v1/sd?lifecycle=Standby").body;
  EXPECT_NE(standby.find("\"10.0.0.2\""), std::string::npos);  // no port= : bare address
  EXPECT_EQ(standby.find("10.0.0.1"), std::string::npos);
  const std::string b = answer(f, "/api/v1/sd?zone=us-east-1b&lifecycle=any").body;
  EXPECT_NE(b.find("10.0.0.2"), std::string::npos);
  EXPECT_NE(b.find("10.0.0.3"), std::string::npos);
  EXPECT_EQ(b.find("10.0.0.1"), std::string::npos);
  EXPECT_EQ(b.find("i-5"), std::string::npos);  // `any` is every live one, not the gone
}

TEST(SdExportTest, LoadBalancerSelectsItsGroupsAndPort) {
  const DiscoverySnapshot f = fleet();
  const SdAnswer a = answer(f, "/api/v1/sd?lb=WEB-ALB-1.us-east-1.elb.amazonaws.com.");
  EXPECT_EQ(a.status, 200);
  EXPECT_NE(a.body.find("\"10.0.0.1:9100\""), std::string::npos);
  EXPECT_EQ(a.body.find("10.0.0.3"), std::string::npos);  // api is not behind it
  EXPECT_EQ(a.body.find("10.0.0.4"), std::string::npos);
  EXPECT_NE(answer(f, "/api/v1/sd?lb=web-alb-1.us-east-1.elb.amazonaws.com&port=8080")
                .body.find("10.0.0.1:8080"),
            std::string::npos);
  EXPECT_EQ(answer(f, "/api/v1/sd?lb=web-alb-1.us-east-1.elb.amazonaws.com&asg=api").body, "[]\n");
  EXPECT_EQ(answer(f, "/api/v1/sd?lb=idle-1.us-east-1.elb.amazonaws.com").body, "[]\n");
  const SdAnswer unknown = answer(f, "/api/v1/sd?lb=nope.example");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_NE(unknown.body.find("nope.example"), std::string::npos);
}

TEST(SdExportTest, BadQueriesAreRefusedWithAReason) {
  SdQuery q;
  EXPECT_EQ(parse_sd_query("/api/v1/sd?asgs=web", q).reason(),
            "unknown parameter \"asgs\" (known: asg, zone, lifecycle, port, lb)");
  EXPECT_EQ(parse_sd_query("/api/v1/sd?port=0", q).reason(),
            "port: \"0\" is not a port number (1-65535)");
  EXPECT_FALSE(parse_sd_query("/api/v1/sd?port=65536", q));
  EXPECT_FALSE(parse_sd_query("/api/v1/sd?port=9100x", q));
  EXPECT_EQ(parse_sd_query("/api/v1/sd?asg=", q).reason(), "asg: empty value");
  EXPECT_TRUE(parse_sd_query("/api/v1/sd", q));
  EXPECT_EQ(q.lifecycles, std::vector<std::string>{"InService"});
  EXPECT_TRUE(parse_sd_query("/api/v1/sd?asg=a%20b&", q));
  EXPECT_EQ(q.asgs, std::vector<std::string>{"a b"});
}

TEST(SdExportTest, LifecycleOfAnInstanceInNoGroupFollowsEc2) {
  InstanceRecord r;
  EXPECT_EQ(sd_lifecycle(r), "InService");
  r.ec2_state = "stopping";
  EXPECT_EQ(sd_lifecycle(r), "");
  r.lifecycle_state = "Pending:Wait";
  EXPECT_EQ(sd_lifecycle(r), "Pending:Wait");
}

TEST(SdExportTest, LabelValuesAreJsonEscaped) {
  InstanceRecord r = instance("i-9", "10.0.0.9", "web", "InService");
  r.tags["Name"] = "a \"quoted\"\nname";
  const DiscoverySnapshot f(1, {r});
  EXPECT_NE(answer(f, "/api/v1/sd").body.find(R"("__meta_ec2_tag_Name":"a \"quoted\"\nname")"),
            std::string::npos);
}

}  // namespace
}  // namespace rwgate::discovery
