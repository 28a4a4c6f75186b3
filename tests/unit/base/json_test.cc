#include "base/json.h"

#include <gtest/gtest.h>

namespace rwgate {
namespace {

using Pairs = std::vector<std::pair<std::string, std::string>>;

TEST(JsonTest, ParsesAFlatObjectOfStrings) {
  Pairs out;
  std::string why;
  ASSERT_TRUE(
      parse_label_object(R"( {"a": "1", "b":"x\"y\\z\n", "c": "\u00e9\ud83d\ude00"} )", out, why))
      << why;
  EXPECT_EQ(out, (Pairs{{"a", "1"}, {"b", "x\"y\\z\n"}, {"c", "\xc3\xa9\xf0\x9f\x98\x80"}}));
  ASSERT_TRUE(parse_label_object("{}", out, why));
  EXPECT_TRUE(out.empty());
}

TEST(JsonTest, RefusesWhatIsNotALabelObject) {
  Pairs out;
  std::string why;
  for (const char* bad : {"", "[]", "{\"a\":1}", "{\"a\":\"1\",}", "{\"a\":\"1\"} x",
                          "{\"a\" \"1\"}", "{\"a\":\"\\ud800\"}", "{\"a\":\"\\q\"}",
                          "{\"a\":\"1\",\"a\":\"2\"}", "{\"a\":\"unterminated}"}) {
    EXPECT_FALSE(parse_label_object(bad, out, why)) << bad;
    EXPECT_FALSE(why.empty()) << bad;
  }
}

TEST(JsonTest, WritesEscapedStrings) {
  std::string out;
  append_json_string(out, "a\"b\\c\n\x01\xc3\xa9");
  EXPECT_EQ(out, "\"a\\\"b\\\\c\\n\\u0001\xc3\xa9\"");
}

}  // namespace
}  // namespace rwgate
