#include "base/yaml_reader.h"

#include <gtest/gtest.h>

namespace rwgate::yaml {
namespace {

TEST(YamlReaderTest, ErrorsCarryPathAndLine) {
  std::vector<std::string> errors;
  Reader r(errors);
  const YAML::Node root = YAML::Load("a:\n  b: 1\n  c: x\n");
  EXPECT_TRUE(r.map(root["a"], "a", {"b"}));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0], "a.c (line 3): unknown key");
  r.error("", root, "top");
  EXPECT_EQ(errors[1], "(top level) (line 1): top");
}

TEST(YamlReaderTest, ReadsScalarsAndKeepsDefaultsWhenAbsent) {
  std::vector<std::string> errors;
  Reader r(errors);
  const YAML::Node n = YAML::Load("{on: true, n: 7, d: 1m30s, list: [x, y]}");
  bool on = false, missing = true;
  int num = 0, absent = 5;
  Duration d{};
  std::vector<std::string> list;
  r.boolean(n, "s", "on", on);
  r.boolean(n, "s", "nope", missing);
  r.integer<int>(n, "s", "n", num, 0, 10);
  r.integer<int>(n, "s", "nope", absent, 0, 10);
  r.duration(n, "s", "d", d);
  r.string_list(n, "s", "list", list);
  EXPECT_TRUE(errors.empty());
  EXPECT_TRUE(on);
  EXPECT_TRUE(missing);
  EXPECT_EQ(num, 7);
  EXPECT_EQ(absent, 5);
  EXPECT_EQ(d, Duration(90000));
  EXPECT_EQ(list, (std::vector<std::string>{"x", "y"}));
}

TEST(YamlReaderTest, ReportsBadValues) {
  std::vector<std::string> errors;
  Reader r(errors);
  const YAML::Node n = YAML::Load("{on: maybe, n: 70, d: 5 minutes, list: x}");
  bool on = false;
  int num = 0;
  Duration d{};
  std::vector<std::string> list;
  r.boolean(n, "s", "on", on);
  r.integer<int>(n, "s", "n", num, 0, 10);
  r.duration(n, "s", "d", d);
  r.string_list(n, "s", "list", list);
  ASSERT_EQ(errors.size(), 4u);
  EXPECT_EQ(errors[0], "s.on (line 1): must be true or false, not \"maybe\"");
  EXPECT_EQ(errors[1], "s.n (line 1): must be between 0 and 10");
  EXPECT_EQ(errors[2],
            "s.d (line 1): not a valid duration \"5 minutes\" (examples: 30s, 5m, 1h30m)");
  EXPECT_EQ(errors[3], "s.list (line 1): must be a list");
}

TEST(DurationTest, ParsesAndFormatsPrometheusDurations) {
  EXPECT_EQ(parse_duration("1h30m"), Duration(90 * 60 * 1000));
  EXPECT_FALSE(parse_duration("1s1m"));
  EXPECT_EQ(format_duration(Duration(90 * 60 * 1000 + 1500)), "1h30m1s500ms");
}

}  // namespace
}  // namespace rwgate::yaml
