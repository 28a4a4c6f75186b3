// The tenant stage: a label (the first of the list present, with a prefix, optionally
// removed), else the authenticated sender (through senders:), else the default; a series
// with no tenant or an invalid one refuses its request; the tenants are bounded.
#include "pipeline/tenancy.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "base/yaml_reader.h"
#include "tests/unit/pipeline/label_batch.h"

namespace rwgate::pipeline {
namespace {

using testing::TestBatch;
using Labels = std::map<std::string, std::string>;

TenancyConfig by_label() {
  TenancyConfig c;
  c.enabled = true;
  c.labels = {"team", "tenant"};
  return c;
}

// The tenant names of `b`'s series, in order ("" for none).
std::vector<std::string> tenants_of(const TestBatch& b, const sinks::TenantNames& names) {
  std::vector<std::string> out;
  for (const proto::Series& s : b.batch.series) out.push_back(names.name(s.tenant));
  return out;
}

TEST(TenancyTest, TheFirstLabelOfTheListPresentWins) {
  sinks::TenantNames names;
  TenantResolver resolver;
  TestBatch b({{{"__name__", "up"}, {"team", "a"}, {"tenant", "z"}},
               {{"__name__", "up"}, {"tenant", "z"}},
               {{"__name__", "up"}, {"team", ""}, {"tenant", "y"}},  // empty = absent
               {{"__name__", "up"}, {"team", "a"}}});
  EXPECT_FALSE(resolver.resolve(by_label(), names, "", b.batch).has_value());
  EXPECT_EQ(tenants_of(b, names), (std::vector<std::string>{"a", "z", "y", "a"}));
  EXPECT_EQ(names.size(), 3u);
  EXPECT_EQ(b.batch.series[0].raw_labels, "raw");  // kept: nothing removed
}

TEST(TenancyTest, APrefixAndLabelRemove) {
  sinks::TenantNames names;
  TenantResolver resolver;
  TenancyConfig c = by_label();
  c.prefix = "org-";
  c.label_remove = true;
  TestBatch b({{{"__name__", "up"}, {"job", "n"}, {"team", "a"}}, {{"__name__", "up"}}});
  c.default_tenant = "fallback";
  ASSERT_FALSE(resolver.resolve(c, names, "", b.batch).has_value());
  EXPECT_EQ(tenants_of(b, names), (std::vector<std::string>{"org-a", "fallback"}));
  EXPECT_EQ(b.series(),
            (std::vector<Labels>{{{"__name__", "up"}, {"job", "n"}}, {{"__name__", "up"}}}));
  EXPECT_TRUE(b.batch.series[0].raw_labels.empty());
  EXPECT_EQ(b.batch.series[1].raw_labels, "raw");
}

TEST(TenancyTest, TheSenderThroughItsMapElseTheDefault) {
  sinks::TenantNames names;
  TenantResolver resolver;
  TenancyConfig c = by_label();
  c.from_sender = true;
  c.senders = {{"alice", "team-alice"}};
  c.default_tenant = "shared";
  auto tenant = [&](std::string_view sender) {
    TestBatch b({{{"__name__", "up"}}, {{"__name__", "up"}, {"team", "by-label"}}});
    EXPECT_FALSE(resolver.resolve(c, names, sender, b.batch).has_value());
    return tenants_of(b, names);
  };
  EXPECT_EQ(tenant("alice"), (std::vector<std::string>{"team-alice", "by-label"}));
  EXPECT_EQ(tenant("bob"), (std::vector<std::string>{"shared", "by-label"}));  // no entry
  EXPECT_EQ(tenant(""), (std::vector<std::string>{"shared", "by-label"}));
}

TEST(TenancyTest, ASeriesWithoutATenantRefusesTheRequestWithItsLabels) {
  sinks::TenantNames names;
  TenantResolver resolver;
  TestBatch b({{{"__name__", "up"}, {"team", "a"}}, {{"__name__", "up"}, {"job", "x\"y"}}});
  const auto r = resolver.resolve(by_label(), names, "", b.batch);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->kind, TenantRefusal::Kind::kMissing);
  EXPECT_EQ(r->message,
            "series {__name__=\"up\", job=\"x\\\"y\"} has no tenant: no tenant label, no "
            "tenancy.default");
}

TEST(TenancyTest, AnInvalidTenantNameIsRefusedWithWhy) {
  sinks::TenantNames names;
  TenantResolver resolver;
  TestBatch b(std::vector<Labels>{{{"__name__", "up"}, {"team", "a/b"}}});
  const auto r = resolver.resolve(by_label(), names, "", b.batch);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->kind, TenantRefusal::Kind::kInvalid);
  EXPECT_EQ(r->message,
            "tenant name \"a/b\" has '/'; allowed are A-Z a-z 0-9 and !-_.*'() (from label "
            "team): series {__name__=\"up\", team=\"a/b\"}");
  EXPECT_EQ(names.size(), 0u);
}

TEST(TenancyTest, TenantNamesFollowMimirsRule) {
  EXPECT_EQ(tenant_name_problem("team-a_1.prod!*'()"), "");
  EXPECT_NE(tenant_name_problem(""), "");
  EXPECT_NE(tenant_name_problem("."), "");
  EXPECT_NE(tenant_name_problem(".."), "");
  EXPECT_EQ(tenant_name_problem("..."), "");
  EXPECT_NE(tenant_name_problem("a|b"), "");
  EXPECT_NE(tenant_name_problem("a b"), "");
  EXPECT_NE(tenant_name_problem("caf\xc3\xa9"), "");
  EXPECT_EQ(tenant_name_problem(std::string(150, 'a')), "");
  EXPECT_NE(tenant_name_problem(std::string(151, 'a')), "");
  EXPECT_EQ(tenant_name_problem("a\nb"),
            "tenant name \"a\\nb\" has byte 0x0a; allowed are A-Z "
            "a-z 0-9 and !-_.*'()");
}

TEST(TenancyTest, OneTenantTooManyIsRefused) {
  sinks::TenantNames names;
  TenantResolver resolver;
  TenancyConfig c = by_label();
  c.max_tenants = 2;
  TestBatch ok(std::vector<Labels>{{{"team", "a"}}, {{"team", "b"}}});
  ASSERT_FALSE(resolver.resolve(c, names, "", ok.batch).has_value());
  TestBatch over(std::vector<Labels>{{{"team", "a"}}, {{"team", "c"}}});
  const auto r = resolver.resolve(c, names, "", over.batch);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->kind, TenantRefusal::Kind::kTooMany);
  EXPECT_NE(r->message.find("tenancy.max_tenants (2)"), std::string::npos) << r->message;
  // Another worker's resolver sees the same registry.
  TenantResolver other;
  TestBatch known(std::vector<Labels>{{{"team", "b"}}});
  EXPECT_FALSE(other.resolve(c, names, "", known.batch).has_value());
  EXPECT_EQ(known.batch.series[0].tenant, 2u);
}

TEST(TenancyTest, ConfigErrorsNameTheirKey) {
  auto errors = [](const std::string& text) {
    std::vector<std::string> errs;
    yaml::Reader r(errs);
    TenancyConfig c;
    read_tenancy(r, YAML::Load(text), c);
    return errs;
  };
  EXPECT_TRUE(errors("{label: team}").empty());
  EXPECT_TRUE(errors("{from_sender: true, senders: {alice: a}, default: d}").empty());
  auto one = [&](const std::string& text, const std::string& path) {
    const auto e = errors(text);
    ASSERT_EQ(e.size(), 1u) << text;
    EXPECT_NE(e[0].find(path), std::string::npos) << e[0];
  };
  one("{}", "tenancy");
  one("{label: a, label_list: [b]}", "tenancy.label_list");
  one("{label: __name__}", "tenancy.label");
  one("{default: a/b}", "tenancy.default");
  one("{label: a, senders: {alice: x}}", "tenancy.senders");
  one("{from_sender: true, senders: {alice: 'x y'}}", "tenancy.senders.alice");
  one("{label: a, max_tenants: 0}", "tenancy.max_tenants");
  one("{label: a, from_sender: true}", "tenancy.from_sender");
  one("{label: a, typo: 1}", "tenancy");
}

}  // namespace
}  // namespace rwgate::pipeline
