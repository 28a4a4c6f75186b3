// The direct path's per-target memo: found by the whole key, never by a part of it or a
// hash alone; forgotten when the generation or the objects it points into change; bounded.
#include "pipeline/target_memo.h"

#include <gtest/gtest.h>

#include <string>

namespace rwgate::pipeline {
namespace {

TargetFacts facts(int16_t pattern) {
  TargetFacts f;
  f.lb.name_pattern = pattern;
  return f;
}

TEST(TargetMemoTest, FindsByTheWholeKeyAndTellsPartBoundariesApart) {
  TargetMemo memo;
  const int rules = 0, snapshot = 0;
  memo.begin_request({1, 1, 0}, &rules, &snapshot);
  const TargetMemo::Key ab_c{"ab", "c", ""};
  const TargetMemo::Key a_bc{"a", "bc", ""};
  ASSERT_EQ(memo.find(ab_c), nullptr);
  EXPECT_EQ(memo.put(ab_c, facts(3)).lb.name_pattern, 3);
  ASSERT_EQ(memo.find(a_bc), nullptr);  // the same bytes, split elsewhere
  memo.put(a_bc, facts(4));
  ASSERT_NE(memo.find(ab_c), nullptr);
  EXPECT_EQ(memo.find(ab_c)->lb.name_pattern, 3);
  EXPECT_EQ(memo.find(a_bc)->lb.name_pattern, 4);
  EXPECT_EQ(memo.find({"ab", "c", "x"}), nullptr);  // the match label's value counts too
  EXPECT_EQ(memo.size(), 2u);
}

TEST(TargetMemoTest, ForgetsWhenTheGenerationOrTheObjectsChange) {
  TargetMemo memo;
  const int rules = 0, other_rules = 0, snapshot = 0, other_snapshot = 0;
  const TargetMemo::Key key{"node", "10.0.0.1:9100", ""};
  auto held = [&](const CacheGeneration& g, const void* r, const void* d) {
    memo.begin_request(g, r, d);
    const bool found = memo.find(key) != nullptr;
    if (!found) memo.put(key, facts(1));
    return found;
  };
  EXPECT_FALSE(held({1, 1, 0}, &rules, &snapshot));
  EXPECT_TRUE(held({1, 1, 0}, &rules, &snapshot));   // the next request reuses it
  EXPECT_FALSE(held({1, 2, 0}, &rules, &snapshot));  // a new snapshot generation
  EXPECT_FALSE(held({1, 2, 5}, &rules, &snapshot));  // new verdicts
  EXPECT_FALSE(held({2, 2, 5}, &rules, &snapshot));  // a new config
  EXPECT_FALSE(held({2, 2, 5}, &other_rules, &snapshot));
  EXPECT_FALSE(held({2, 2, 5}, &other_rules, &other_snapshot));
  EXPECT_TRUE(held({2, 2, 5}, &other_rules, &other_snapshot));
}

TEST(TargetMemoTest, StaysWithinItsBoundAndKeepsNoOverlongKey) {
  TargetMemo memo;
  const int rules = 0;
  memo.begin_request({1, 0, 0}, &rules, nullptr);
  for (size_t i = 0; i < TargetMemo::kMaxTargets; ++i) {
    const std::string instance = "10.0." + std::to_string(i);
    const TargetMemo::Key key{"node", instance, ""};
    ASSERT_EQ(memo.find(key), nullptr);
    memo.put(key, facts(1));
  }
  EXPECT_EQ(memo.size(), TargetMemo::kMaxTargets);
  ASSERT_NE(memo.find({"node", "10.0.7", ""}), nullptr);
  const TargetMemo::Key one_more{"node", "one more", ""};
  ASSERT_EQ(memo.find(one_more), nullptr);
  memo.put(one_more, facts(2));  // full: starts again from empty
  EXPECT_EQ(memo.size(), 1u);
  EXPECT_EQ(memo.find({"node", "10.0.7", ""}), nullptr);
  EXPECT_EQ(memo.find(one_more)->lb.name_pattern, 2);

  const std::string huge(TargetMemo::kMaxKeyPart + 1, 'x');
  const TargetMemo::Key long_key{"node", huge, ""};
  ASSERT_EQ(memo.find(long_key), nullptr);
  EXPECT_EQ(memo.put(long_key, facts(5)).lb.name_pattern, 5);  // answered, not kept
  EXPECT_EQ(memo.find(long_key), nullptr);
  EXPECT_EQ(memo.size(), 1u);
}

// Long values, each under the part limit, fill the key bytes' bound before the count's:
// the memo starts again rather than grow past it.
TEST(TargetMemoTest, KeyBytesAreBoundedToo) {
  TargetMemo memo;
  const int rules = 0;
  memo.begin_request({1, 0, 0}, &rules, nullptr);
  const size_t per_key = TargetMemo::kMaxKeyPart;
  const size_t fit = TargetMemo::kMaxKeyBytes / per_key;
  for (size_t i = 0; i <= fit; ++i) {
    std::string instance(per_key, 'a');
    instance.replace(0, 8, std::to_string(10000000 + i));
    const TargetMemo::Key key{"", instance, ""};
    ASSERT_EQ(memo.find(key), nullptr);
    memo.put(key, facts(1));
    ASSERT_LE(memo.size(), fit);
  }
  EXPECT_EQ(memo.size(), 1u);  // the last one, after starting again
}

}  // namespace
}  // namespace rwgate::pipeline
