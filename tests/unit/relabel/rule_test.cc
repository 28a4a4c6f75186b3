// Relabel rules behave as in Prometheus's model/relabel, action by action and corner by corner.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <map>
#include <string>

#include "relabel/rule.h"

namespace rwgate::relabel {
namespace {

using LabelMap = std::map<std::string, std::string>;

struct Result {
  bool kept;
  LabelMap labels;
};

std::vector<Rule> rules_of(const std::string& yaml, NameValidation names = NameValidation::kUtf8) {
  std::vector<std::string> errors;
  auto rules = parse_rules(YAML::Load(yaml), "rules", errors, names);
  EXPECT_TRUE(errors.empty()) << (errors.empty() ? "" : errors.front());
  return rules;
}

std::vector<std::string> errors_of(const std::string& yaml,
                                   NameValidation names = NameValidation::kUtf8) {
  std::vector<std::string> errors;
  parse_rules(YAML::Load(yaml), "rules", errors, names);
  return errors;
}

Result run(const std::string& yaml, const LabelMap& input,
           NameValidation names = NameValidation::kUtf8) {
  const auto rules = rules_of(yaml, names);
  std::vector<proto::Label> base;
  for (const auto& [k, v] : input) base.push_back(proto::Label{k, v});
  LabelBuilder b;
  b.reset(base);
  Result r{process(rules, b), {}};
  if (r.kept) {
    std::vector<proto::Label> out;
    b.labels(out);
    for (const auto& l : out) r.labels[std::string(l.name)] = std::string(l.value);
  }
  return r;
}

LabelMap run_kept(const std::string& yaml, const LabelMap& input,
                  NameValidation names = NameValidation::kUtf8) {
  Result r = run(yaml, input, names);
  EXPECT_TRUE(r.kept);
  return r.labels;
}

const LabelMap kABC = {{"a", "foo"}, {"b", "bar"}, {"c", "baz"}};

TEST(RelabelTest, ReplaceWithDefaultsCopiesTheSourceToTheTarget) {
  EXPECT_EQ(run_kept("[{source_labels: [a], target_label: d}]", kABC),
            (LabelMap{{"a", "foo"}, {"b", "bar"}, {"c", "baz"}, {"d", "foo"}}));
}

TEST(RelabelTest, ReplaceJoinsSourcesWithTheSeparator) {
  EXPECT_EQ(run_kept("[{source_labels: [a, b], separator: '-', target_label: d}]", kABC).at("d"),
            "foo-bar");
  EXPECT_EQ(run_kept("[{source_labels: [a, missing, b], target_label: d}]", kABC).at("d"),
            "foo;;bar");
}

TEST(RelabelTest, ReplaceWhoseRegexDoesNotMatchChangesNothing) {
  EXPECT_EQ(run_kept("[{source_labels: [a], regex: 'f', target_label: d, replacement: x}]", kABC),
            kABC);
}

TEST(RelabelTest, RegexIsAnchoredAtBothEnds) {
  EXPECT_EQ(run_kept("[{source_labels: [a], regex: 'o+', target_label: d, replacement: x}]", kABC),
            kABC);
  EXPECT_EQ(
      run_kept("[{source_labels: [a], regex: 'f(o+)', target_label: d, replacement: '$1'}]", kABC)
          .at("d"),
      "oo");
  // An alternation is anchored as a whole: ^(?:a|b)$, not ^a|b$.
  EXPECT_FALSE(run("[{source_labels: [a], regex: 'f|xoo', action: keep}]", kABC).kept);
}

TEST(RelabelTest, EmptyReplacementResultDeletesTheTarget) {
  EXPECT_EQ(
      run_kept("[{source_labels: [a], regex: 'foo', target_label: b, replacement: ''}]", kABC),
      (LabelMap{{"a", "foo"}, {"c", "baz"}}));
  EXPECT_EQ(
      run_kept("[{source_labels: [missing], regex: '(.*)', target_label: c, replacement: '$1'}]",
               kABC),
      (LabelMap{{"a", "foo"}, {"b", "bar"}}));
}

TEST(RelabelTest, ExpansionFollowsGoRegexpExpand) {
  auto d = [&](const std::string& replacement, const std::string& regex = "(?P<first>f)(o+)") {
    auto out = run_kept("[{source_labels: [a], regex: '" + regex +
                            "', target_label: d, replacement: '" + replacement + "'}]",
                        kABC);
    return out.count("d") ? out.at("d") : std::string("<deleted>");
  };
  EXPECT_EQ(d("$1"), "f");
  EXPECT_EQ(d("${1}x"), "fx");
  EXPECT_EQ(d("$1x"), "<deleted>");  // names group "1x", which does not exist: empty
  EXPECT_EQ(d("$1x-$2"), "-oo");
  EXPECT_EQ(d("${first}-$first"), "f-f");
  EXPECT_EQ(d("$$1"), "$1");           // $$ is a literal $
  EXPECT_EQ(d("cost: $"), "cost: $");  // malformed $ stays as text
  EXPECT_EQ(d("${2"), "${2");          // unclosed brace: malformed
  EXPECT_EQ(d("$9"), "<deleted>");     // group out of range: empty
  EXPECT_EQ(d("$01"), "<deleted>");    // leading zero: a name, not a number
  EXPECT_EQ(d("$0"), "foo");
  EXPECT_EQ(d("[$1]", "(?:x(.))?foo"), "[]");  // group that did not take part: empty
}

TEST(RelabelTest, ExpandedTargetThatIsNotALabelNameIsSkipped) {
  EXPECT_EQ(
      run_kept("[{source_labels: [a], regex: '(.*)', target_label: '${1}_x', replacement: v}]",
               kABC)
          .at("foo_x"),
      "v");
  // "1abc" is no label name under legacy: the rule does nothing. Under utf8 it is one.
  EXPECT_EQ(run_kept("[{source_labels: [b], regex: '(.*)', target_label: '$1', replacement: v}]",
                     {{"b", "1abc"}}, NameValidation::kLegacy),
            (LabelMap{{"b", "1abc"}}));
  EXPECT_EQ(run_kept("[{source_labels: [b], regex: '(.*)', target_label: '$1', replacement: v}]",
                     {{"b", "1abc"}}),
            (LabelMap{{"1abc", "v"}, {"b", "1abc"}}));
  // Under utf8 only invalid UTF-8 (or nothing) is no name.
  EXPECT_EQ(run_kept("[{source_labels: [b], regex: '(.*)', target_label: '$1', replacement: v}]",
                     {{"x", "y"}}),
            (LabelMap{{"x", "y"}}));
}

TEST(RelabelTest, KeepAndDrop) {
  EXPECT_TRUE(run("[{source_labels: [a], regex: 'fo+', action: keep}]", kABC).kept);
  EXPECT_FALSE(run("[{source_labels: [a], regex: 'ba.', action: keep}]", kABC).kept);
  EXPECT_FALSE(run("[{source_labels: [a], regex: 'fo+', action: drop}]", kABC).kept);
  EXPECT_TRUE(run("[{source_labels: [a], regex: 'ba.', action: drop}]", kABC).kept);
  // A missing label is the empty string: keep with the default regex (.*) keeps it.
  EXPECT_TRUE(run("[{source_labels: [missing], action: keep}]", kABC).kept);
  EXPECT_FALSE(run("[{source_labels: [missing], regex: '.+', action: keep}]", kABC).kept);
}

TEST(RelabelTest, KeepEqualAndDropEqualCompareWithTheTargetLabel) {
  const LabelMap same = {{"a", "x"}, {"b", "x"}};
  const LabelMap diff = {{"a", "x"}, {"b", "y"}};
  EXPECT_TRUE(run("[{source_labels: [a], target_label: b, action: keepequal}]", same).kept);
  EXPECT_FALSE(run("[{source_labels: [a], target_label: b, action: keepequal}]", diff).kept);
  EXPECT_FALSE(run("[{source_labels: [a], target_label: b, action: dropequal}]", same).kept);
  EXPECT_TRUE(run("[{source_labels: [a], target_label: b, action: dropequal}]", diff).kept);
}

TEST(RelabelTest, HashModMatchesPrometheus) {
  // md5("baz"), last 8 bytes big-endian, mod 1000 = 976 (the value Prometheus computes).
  EXPECT_EQ(
      run_kept("[{source_labels: [c], target_label: d, action: hashmod, modulus: 1000}]", kABC)
          .at("d"),
      "976");
  EXPECT_EQ(
      run_kept("[{source_labels: [a, b], target_label: d, action: hashmod, modulus: 1}]", kABC)
          .at("d"),
      "0");
}

TEST(RelabelTest, LabelMapCopiesMatchingNames) {
  const LabelMap in = {
      {"__meta_ec2_tag_Name", "web"}, {"__meta_ec2_tag_team", "pay"}, {"job", "n"}};
  EXPECT_EQ(run_kept("[{action: labelmap, regex: '__meta_ec2_tag_(.+)'}]", in),
            (LabelMap{{"__meta_ec2_tag_Name", "web"},
                      {"__meta_ec2_tag_team", "pay"},
                      {"Name", "web"},
                      {"job", "n"},
                      {"team", "pay"}}));
  EXPECT_EQ(
      run_kept("[{action: labelmap, regex: '__meta_ec2_tag_(.+)', replacement: 'tag_$1'}]", in)
          .at("tag_team"),
      "pay");
}

TEST(RelabelTest, LabelMapVisitsBaseLabelsThenAddedOnesLastWins) {
  // Both a_x (base) and b_x (added by the first rule) map to "x": the added one is
  // visited last and wins, as in Prometheus's labels.Builder.Range.
  const std::string rules =
      "[{source_labels: [z], target_label: b_x, replacement: from_added},"
      " {action: labelmap, regex: '._(x)', replacement: '$1'}]";
  EXPECT_EQ(run_kept(rules, {{"a_x", "from_base"}, {"z", "1"}}).at("x"), "from_added");
}

TEST(RelabelTest, LabelDropAndLabelKeep) {
  EXPECT_EQ(run_kept("[{action: labeldrop, regex: '[ab]'}]", kABC), (LabelMap{{"c", "baz"}}));
  EXPECT_EQ(run_kept("[{action: labelkeep, regex: '[ab]'}]", kABC),
            (LabelMap{{"a", "foo"}, {"b", "bar"}}));
}

TEST(RelabelTest, LowercaseAndUppercaseAreUnicodeAware) {
  const LabelMap in = {{"a", "ÉCOLE Straße"}, {"b", "abc"}};
  EXPECT_EQ(run_kept("[{source_labels: [a], target_label: l, action: lowercase}]", in).at("l"),
            "école straße");
  EXPECT_EQ(run_kept("[{source_labels: [b], target_label: u, action: uppercase}]", in).at("u"),
            "ABC");
  // Invalid UTF-8 becomes U+FFFD, as Go's strings.ToLower does.
  EXPECT_EQ(run_kept("[{source_labels: [a], target_label: l, action: lowercase}]", {{"a", "A\xff"}})
                .at("l"),
            "a\xef\xbf\xbd");
}

TEST(RelabelTest, ActionNamesAreCaseInsensitive) {
  EXPECT_FALSE(run("[{source_labels: [a], regex: foo, action: DROP}]", kABC).kept);
}

TEST(RelabelTest, RulesApplyInOrderAndStopAtADrop) {
  EXPECT_FALSE(run("[{source_labels: [a], target_label: x, replacement: gone},"
                   " {source_labels: [x], regex: gone, action: drop}]",
                   kABC)
                   .kept);
}

TEST(RelabelValidationTest, MessagesMatchPrometheus) {
  // Under legacy validation (Prometheus 2's names); utf8 is below.
  auto first = [](const std::string& yaml) {
    auto e = errors_of(yaml, NameValidation::kLegacy);
    return e.empty() ? std::string() : e.front();
  };
  EXPECT_EQ(
      first("[{source_labels: [a]}]"),
      "rules[0] (line 1): relabel configuration for replace action requires 'target_label' value");
  EXPECT_EQ(first("[{action: hashmod, target_label: x}]"),
            "rules[0] (line 1): relabel configuration for hashmod requires non-zero modulus");
  EXPECT_NE(
      first("[{target_label: '1x'}]").find("\"1x\" is invalid 'target_label' for replace action"),
      std::string::npos);
  EXPECT_NE(first("[{target_label: '$1-x'}]").find("is invalid 'target_label' for replace action"),
            std::string::npos);
  EXPECT_EQ(first("[{target_label: '${1}_x'}]"), "");
  EXPECT_NE(first("[{action: lowercase, source_labels: [a], target_label: b, replacement: x}]")
                .find("'replacement' can not be set for lowercase action"),
            std::string::npos);
  EXPECT_NE(first("[{action: labelmap, regex: a, replacement: '-'}]")
                .find("is invalid 'replacement' for labelmap"),
            std::string::npos);
  EXPECT_NE(first("[{action: keepequal, source_labels: [a], target_label: b, regex: x}]")
                .find("keepequal action requires only 'source_labels' and `target_label`, and no "
                      "other fields"),
            std::string::npos);
  EXPECT_NE(first("[{action: labeldrop, regex: a, target_label: b}]")
                .find("labeldrop action requires only 'regex', and no other fields"),
            std::string::npos);
  EXPECT_NE(first("[{action: explode}]").find("unknown relabel action \"explode\""),
            std::string::npos);
  EXPECT_NE(first("[{regex: '(', target_label: x}]").find("error parsing regexp"),
            std::string::npos);
  // Source labels are read as UTF-8 names whatever the scheme, as Prometheus reads them:
  // only an empty name or invalid UTF-8 is refused.
  EXPECT_EQ(first("[{source_labels: ['a-b'], target_label: x}]"), "");
  EXPECT_NE(first("[{source_labels: [''], target_label: x}]").find("is not a valid label name"),
            std::string::npos);
  EXPECT_NE(first("[{target_label: x, colour: red}]").find("field colour not found"),
            std::string::npos);
  EXPECT_EQ(
      errors_of("[{target_label: x}, {action: keep, source_labels: [a], regex: x}, 7]").size(), 1u);
}

TEST(RelabelValidationTest, ExamplesFromPrometheusDocumentationParse) {
  // Typical rules from Prometheus's configuration docs and common setups.
  const auto rules = rules_of(R"(
- source_labels: [__meta_ec2_tag_Name]
  target_label: instance_name
- source_labels: [__meta_ec2_private_ip]
  regex: '(.*)'
  replacement: '${1}:9100'
  target_label: __address__
- action: labelmap
  regex: __meta_ec2_tag_(.+)
- source_labels: [__name__]
  regex: 'go_.*'
  action: drop
- source_labels: [__address__]
  modulus: 4
  target_label: __tmp_hash
  action: hashmod
- source_labels: [__tmp_hash]
  regex: ^1$
  action: keep
- action: labeldrop
  regex: __tmp.*
)");
  EXPECT_EQ(rules.size(), 7u);
  const Result r = run(R"(
- source_labels: [__meta_ec2_private_ip]
  regex: '(.*)'
  replacement: '${1}:9100'
  target_label: __address__
- action: labelmap
  regex: __meta_ec2_tag_(.+)
)",
                       {{"__meta_ec2_private_ip", "10.1.2.3"}, {"__meta_ec2_tag_Name", "api"}});
  EXPECT_EQ(r.labels.at("__address__"), "10.1.2.3:9100");
  EXPECT_EQ(r.labels.at("Name"), "api");
}

TEST(LabelBuilderTest, SetDeleteAndGetFollowPrometheusBuilder) {
  const std::vector<proto::Label> base = {{"a", "1"}, {"b", "2"}};
  LabelBuilder b;
  b.reset(base);
  b.set("c", "3");
  b.del("a");
  EXPECT_EQ(b.get("a"), "");
  b.set("a", "again");  // deleted then set: the added value wins
  EXPECT_EQ(b.get("a"), "again");
  b.set("b", "");  // empty means delete
  std::vector<proto::Label> out;
  b.labels(out);
  EXPECT_EQ(out, (std::vector<proto::Label>{{"a", "again"}, {"c", "3"}}));
}

}  // namespace
}  // namespace rwgate::relabel

namespace rwgate::relabel {
namespace {

TEST(FullMatcherTest, FastPathsAgreeWithRe2) {
  const std::vector<std::string> patterns = {".*",      ".+",       "",        "a|b|abc",
                                             "a|",      "__tmp_.*", "node_.*", "mountpoint|fstype",
                                             "x-y:z/w", "a.*b",     "(a|b)",   "a+"};
  const std::vector<std::string> inputs = {
      "",     "a",          "b",      "abc",     "ab",   "__tmp_x",  "__tmp_", "__tmp", "node_cpu",
      "node", "mountpoint", "fstype", "x-y:z/w", "a\nb", "__tmp_\n", "\n",     "axxb",  "aaa"};
  for (const std::string& p : patterns) {
    auto re = std::make_shared<RE2>("^(?s:" + p + ")$");
    FullMatcher m;
    m.init(p, re);
    for (const std::string& in : inputs) {
      EXPECT_EQ(m.matches(in), RE2::FullMatch(in, *re))
          << "pattern \"" << p << "\" on \"" << in << "\"";
    }
  }
}

}  // namespace
}  // namespace rwgate::relabel
