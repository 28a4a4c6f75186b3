#include "lb/fix.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

namespace rwgate::lb {
namespace {

LbTargetReport target(std::string instance) {
  LbTargetReport r;
  r.job = "node";
  r.instance = std::move(instance);
  return r;
}

// The text is one valid YAML list holding one scrape config, ready to paste.
YAML::Node scrape_config(const std::string& fix) {
  const YAML::Node list = YAML::Load(fix);
  EXPECT_TRUE(list.IsSequence());
  EXPECT_EQ(list.size(), 1u);
  return list[0];
}

TEST(LbFixTest, KnownBalancerGetsAFilledInHttpSdBlock) {
  const discovery::DiscoverySnapshot fleet(1, {}, {},
                                           {{"web-alb",
                                             "web-alb-1.us-east-1.elb.amazonaws.com",
                                             "application",
                                             "us-east-1",
                                             {"web"},
                                             "aws[0]",
                                             "9100"}});
  const FixContext ctx{"http://127.0.0.1:9201", false, &fleet};
  const std::string fix = fix_text(target("web-alb-1.us-east-1.elb.amazonaws.com:80"), ctx);
  const YAML::Node job = scrape_config(fix);
  EXPECT_EQ(job["job_name"].as<std::string>(), "node");
  EXPECT_EQ(job["http_sd_configs"][0]["url"].as<std::string>(),
            "http://127.0.0.1:9201/api/v1/sd?lb=web-alb-1.us-east-1.elb.amazonaws.com&port=9100");
  EXPECT_FALSE(job["ec2_sd_configs"]);
  EXPECT_EQ(fix.find('<'), std::string::npos) << fix;  // no placeholders
  EXPECT_NE(fix.find("#   ec2_sd_configs:"), std::string::npos);
  EXPECT_NE(fix.find("#           values: [web]"), std::string::npos);
}

TEST(LbFixTest, GroupFromTheFlagWhenTheBalancerIsNoLongerListed) {
  LbTargetReport t = target("10.1.2.3:8080");
  t.asg = "api";
  const std::string fix = fix_text(t, {"https://rwgate.internal:9201", true, nullptr});
  const YAML::Node job = scrape_config(fix);
  EXPECT_EQ(job["http_sd_configs"][0]["url"].as<std::string>(),
            "https://rwgate.internal:9201/api/v1/sd?asg=api&port=8080");
  EXPECT_TRUE(job["http_sd_configs"][0]["basic_auth"]);
}

TEST(LbFixTest, UnknownGroupKeepsPlaceholders) {
  const std::string fix =
      fix_text(target("x-1.us-west-2.elb.amazonaws.com:443"), {"http://h:1", false, nullptr});
  const YAML::Node job = scrape_config(fix);
  EXPECT_EQ(job["ec2_sd_configs"][0]["region"].as<std::string>(), "us-west-2");
  EXPECT_EQ(job["ec2_sd_configs"][0]["port"].as<int>(), 443);
  EXPECT_NE(fix.find("<the Auto Scaling group behind the load balancer>"), std::string::npos);
  EXPECT_NE(fix.find("http://h:1/api/v1/sd?asg=<the Auto Scaling group>&port=443"),
            std::string::npos);
  EXPECT_EQ(fix.find("Not on AWS"), std::string::npos);
  EXPECT_NE(fix_text(target("nginx:8080"), {"http://h:1", false, nullptr}).find("Not on AWS"),
            std::string::npos);
}

TEST(LbFixTest, AJobNameFromTheSenderCannotAddLinesToTheConfig) {
  for (const std::string job :
       {"a: b", "x'y", "two\nlines: [1]", "#c", "", "q\"\\", "null", "1", "-x"}) {
    LbTargetReport t = target("10.1.2.3:8080");
    t.job = job;
    t.asg = "api";
    const YAML::Node parsed = scrape_config(fix_text(t, {"http://h:1", false, nullptr}));
    EXPECT_EQ(parsed["job_name"].as<std::string>(), job);
  }
  // Words YAML reads as null, booleans or numbers stay strings for Prometheus.
  LbTargetReport t = target("10.1.2.3:8080");
  t.job = "null";
  EXPECT_NE(fix_text(t, {"http://h:1", false, nullptr}).find("- job_name: 'null'\n"),
            std::string::npos);
}

}  // namespace
}  // namespace rwgate::lb
