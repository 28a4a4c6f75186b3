// The tracker's label store and slot table on their own: labels come back byte for byte
// (fields shared, fields larger than a block, many blocks), bytes that are not Label
// fields are refused, compaction keeps exactly the live series; a segment of the slot
// table grows alone, leaving the slots of the others where they were.
#include "staleness/label_store.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "base/chunked_vector.h"
#include "proto/encode.h"
#include "staleness/slot_table.h"

namespace rwgate::staleness {
namespace {

std::string encoded(const std::vector<proto::Label>& labels) {
  std::string out;
  proto::append_labels_v1(out, labels);
  return out;
}

std::string labels_of(const LabelStore& s, LabelStore::Ref r) {
  std::string out;
  s.append_labels(r, out);
  return out;
}

TEST(LabelStoreTest, GivesBackWhatWasStoredByteForByte) {
  LabelStore s(1);
  std::vector<std::string> bytes;
  std::vector<LabelStore::Ref> refs;
  const std::string big(200000, 'x');  // a field larger than a block
  for (int i = 0; i < 30000; ++i) {    // fields shared by all, by some, by one
    const std::string v = std::to_string(i);
    bytes.push_back(encoded({{"__name__", "up"},
                             {"instance", "10.0.0." + std::to_string(i % 7)},
                             {"series", i == 777 ? big : v}}));
    refs.emplace_back();
    ASSERT_TRUE(s.store(bytes.back(), refs.back()));
  }
  for (size_t i = 0; i < bytes.size(); ++i) ASSERT_EQ(labels_of(s, refs[i]), bytes[i]) << i;
  LabelStore::Ref none;
  ASSERT_TRUE(s.store("", none));
  EXPECT_EQ(labels_of(s, none), "");
}

TEST(LabelStoreTest, RefusesBytesThatAreNotLabelFields) {
  LabelStore s(1);
  LabelStore::Ref r;
  const std::string good = encoded({{"a", "b"}});
  EXPECT_FALSE(s.store("\x12\x01x", r));  // another field number
  EXPECT_FALSE(s.store(good + "\x0a\x05"
                              "ab",
                       r));                                         // a length past the end
  EXPECT_FALSE(s.store(good + "\x0a\xff\xff\xff\xff\xff\x01", r));  // a varint too long
  ASSERT_TRUE(s.store(good, r));
  EXPECT_EQ(labels_of(s, r), good);
}

TEST(LabelStoreTest, CompactionKeepsTheLiveSeriesAndRenumbersTheirFields) {
  LabelStore s(1);
  std::vector<std::string> bytes;
  std::vector<LabelStore::Ref> refs;
  for (int i = 0; i < 20000; ++i) {
    bytes.push_back(encoded({{"job", "node"}, {"series", "value-" + std::to_string(i)}}));
    refs.emplace_back();
    ASSERT_TRUE(s.store(bytes.back(), refs.back()));
  }
  for (int i = 0; i < 20000; ++i) {
    if (i % 3 != 0) s.release(refs[i]);
  }
  int visited = 0;
  s.compact([&](const auto& keep) {
    for (int i = 0; i < 20000; i += 3) {
      keep(refs[i]);
      ++visited;
    }
  });
  ASSERT_EQ(visited, 6667);
  for (int i = 0; i < 20000; i += 3) ASSERT_EQ(labels_of(s, refs[i]), bytes[i]) << i;
  // Storing goes on after it.
  LabelStore::Ref again;
  ASSERT_TRUE(s.store(bytes[1], again));
  EXPECT_EQ(labels_of(s, again), bytes[1]);
  EXPECT_EQ(labels_of(s, refs[0]), bytes[0]);
}

TEST(LabelStoreTest, CompactionWaitsUntilHalfIsGarbage) {
  LabelStore s(1);
  std::vector<LabelStore::Ref> refs(10000);
  for (int i = 0; i < 10000; ++i) {
    ASSERT_TRUE(s.store(encoded({{"series", std::to_string(i)}}), refs[i]));
  }
  for (int i = 0; i < 4000; ++i) s.release(refs[i]);
  bool ran = false;
  s.compact([&](const auto&) { ran = true; });
  EXPECT_FALSE(ran);
}

// A key of `segment` whose other bits are spread as a seeded hash's are (the bits right
// below the segment's pick the home slot: leaving them zero would pile every key into one
// corner of the segment and make each insert probe a long run).
uint64_t in_segment(uint64_t segment, uint64_t i) {
  return segment << (64 - SlotTable::kSegmentBits) |
         (i * 0x9e3779b97f4a7c15ULL) >> SlotTable::kSegmentBits | 1;
}

TEST(SlotTableTest, ASegmentGrowsAloneAndTheOthersStayWhereTheyWere) {
  SlotTable t;
  Slot& other = t.insert(in_segment(9, 1));
  other.last_ts = 42;
  for (uint64_t i = 0; i < 100000; ++i) t.insert(in_segment(3, i));
  EXPECT_EQ(t.size(), 100001u);
  // Two segments hold anything: the table is no larger than they are.
  EXPECT_LE(t.capacity(), 2 * 100001u + 16);
  Slot* found = t.find(in_segment(9, 1));
  ASSERT_EQ(found, &other);  // never moved
  EXPECT_EQ(found->last_ts, 42);
  for (uint64_t i = 0; i < 100000; i += 2) t.erase(*t.find(in_segment(3, i)));
  for (uint64_t i = 0; i < 100000; ++i) {
    ASSERT_EQ(t.find(in_segment(3, i)) != nullptr, i % 2 == 1) << i;
  }
  EXPECT_EQ(t.size(), 50001u);
  // A pass by cursor sees every slot of every segment once.
  size_t seen = 0, full = 0;
  SlotTable::Cursor c;
  for (Slot* s; (s = t.at(c)) != nullptr; ++c.index) {
    ++seen;
    full += s->key != 0;
  }
  EXPECT_EQ(seen, t.capacity());
  EXPECT_EQ(full, t.size());
}

TEST(ChunkedVectorTest, ElementsStayWhereTheyAreAsItGrows) {
  ChunkedVector<int, 4> v;
  v.push_back(7);
  const int* first = &v[0];
  for (int i = 1; i < 1000; ++i) v.push_back(i);
  EXPECT_EQ(first, &v[0]);
  EXPECT_EQ(v.size(), 1000u);
  EXPECT_EQ(v[999], 999);
  v.clear();
  EXPECT_TRUE(v.empty());
}

}  // namespace
}  // namespace rwgate::staleness
