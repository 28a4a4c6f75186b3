#include "base/net.h"

#include <gtest/gtest.h>

namespace rwgate::net {
namespace {

TEST(SplitHostPortTest, SplitsHostAndPort) {
  HostPort hp = split_host_port("10.0.0.1:9100");
  EXPECT_EQ(hp.host, "10.0.0.1");
  EXPECT_EQ(hp.port, "9100");
  EXPECT_TRUE(hp.has_port);
  EXPECT_TRUE(hp.ok);
  hp = split_host_port("ip-10-0-0-1.ec2.internal:9100");
  EXPECT_EQ(hp.host, "ip-10-0-0-1.ec2.internal");
  EXPECT_EQ(hp.port, "9100");
}

TEST(SplitHostPortTest, BracketedIpv6HasAPort) {
  HostPort hp = split_host_port("[fe80::1]:9100");
  EXPECT_EQ(hp.host, "fe80::1");
  EXPECT_EQ(hp.port, "9100");
  EXPECT_TRUE(hp.has_port);
  hp = split_host_port("[fe80::1]");
  EXPECT_EQ(hp.host, "fe80::1");
  EXPECT_FALSE(hp.has_port);
  EXPECT_TRUE(hp.ok);
}

TEST(SplitHostPortTest, UnbracketedIpv6HasNoPort) {
  const HostPort hp = split_host_port("fe80::1");
  EXPECT_EQ(hp.host, "fe80::1");
  EXPECT_EQ(hp.port, "");
  EXPECT_FALSE(hp.has_port);
  EXPECT_TRUE(hp.ok);
}

TEST(SplitHostPortTest, BareHostAndEmptyPort) {
  HostPort hp = split_host_port("host");
  EXPECT_EQ(hp.host, "host");
  EXPECT_FALSE(hp.has_port);
  hp = split_host_port("host:");
  EXPECT_EQ(hp.host, "host");
  EXPECT_TRUE(hp.has_port);
  EXPECT_EQ(hp.port, "");
  hp = split_host_port(":9201");
  EXPECT_EQ(hp.host, "");
  EXPECT_EQ(hp.port, "9201");
}

TEST(SplitHostPortTest, MalformedBracketsAreNotOk) {
  HostPort hp = split_host_port("[fe80::1");
  EXPECT_FALSE(hp.ok);
  EXPECT_EQ(hp.host, "[fe80::1");
  hp = split_host_port("[fe80::1]9100");
  EXPECT_FALSE(hp.ok);
  EXPECT_EQ(hp.host, "fe80::1");
}

TEST(HostOfTest, StripsThePort) {
  EXPECT_EQ(host_of("10.0.0.1:9100"), "10.0.0.1");
  EXPECT_EQ(host_of("ip-10-0-0-1.ec2.internal:9100"), "ip-10-0-0-1.ec2.internal");
  EXPECT_EQ(host_of("[fe80::1]:9100"), "fe80::1");
  EXPECT_EQ(host_of("fe80::1"), "fe80::1");
  EXPECT_EQ(host_of("host"), "host");
  EXPECT_EQ(host_of(""), "");
  EXPECT_EQ(host_of("[fe80::1"), "[fe80::1");
}

TEST(JoinHostPortTest, BracketsIpv6) {
  EXPECT_EQ(join_host_port("10.0.0.1", "9100"), "10.0.0.1:9100");
  EXPECT_EQ(join_host_port("fe80::1", "9100"), "[fe80::1]:9100");
  EXPECT_EQ(join_host_port("fe80::1", ""), "[fe80::1]");
  EXPECT_EQ(join_host_port("host", ""), "host");
}

TEST(CanonicalDnsNameTest, LowerCaseWithoutTrailingDot) {
  EXPECT_EQ(canonical_dns_name("Web-1.ELB.amazonaws.com."), "web-1.elb.amazonaws.com");
  EXPECT_EQ(canonical_dns_name("host"), "host");
}

TEST(ParseUrlTest, HostPortAndTarget) {
  std::string why;
  std::optional<Url> u = parse_url("http://127.0.0.1:8428/api/v1/write?x=1", why);
  ASSERT_TRUE(u) << why;
  EXPECT_EQ(u->scheme, "http");
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, "8428");
  EXPECT_EQ(u->target, "/api/v1/write?x=1");
  EXPECT_EQ(u->text, "http://127.0.0.1:8428/api/v1/write?x=1");
  u = parse_url("http://[fe80::1]:9100", why);
  ASSERT_TRUE(u) << why;
  EXPECT_EQ(u->host, "fe80::1");
  EXPECT_EQ(u->port, "9100");
  EXPECT_EQ(u->target, "/");
}

TEST(ParseUrlTest, PortDefaultsFromTheScheme) {
  std::string why;
  std::optional<Url> u = parse_url("http://store/push", why);
  ASSERT_TRUE(u) << why;
  EXPECT_EQ(u->port, "80");
  u = parse_url("https://ec2.us-east-1.amazonaws.com", why, Schemes::kHttpOrHttps);
  ASSERT_TRUE(u) << why;
  EXPECT_EQ(u->scheme, "https");
  EXPECT_EQ(u->port, "443");
  // Unbracketed IPv6: no port in it.
  u = parse_url("http://fe80::1/x", why);
  ASSERT_TRUE(u) << why;
  EXPECT_EQ(u->host, "fe80::1");
  EXPECT_EQ(u->port, "80");
}

TEST(ParseUrlTest, SchemesAndTheirMessages) {
  std::string why;
  EXPECT_FALSE(parse_url("https://h/", why));
  EXPECT_EQ(why, "scheme \"https\" is not supported (use http)");
  EXPECT_FALSE(parse_url("ftp://h/", why, Schemes::kHttpOrHttps));
  EXPECT_EQ(why, "scheme \"ftp\" is not supported (use http or https)");
  EXPECT_FALSE(parse_url("localhost:8428", why));
  EXPECT_EQ(why, "must be an absolute URL like http://host:port/path");
  EXPECT_FALSE(parse_url("nohost", why, Schemes::kHttpOrHttps));
  EXPECT_EQ(why, "must be an absolute URL like https://host[:port]");
}

TEST(ParseUrlTest, RejectsWhatItCannotSendTo) {
  std::string why;
  EXPECT_FALSE(parse_url("http://:80/", why));
  EXPECT_EQ(why, "has no host");
  EXPECT_FALSE(parse_url("http://h:/w", why));
  EXPECT_EQ(why, "empty port");
  EXPECT_FALSE(parse_url("http://h:99999/", why));
  EXPECT_EQ(why, "bad port \"99999\"");
  EXPECT_FALSE(parse_url("http://h:0/", why));
  EXPECT_FALSE(parse_url("http://h:8x/", why));
  EXPECT_FALSE(parse_url("http://user:pw@h/", why));
  EXPECT_EQ(why, "credentials in the URL are not supported; use headers");
  EXPECT_FALSE(parse_url("http://[fe80::1/", why));
  EXPECT_EQ(why, "unterminated IPv6 address");
  EXPECT_FALSE(parse_url("http://[fe80::1]9100/", why));
  EXPECT_EQ(why, "bad port \"9100\"");
}

}  // namespace
}  // namespace rwgate::net

namespace rwgate::net {
namespace {

TEST(QueryParamTest, DecodesFormEncodingAndFindsTheNamedParameter) {
  EXPECT_EQ(query_param("/trace?labels=%7B%22a%22%3A%22b+c%22%7D&x=1", "labels"),
            std::optional<std::string>("{\"a\":\"b c\"}"));
  EXPECT_EQ(query_param("/trace?x=1&labels=", "labels"), std::optional<std::string>(""));
  EXPECT_EQ(query_param("/trace?x=1&labels", "labels"), std::optional<std::string>(""));
  EXPECT_EQ(query_param("/trace?xlabels=1", "labels"), std::nullopt);
  EXPECT_EQ(query_param("/trace", "labels"), std::nullopt);
  EXPECT_EQ(query_param("/t?a=%zz%4", "a"), std::optional<std::string>("%zz%4"));  // kept
}

}  // namespace
}  // namespace rwgate::net
