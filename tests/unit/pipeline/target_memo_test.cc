// The direct path's per-target memo: found by the whole key, never by a part of it or a
// hash alone; forgotten when the generation or the objects it points into change; bounded.
#include "pipeline/target_memo.h"

#include <gtest/gtest.h>

#include <string>

#include "proto/encode.h"

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
  // Full: answered but not kept, and what is kept stays until the request ends (the
  // request's series hold views into it); the next request starts again from empty.
  EXPECT_EQ(memo.put(one_more, facts(2)).lb.name_pattern, 2);
  EXPECT_EQ(memo.size(), TargetMemo::kMaxTargets);
  EXPECT_EQ(memo.find(one_more), nullptr);
  EXPECT_NE(memo.find({"node", "10.0.7", ""}), nullptr);
  memo.begin_request({1, 0, 0}, &rules, nullptr);
  EXPECT_EQ(memo.size(), 0u);
  EXPECT_EQ(memo.find({"node", "10.0.7", ""}), nullptr);
  ASSERT_EQ(memo.find(one_more), nullptr);
  memo.put(one_more, facts(2));
  EXPECT_EQ(memo.find(one_more)->lb.name_pattern, 2);

  const std::string huge(TargetMemo::kMaxKeyPart + 1, 'x');
  const TargetMemo::Key long_key{"node", huge, ""};
  ASSERT_EQ(memo.find(long_key), nullptr);
  EXPECT_EQ(memo.put(long_key, facts(5)).lb.name_pattern, 5);  // answered, not kept
  EXPECT_EQ(memo.find(long_key), nullptr);
  EXPECT_EQ(memo.size(), 1u);
  memo.begin_request({1, 0, 0}, &rules, nullptr);
  EXPECT_EQ(memo.size(), 1u);  // an overlong key does not mean the memo is full
}

// Kept facts carry their added labels as Label fields in the memo: the views point into
// those bytes, and field(a) is exactly what encoding add[a] writes.
TEST(TargetMemoTest, KeptLabelsAreEncodedAndTheirViewsPointIntoTheEncoding) {
  TargetMemo memo;
  const int rules = 0;
  memo.begin_request({1, 0, 0}, &rules, nullptr);
  const std::string zone = "us-east-1a", long_value(300, 'v');  // a two-byte length
  TargetFacts f;
  f.add[0] = {"asg", long_value};
  f.add[1] = {"az", ""};
  f.add[2] = {"zone", zone};
  f.nadd = 3;
  const TargetMemo::Key key{"node", "10.0.0.1:9100", ""};
  ASSERT_EQ(memo.find(key), nullptr);
  const TargetFacts& kept = memo.put(key, f);
  ASSERT_NE(kept.encoded, nullptr);
  std::string all;
  for (size_t a = 0; a < f.nadd; ++a) {
    EXPECT_EQ(kept.add[a].name, f.add[a].name);
    EXPECT_EQ(kept.add[a].value, f.add[a].value);
    std::string want;
    proto::append_labels_v1(want, {&f.add[a], 1});
    EXPECT_EQ(kept.field(a), want) << a;
    all += want;
  }
  EXPECT_NE(kept.add[2].value.data(), zone.data());
  EXPECT_EQ(std::string_view(kept.encoded, all.size()), all);
  EXPECT_EQ(memo.find(key)->encoded, kept.encoded);
}

// Long added labels fill the encoded bytes' bound: the rest of the request is answered
// without them (encoded null, views into the caller's facts), the next starts again.
TEST(TargetMemoTest, EncodedLabelBytesAreBounded) {
  TargetMemo memo;
  const int rules = 0;
  memo.begin_request({1, 0, 0}, &rules, nullptr);
  const std::string value(60000, 'v');
  TargetFacts f;
  f.add[0] = {"asg", value};
  f.nadd = 1;
  const size_t fit = TargetMemo::kMaxEncodedBytes / proto::labels_v1_size({f.add.data(), 1});
  for (size_t i = 0; i <= fit; ++i) {
    const std::string instance = "10.0." + std::to_string(i);
    ASSERT_EQ(memo.find({"", instance, ""}), nullptr);
    const TargetFacts& got = memo.put({"", instance, ""}, f);
    EXPECT_EQ(got.add[0].value, value);
    EXPECT_EQ(got.encoded == nullptr, i == fit) << i;
  }
  EXPECT_EQ(memo.size(), fit);
  memo.begin_request({1, 0, 0}, &rules, nullptr);
  EXPECT_EQ(memo.size(), 0u);
}

// Long values, each under the part limit, fill the key bytes' bound before the count's:
// the memo stops keeping, and starts again at the next request, rather than grow past it.
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
  EXPECT_EQ(memo.size(), fit);  // the last one answered, not kept
  memo.begin_request({1, 0, 0}, &rules, nullptr);
  EXPECT_EQ(memo.size(), 0u);
}

}  // namespace
}  // namespace rwgate::pipeline
