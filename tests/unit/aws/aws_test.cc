// SigV4 against AWS's published test suite vectors, the XML reader on AWS's answer
// shapes and on bad input, and the bits of the client that need no network.
#include <gtest/gtest.h>

#include <chrono>

#include "aws/client.h"
#include "aws/sigv4.h"
#include "aws/xml.h"
#include "base/net.h"

namespace rwgate::aws {
namespace {

// The suite's fixed inputs: 2015-08-30T12:36:00Z, us-east-1, service "service".
const Credentials kExample{
    "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "", {}, "test"};
const auto kWhen = std::chrono::system_clock::from_time_t(1440938160);

std::string signature_of(const SignInput& in) {
  const SignOutput out = sign_v4(kExample, "us-east-1", "service", in, kWhen);
  return out.authorization.substr(out.authorization.find("Signature=") + 10);
}

TEST(SigV4Test, MatchesThePublishedTestSuite) {
  SignInput in;
  in.host = "example.amazonaws.com";
  in.method = "GET";
  const SignOutput out = sign_v4(kExample, "us-east-1", "service", in, kWhen);
  EXPECT_EQ(out.amz_date, "20150830T123600Z");
  // get-vanilla
  EXPECT_EQ(out.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
            "SignedHeaders=host;x-amz-date, "
            "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
  // get-vanilla-query-order-key-case: parameters sorted before signing.
  in.query = "Param2=value2&Param1=value1";
  EXPECT_EQ(signature_of(in), "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500");
  // post-vanilla
  in.query.clear();
  in.method = "POST";
  EXPECT_EQ(signature_of(in), "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b");
}

TEST(SigV4Test, CanonicalRequestHasTheDocumentedShape) {
  SignInput in;
  in.host = "autoscaling.us-east-1.amazonaws.com";
  in.headers = {{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}};
  in.body = "Action=DescribeAutoScalingGroups&Version=2011-01-01";
  Credentials temp = kExample;
  temp.session_token = "token";
  const SignOutput out = sign_v4(temp, "us-east-1", "autoscaling", in, kWhen);
  EXPECT_EQ(out.canonical_request,
            "POST\n/\n\n"
            "content-type:application/x-www-form-urlencoded; charset=utf-8\n"
            "host:autoscaling.us-east-1.amazonaws.com\n"
            "x-amz-date:20150830T123600Z\n"
            "x-amz-security-token:token\n\n"
            "content-type;host;x-amz-date;x-amz-security-token\n" +
                sha256_hex(in.body));
  EXPECT_EQ(out.string_to_sign.substr(0, out.string_to_sign.rfind('\n')),
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/autoscaling/aws4_request");
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(SigV4Test, UriEncodingIsRfc3986) {
  EXPECT_EQ(net::percent_encode("aZ09-_.~"), "aZ09-_.~");
  EXPECT_EQ(net::percent_encode("a b+c/d=é"), "a%20b%2Bc%2Fd%3D%C3%A9");
  EXPECT_EQ(net::percent_encode("/a b/", true), "/a%20b/");
}

TEST(AwsXmlTest, ReadsAnAutoScalingAnswer) {
  const char* kXml = R"(<?xml version="1.0" encoding="UTF-8"?>
<DescribeAutoScalingGroupsResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/">
  <DescribeAutoScalingGroupsResult>
    <AutoScalingGroups>
      <member>
        <AutoScalingGroupName>web &amp; api</AutoScalingGroupName>
        <Instances>
          <member><InstanceId>i-1</InstanceId><LifecycleState>Terminating:Wait</LifecycleState></member>
          <member><InstanceId>i-2</InstanceId><LifecycleState><![CDATA[InService]]></LifecycleState></member>
        </Instances>
      </member>
    </AutoScalingGroups>
    <NextToken>abc</NextToken>
  </DescribeAutoScalingGroupsResult>
</DescribeAutoScalingGroupsResponse>)";
  std::string error;
  auto doc = parse_xml(kXml, error);
  ASSERT_NE(doc, nullptr) << error;
  EXPECT_EQ(doc->name, "DescribeAutoScalingGroupsResponse");
  const XmlNode* groups = doc->find({"DescribeAutoScalingGroupsResult", "AutoScalingGroups"});
  ASSERT_NE(groups, nullptr);
  const auto members = groups->all("member");
  ASSERT_EQ(members.size(), 1u);
  EXPECT_EQ(members[0]->child_text("AutoScalingGroupName"), "web & api");
  const auto instances = members[0]->child("Instances")->all("member");
  ASSERT_EQ(instances.size(), 2u);
  EXPECT_EQ(instances[0]->child_text("LifecycleState"), "Terminating:Wait");
  EXPECT_EQ(instances[1]->child_text("LifecycleState"), "InService");
  EXPECT_EQ(doc->find({"DescribeAutoScalingGroupsResult"})->child_text("NextToken"), "abc");
}

TEST(AwsXmlTest, RefusesBadInputWithAReason) {
  std::string error;
  EXPECT_EQ(parse_xml("<a><b></a>", error), nullptr);
  EXPECT_NE(error.find("malformed XML at line 1"), std::string::npos) << error;
  EXPECT_EQ(parse_xml("", error), nullptr);
  std::string deep;
  for (int i = 0; i < 100; ++i) deep += "<x>";
  EXPECT_EQ(parse_xml(deep, error), nullptr);
  EXPECT_NE(error.find("deeper than 64"), std::string::npos) << error;
  // Entity expansion bombs are refused by expat's amplification limit.
  const char* kBomb = R"(<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">
<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
<!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;"><!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;">
<!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;"><!ENTITY g "&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;">
<!ENTITY h "&g;&g;&g;&g;&g;&g;&g;&g;&g;&g;">]><l>&h;</l>)";
  EXPECT_EQ(parse_xml(kBomb, error), nullptr);
}

TEST(AwsClientTest, ApiErrorsAreClassified) {
  EXPECT_TRUE((ApiError{400, "Throttling", ""}.throttled()));
  EXPECT_TRUE((ApiError{503, "RequestLimitExceeded", ""}.throttled()));
  EXPECT_TRUE((ApiError{429, "", ""}.throttled()));
  EXPECT_FALSE((ApiError{400, "ValidationError", ""}.throttled()));
  EXPECT_TRUE((ApiError{403, "SignatureDoesNotMatch", ""}.auth()));
  EXPECT_TRUE((ApiError{401, "AuthFailure", ""}.auth()));
  EXPECT_FALSE((ApiError{400, "ValidationError", ""}.auth()));
}

TEST(AwsClientTest, FormBodiesAndUrls) {
  EXPECT_EQ(form_body("DescribeInstances", "2016-11-15",
                      {{"Filter.1.Name", "instance-id"}, {"Filter.1.Value.1", "i-1 2"}}),
            "Action=DescribeInstances&Version=2016-11-15&Filter.1.Name=instance-id&"
            "Filter.1.Value.1=i-1%202");
  // AWS endpoints are parsed by base/net.h; what the client relies on:
  std::string why;
  constexpr auto kAws = net::Schemes::kHttpOrHttps;
  std::optional<net::Url> u = net::parse_url("https://ec2.us-east-1.amazonaws.com", why, kAws);
  ASSERT_TRUE(u);
  EXPECT_EQ(u->port, "443");
  EXPECT_EQ(u->target, "/");
  u = net::parse_url("http://127.0.0.1:8080/x", why, kAws);
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, "8080");
  EXPECT_FALSE(net::parse_url("ftp://x", why, kAws));
  EXPECT_FALSE(net::parse_url("nohost", why, kAws));
}

}  // namespace
}  // namespace rwgate::aws
