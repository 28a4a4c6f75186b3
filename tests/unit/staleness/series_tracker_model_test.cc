// The series tracker's table against a plain model of what it must keep: random requests
// (new series, touches, moves between instances across discovery generations, series the
// sender ended), idle forgetting and takes. Keys are clustered on purpose (a key hash that
// puts them in four of the table's 64 segments, by its top six bits, and in eight places
// of each, by the three bits below) so that long probe runs, runs that wrap around the
// end of a segment, growth and backward-shift erasing are all exercised.
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "proto/encode.h"
#include "proto/hash.h"
#include "staleness/series_tracker.h"
#include "tracked_request.h"

namespace rwgate::staleness {
namespace {

uint64_t clustered(uint64_t, std::string_view encoded) {
  const uint64_t h = proto::hash_bytes(7, encoded);
  return (h & ((1ULL << 40) - 1)) | ((h >> 40) & 7) << 55 | ((h >> 43) & 3) << 58;
}

struct Model {
  struct Series {
    int instance;
    int64_t last_ts;
    uint64_t generation;
    uint32_t touched_s;
  };
  std::map<int, Series> series;  // by label value i
};

int label_i(const EndedSeries& e) {
  std::vector<proto::Label> labels;
  EXPECT_TRUE(proto::read_labels_v1(e.labels, labels));
  return std::stoi(std::string(proto::label_value(labels, "i")));
}

TEST(SeriesTrackerModelTest, KeepsWhatAPlainMapWouldKeep) {
  constexpr int kLabelSets = 3000, kInstances = 5, kOps = 400;
  std::vector<discovery::InstanceRecord> recs(kInstances);
  for (int k = 0; k < kInstances; ++k) recs[k].instance_id = "i-" + std::to_string(k);
  std::mt19937_64 rng(12345);
  SeriesTracker t(clustered);
  Model m;
  uint64_t generation = 1;
  uint32_t now_s = 100;
  int64_t ts = 1000;
  double stale;
  std::memcpy(&stale, &proto::kStaleNaNBits, sizeof stale);
  for (int op = 0; op < kOps; ++op) {
    const int what = static_cast<int>(rng() % 20);
    if (what < 14) {  // a request: some label sets, each sent by one instance
      ++now_s;
      ts += 1000;
      const bool ending = what == 13;  // the sender ends the series itself
      TrackedRequest r(kLabelSets, ts, nullptr, ending ? stale : 1.0);
      std::vector<proto::SeriesOut> kept;
      const int from = static_cast<int>(rng() % kLabelSets);
      const int count = static_cast<int>(rng() % 800);
      for (int j = 0; j < count; ++j) {
        const int i = (from + j) % kLabelSets;
        // Within a generation a label set stays with its instance (as enrichment has it).
        auto it = m.series.find(i);
        int inst = static_cast<int>(rng() % kInstances);
        if (it != m.series.end() && it->second.generation == generation) inst = it->second.instance;
        r.records[i] = &recs[inst];
        kept.push_back(r.per_sink[0][i]);
        if (ending) {
          m.series.erase(i);
        } else if (it == m.series.end()) {
          m.series[i] = {inst, ts, generation, now_s};
        } else {
          it->second = {inst, std::max(ts, it->second.last_ts), generation, now_s};
        }
      }
      r.per_sink[0] = kept;
      r.track(t, 3, generation, now_s);
    } else if (what < 16) {  // a discovery change
      ++generation;
    } else if (what < 18) {  // forget what was idle for a while
      const uint32_t cutoff = now_s - static_cast<uint32_t>(rng() % 40);
      size_t want = 0;
      for (auto it = m.series.begin(); it != m.series.end();) {
        if (it->second.touched_s < cutoff) {
          it = m.series.erase(it);
          ++want;
        } else {
          ++it;
        }
      }
      EXPECT_EQ(t.forget_idle(cutoff), want) << "op " << op;
    } else {  // take an instance: all of it, or what was last seen before this generation
      const int inst = static_cast<int>(rng() % kInstances);
      const uint64_t before = what == 18 ? UINT64_MAX : generation;
      std::set<std::pair<int, int64_t>> want, got;
      for (auto it = m.series.begin(); it != m.series.end();) {
        if (it->second.instance == inst && it->second.generation < before) {
          want.emplace(it->first, it->second.last_ts);
          it = m.series.erase(it);
        } else {
          ++it;
        }
      }
      std::vector<EndedSeries> ended;
      t.take(recs[inst].key(), before, ended);
      for (const EndedSeries& e : ended) {
        EXPECT_EQ(e.sink_id, 3u);
        EXPECT_TRUE(got.emplace(label_i(e), e.last_timestamp_ms).second) << "taken twice";
      }
      EXPECT_EQ(got, want) << "op " << op;
    }
    ASSERT_EQ(t.series(), m.series.size()) << "op " << op;
    std::set<int> instances;
    for (const auto& [i, s] : m.series) instances.insert(s.instance);
    ASSERT_EQ(t.instances(), instances.size()) << "op " << op;
  }
  EXPECT_EQ(t.collisions(), 0u);
}

}  // namespace
}  // namespace rwgate::staleness
