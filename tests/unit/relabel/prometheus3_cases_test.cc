// Prometheus 3's own relabel test table (model/relabel/relabel_test.go: TestRelabel,
// TestRelabelValidate, TestTargetLabelLegacyValidity), case for case, written here as the
// YAML a user would paste: our code, their cases. TestRelabel runs under utf8 name
// validation, as upstream's harness sets it; the validation cases say their scheme.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <map>
#include <string>
#include <vector>

#include "relabel/rule.h"

namespace rwgate::relabel {
namespace {

using LabelMap = std::map<std::string, std::string>;

struct Case {
  const char* name;
  LabelMap input;
  const char* rules;  // a YAML list of relabel_config
  bool kept;
  LabelMap output;  // when kept
};

const LabelMap kABC = {{"a", "foo"}, {"b", "bar"}, {"c", "baz"}};
const LabelMap kLines = {{"a", "line1\nline2"}, {"b", "bar"}, {"c", "baz"}};
const LabelMap kPorts = {{"__tmp_port", "1234"}, {"__port1", "1234"}, {"__port2", "5678"}};

LabelMap with(LabelMap base, const LabelMap& more) {
  for (const auto& [k, v] : more) base[k] = v;
  return base;
}

const std::vector<Case>& cases() {
  static const std::vector<Case> k = {
      {"1 replace with ${1}", kABC,
       "[{source_labels: [a], regex: 'f(.*)', target_label: d, replacement: 'ch${1}-ch${1}'}]",
       true, with(kABC, {{"d", "choo-choo"}})},
      {"2 rules see earlier results",
       kABC,
       "[{source_labels: [a, b], regex: 'f(.*);(.*)r', target_label: a, replacement: "
       "'b${1}${2}m'},"
       " {source_labels: [c, a], regex: '(b).*b(.*)ba(.*)', target_label: d, replacement: "
       "'$1$2$2$3'}]",
       true,
       {{"a", "boobam"}, {"b", "bar"}, {"c", "baz"}, {"d", "boooom"}}},
      {"3 drop stops the rules",
       {{"a", "foo"}},
       "[{source_labels: [a], regex: '.*o.*', action: drop},"
       " {source_labels: [a], regex: 'f(.*)', target_label: d, replacement: 'ch$1-ch$1'}]",
       false,
       {}},
      {"4 drop",
       {{"a", "foo"}, {"b", "bar"}},
       "[{source_labels: [a], regex: '.*o.*', action: drop}]",
       false,
       {}},
      {"5 group in the middle",
       {{"a", "abc"}},
       "[{source_labels: [a], regex: '.*(b).*', target_label: d, replacement: '$1'}]",
       true,
       {{"a", "abc"}, {"d", "b"}}},
      {"6 drop without a match",
       {{"a", "foo"}},
       "[{source_labels: [a], regex: no-match, action: drop}]",
       true,
       {{"a", "foo"}}},
      {"7 the regex is anchored",
       {{"a", "foo"}},
       "[{source_labels: [a], regex: 'f|o', action: drop}]",
       true,
       {{"a", "foo"}}},
      {"8 keep without a match",
       {{"a", "foo"}},
       "[{source_labels: [a], regex: no-match, action: keep}]",
       false,
       {}},
      {"9 keep",
       {{"a", "foo"}},
       "[{source_labels: [a], regex: 'f.*', action: keep}]",
       true,
       {{"a", "foo"}}},
      {"10 no match, no replacement",
       {{"a", "boo"}},
       "[{source_labels: [a], regex: f, target_label: b, replacement: bar}]",
       true,
       {{"a", "boo"}}},
      {"11 an empty replacement deletes the expanded target",
       {{"a", "foo"}, {"f", "baz"}},
       "[{source_labels: [a], regex: '(f).*', target_label: '$1', replacement: '$2'}]",
       true,
       {{"a", "foo"}}},
      {"12 hashmod", kABC,
       "[{source_labels: [c], target_label: d, action: hashmod, modulus: 1000}]", true,
       with(kABC, {{"d", "976"}})},
      {"13 hashmod over a newline",
       {{"a", "foo\nbar"}},
       "[{source_labels: [a], target_label: b, action: hashmod, modulus: 1000}]",
       true,
       {{"a", "foo\nbar"}, {"b", "734"}}},
      {"14 labelmap",
       {{"a", "foo"}, {"b1", "bar"}, {"b2", "baz"}},
       "[{regex: '(b.*)', replacement: 'bar_${1}', action: labelmap}]",
       true,
       {{"a", "foo"}, {"b1", "bar"}, {"b2", "baz"}, {"bar_b1", "bar"}, {"bar_b2", "baz"}}},
      {"15 labelmap of meta labels",
       {{"a", "foo"}, {"__meta_my_bar", "aaa"}, {"__meta_my_baz", "bbb"}, {"__meta_other", "ccc"}},
       "[{regex: '__meta_(my.*)', replacement: '${1}', action: labelmap}]",
       true,
       {{"a", "foo"},
        {"__meta_my_bar", "aaa"},
        {"__meta_my_baz", "bbb"},
        {"__meta_other", "ccc"},
        {"my_bar", "aaa"},
        {"my_baz", "bbb"}}},
      {"16 target from a group",
       {{"a", "some-name-value"}},
       "[{source_labels: [a], regex: 'some-([^-]+)-([^,]+)', target_label: '${1}', replacement: "
       "'${2}'}]",
       true,
       {{"a", "some-name-value"}, {"name", "value"}}},
      {"17 a missing group is empty",
       {{"a", "some-name-value"}},
       "[{source_labels: [a], regex: 'some-([^-]+)-([^,]+)', target_label: '${1}', replacement: "
       "'${3}'}]",
       true,
       {{"a", "some-name-value"}}},
      {"18 an empty expanded target skips the rule",
       {{"a", "some-name-0"}},
       "[{source_labels: [a], regex: 'some-([^-]+)-([^,]+)', target_label: '${3}', replacement: "
       "'${1}'},"
       " {source_labels: [a], regex: 'some-([^-]+)-([^,]+)', target_label: '${3}', replacement: "
       "'${1}'},"
       " {source_labels: [a], regex: 'some-([^-]+)(-[^,]+)', target_label: '${3}', replacement: "
       "'${1}'}]",
       true,
       {{"a", "some-name-0"}}},
      {"19 tags into labels",
       {{"__meta_sd_tags", "path:/secret,job:some-job,label:foo=bar"}},
       "[{source_labels: [__meta_sd_tags], regex: '(?:.+,|^)path:(/[^,]+).*', target_label: "
       "__metrics_path__, replacement: '${1}'},"
       " {source_labels: [__meta_sd_tags], regex: '(?:.+,|^)job:([^,]+).*', target_label: job, "
       "replacement: '${1}'},"
       " {source_labels: [__meta_sd_tags], regex: '(?:.+,|^)label:([^=]+)=([^,]+).*', "
       "target_label: '${1}', replacement: '${2}'}]",
       true,
       {{"__meta_sd_tags", "path:/secret,job:some-job,label:foo=bar"},
        {"__metrics_path__", "/secret"},
        {"job", "some-job"},
        {"foo", "bar"}}},
      {"20 set after delete",
       {{"__meta_kubernetes_pod_container_port_name", "foo"},
        {"__meta_kubernetes_pod_annotation_XXX_metrics_port", "9091"}},
       "[{regex: '^__meta_kubernetes_pod_container_port_name$', action: labeldrop},"
       " {source_labels: [__meta_kubernetes_pod_annotation_XXX_metrics_port], regex: '(.+)', "
       "target_label: __meta_kubernetes_pod_container_port_name, replacement: metrics},"
       " {source_labels: [__meta_kubernetes_pod_container_port_name], regex: '^metrics$', "
       "action: keep}]",
       true,
       {{"__meta_kubernetes_pod_annotation_XXX_metrics_port", "9091"},
        {"__meta_kubernetes_pod_container_port_name", "metrics"}}},
      {"21 labelkeep",
       {{"a", "foo"}, {"b1", "bar"}, {"b2", "baz"}},
       "[{regex: '(b.*)', action: labelkeep}]",
       true,
       {{"b1", "bar"}, {"b2", "baz"}}},
      {"22 labeldrop",
       {{"a", "foo"}, {"b1", "bar"}, {"b2", "baz"}},
       "[{regex: '(b.*)', action: labeldrop}]",
       true,
       {{"a", "foo"}}},
      {"23 upper and lower case",
       {{"foo", "bAr123Foo"}},
       "[{source_labels: [foo], target_label: foo_uppercase, action: uppercase},"
       " {source_labels: [foo], target_label: foo_lowercase, action: lowercase}]",
       true,
       {{"foo", "bAr123Foo"}, {"foo_lowercase", "bar123foo"}, {"foo_uppercase", "BAR123FOO"}}},
      {"24 keepequal, equal", kPorts,
       "[{source_labels: [__tmp_port], target_label: __port1, action: keepequal}]", true, kPorts},
      {"25 dropequal, equal",
       kPorts,
       "[{source_labels: [__tmp_port], target_label: __port1, action: dropequal}]",
       false,
       {}},
      {"26 dropequal, not equal", kPorts,
       "[{source_labels: [__tmp_port], target_label: __port2, action: dropequal}]", true, kPorts},
      {"27 keepequal, not equal",
       kPorts,
       "[{source_labels: [__tmp_port], target_label: __port2, action: keepequal}]",
       false,
       {}},
      {"28 dot matches a newline", kLines,
       "[{source_labels: [a], regex: 'line1.*line2', target_label: d, replacement: "
       "'match${1}'}]",
       true, with(kLines, {{"d", "match"}})},
      {"29 a UTF-8 source label",
       {{"utf-8.label", "line1\nline2"}, {"b", "bar"}, {"c", "baz"}},
       "[{source_labels: [utf-8.label], regex: 'line1.*line2', target_label: d, replacement: "
       "'match${1}'}]",
       true,
       {{"utf-8.label", "line1\nline2"}, {"b", "bar"}, {"c", "baz"}, {"d", "match"}}},
      {"30 a UTF-8 target label", kLines,
       "[{source_labels: [a], regex: 'line1.*line2', target_label: utf-8.label, replacement: "
       "'match${1}'}]",
       true, with(kLines, {{"utf-8.label", "match"}})},
      {"31 a UTF-8 target label with a reference", kLines,
       "[{source_labels: [a], regex: 'line1.*line2', target_label: 'utf-8.label${1}', "
       "replacement: 'match${1}'}]",
       true, with(kLines, {{"utf-8.label", "match"}})},
      {"32 Go's named groups", kLines,
       "[{source_labels: [a], regex: '(line1).*(?<second>line2)', target_label: 'label1_${1}', "
       "replacement: 'val_${second}'},"
       " {source_labels: [a], regex: '(line1).*(?<second>line2)', target_label: 'label2_$1', "
       "replacement: 'val_$second'}]",
       true, with(kLines, {{"label1_line1", "val_line2"}, {"label2_line1", "val_line2"}})},
      {"33 __type__",
       {{"__name__", "http_requests_total"}},
       "[{source_labels: [__name__], regex: '.*_total$', target_label: __type__, replacement: "
       "counter}]",
       true,
       {{"__name__", "http_requests_total"}, {"__type__", "counter"}}},
      {"34 __unit__",
       {{"__name__", "disk_usage_bytes"}},
       "[{source_labels: [__name__], regex: '.*_bytes$', target_label: __unit__, replacement: "
       "bytes}]",
       true,
       {{"__name__", "disk_usage_bytes"}, {"__unit__", "bytes"}}},
  };
  return k;
}

TEST(Prometheus3RelabelTest, EveryCaseOfTestRelabel) {
  for (const Case& c : cases()) {
    std::vector<std::string> errors;
    const auto rules = parse_rules(YAML::Load(c.rules), "rules", errors, NameValidation::kUtf8);
    ASSERT_TRUE(errors.empty()) << c.name << ": " << errors.front();
    std::vector<proto::Label> base;
    for (const auto& [k, v] : c.input) base.push_back(proto::Label{k, v});
    LabelBuilder b;
    b.reset(base);
    const bool kept = process(rules, b);
    EXPECT_EQ(kept, c.kept) << c.name;
    if (!kept || !c.kept) continue;
    std::vector<proto::Label> out;
    b.labels(out);
    LabelMap got;
    for (const auto& l : out) got[std::string(l.name)] = std::string(l.value);
    EXPECT_EQ(got, c.output) << c.name;
  }
}

std::string first_error(const std::string& yaml, NameValidation names) {
  std::vector<std::string> errors;
  parse_rules(YAML::Load(yaml), "rules", errors, names);
  return errors.empty() ? "" : errors.front();
}

TEST(Prometheus3RelabelTest, EveryCaseOfTestRelabelValidate) {
  const auto utf8 = NameValidation::kUtf8;
  const auto legacy = NameValidation::kLegacy;
  // 0: an empty action (YAML null: a pasted `action:`).
  EXPECT_NE(
      first_error("[{action: null, target_label: x}]", utf8).find("relabel action cannot be empty"),
      std::string::npos);
  EXPECT_NE(first_error("[{action: replace}]", utf8).find("requires 'target_label' value"),
            std::string::npos);  // 1
  EXPECT_NE(first_error("[{action: lowercase}]", utf8).find("requires 'target_label' value"),
            std::string::npos);  // 2
  EXPECT_EQ(first_error("[{action: lowercase, replacement: '$1', target_label: '${3}'}]", utf8),
            "");  // 3: a literal UTF-8 name
  EXPECT_NE(first_error("[{action: lowercase, replacement: '$1', target_label: '${3}'}]", legacy)
                .find("\"${3}\" is invalid 'target_label' for lowercase action"),
            std::string::npos);                            // 4
  for (const char* target : {"${3}", "0${3}", "-${3}"}) {  // 5, 6, 7
    EXPECT_EQ(first_error(std::string("[{source_labels: [a], regex: 'some-([^-]+)-([^,]+)', "
                                      "replacement: '${1}', target_label: '") +
                              target + "'}]",
                          utf8),
              "")
        << target;
  }
  EXPECT_EQ(first_error("[{action: labelmap, regex: '__meta_kubernetes_pod_label_(strimzi_io_.+)',"
                        " replacement: '$1'}]",
                        legacy),
            "");  // 8
  EXPECT_EQ(first_error("[{action: labelmap, regex: '__meta_(.+)', replacement: '${1}'}]", legacy),
            "");  // 9
  // Derived from the same rules.
  EXPECT_NE(first_error("[{target_label: utf-8.label}]", legacy)
                .find("\"utf-8.label\" is invalid 'target_label' for replace action"),
            std::string::npos);
  EXPECT_NE(first_error("[{action: labelmap, replacement: ''}]", utf8)
                .find("\"\" is invalid 'replacement' for labelmap action"),
            std::string::npos);
  EXPECT_NE(
      first_error("[{action: keepequal, source_labels: [a], target_label: b, regex: '(.*)'}]", utf8)
          .find("keepequal action requires only"),
      std::string::npos);
  EXPECT_EQ(first_error("[{action: hashmod, target_label: '${1}', modulus: 8}]", utf8), "");
  EXPECT_NE(first_error("[{action: hashmod, target_label: '${1}', modulus: 8}]", legacy)
                .find("\"${1}\" is invalid 'target_label' for hashmod action"),
            std::string::npos);
  // Source labels are names as read, whatever the scheme (upstream checks them as UTF-8).
  EXPECT_EQ(first_error("[{source_labels: [utf-8.label], target_label: d}]", legacy), "");
}

TEST(Prometheus3RelabelTest, EveryCaseOfTestTargetLabelLegacyValidity) {
  const std::vector<std::pair<std::string, bool>> rows = {
      {"-label", false},
      {"label", true},
      {"label${1}", true},
      {"${1}label", true},
      {"${1}", true},
      {"${", false},
      {"$", false},
      {"${}", false},
      {"foo${", false},
      {"$1", true},
      {"asd$2asd", true},
      {"-foo${1}bar-", false},
      {"bar.foo${1}bar", false},
      {"_${1}_", true},
      {"foo${bar}foo", true},
  };
  for (const auto& [target, valid] : rows) {
    const std::string e =
        first_error("[{target_label: '" + target + "', replacement: x}]", NameValidation::kLegacy);
    EXPECT_EQ(e.empty(), valid) << target << ": " << e;
  }
}

TEST(Prometheus3RelabelTest, NullFieldsAreEmptyNotDefault) {
  // `regex:` with no value is the empty regex (matches only ""), `separator:` the empty one.
  std::vector<std::string> errors;
  const auto rules = parse_rules(
      YAML::Load("[{source_labels: [a, b], separator: null, regex: null, target_label: t, "
                 "replacement: static}, {source_labels: [a, b], separator: null, target_label: "
                 "j}]"),
      "rules", errors);
  ASSERT_TRUE(errors.empty()) << errors.front();
  LabelBuilder b;
  const std::vector<proto::Label> base = {{"a", "x"}, {"b", "y"}};
  b.reset(base);
  ASSERT_TRUE(process(rules, b));
  EXPECT_EQ(b.get("t"), "");    // "x;y" is not empty: the empty regex does not match
  EXPECT_EQ(b.get("j"), "xy");  // joined with no separator
}

}  // namespace
}  // namespace rwgate::relabel
