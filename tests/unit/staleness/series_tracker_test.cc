// The series tracker: what it keeps per instance and sink, the timestamps markers get,
// generations for label changes, idle forgetting, collisions, and series the sender ended.
#include "staleness/series_tracker.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "proto/encode.h"
#include "proto/hash.h"
#include "tracked_request.h"

namespace rwgate::staleness {
namespace {

discovery::InstanceRecord instance(const std::string& id) {
  discovery::InstanceRecord r;
  r.instance_id = id;
  return r;
}

// One request of series m{i="<k>"} on sink 7.
struct Request : TrackedRequest {
  using TrackedRequest::TrackedRequest;
  void track(SeriesTracker& t, uint64_t generation, uint32_t now_s = 100) const {
    TrackedRequest::track(t, 7, generation, now_s);
  }
};

std::string label_i(const EndedSeries& e) {
  std::vector<proto::Label> labels;
  EXPECT_TRUE(proto::read_labels_v1(e.labels, labels));
  return std::string(proto::label_value(labels, "i"));
}

TEST(SeriesTrackerTest, TakesTheSeriesOfAnInstanceWithTheirLastTimestamps) {
  const auto a = instance("i-a"), b = instance("i-b");
  SeriesTracker t;
  Request(3, 1000, &a).track(t, 1);
  Request(3, 2000, &a).track(t, 1);
  Request(2, 1500, &b).track(t, 2);       // a new snapshot: i=0,1 now at another instance
  Request(1, 1800, nullptr).track(t, 2);  // not matched: not tracked
  // The label sets i=0 and i=1 moved to b (same labels); a keeps i=2.
  std::vector<EndedSeries> ended;
  t.take("i-a", UINT64_MAX, ended);
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(label_i(ended[0]), "2");
  EXPECT_EQ(ended[0].last_timestamp_ms, 2000);
  EXPECT_EQ(ended[0].sink_id, 7u);
  ended.clear();
  t.take("i-b", UINT64_MAX, ended);
  ASSERT_EQ(ended.size(), 2u);
  for (const EndedSeries& e : ended) EXPECT_EQ(e.last_timestamp_ms, 2000);  // never before
  EXPECT_EQ(t.series(), 0u);
  ended.clear();
  t.take("i-b", UINT64_MAX, ended);  // taken out: nothing twice
  EXPECT_TRUE(ended.empty());
}

TEST(SeriesTrackerTest, TwoTenantsSeriesOfTheSameLabelsAreTrackedApart) {
  const auto a = instance("i-a");
  SeriesTracker t;
  Request r1(2, 1000, &a);
  Request r2(2, 2000, &a);  // the same output labels (label_remove took the tenant off)
  for (auto& s : r2.batch.series) s.tenant = 5;
  r1.track(t, 1);
  r2.track(t, 1);
  EXPECT_EQ(t.series(), 4u);
  EXPECT_EQ(t.collisions(), 0u);
  std::vector<EndedSeries> ended;
  t.take("i-a", UINT64_MAX, ended);
  ASSERT_EQ(ended.size(), 4u);
  for (const EndedSeries& e : ended)
    EXPECT_EQ(e.last_timestamp_ms, e.tenant == 5 ? 2000 : 1000) << e.tenant;
}

TEST(SeriesTrackerTest, OlderSamplesDoNotMoveTheTimestampBack) {
  const auto a = instance("i-a");
  SeriesTracker t;
  Request(1, 5000, &a).track(t, 1);
  Request(1, 4000, &a).track(t, 1);
  std::vector<EndedSeries> ended;
  t.take("i-a", UINT64_MAX, ended);
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0].last_timestamp_ms, 5000);
}

TEST(SeriesTrackerTest, ALabelChangeTakesOnlySeriesLastSeenBeforeIt) {
  const auto a = instance("i-a");
  SeriesTracker t;
  Request(2, 1000, &a).track(t, 4);  // i=0, i=1: last seen before the change (generation 5)
  Request after(3, 2000, &a);
  after.per_sink[0].erase(after.per_sink[0].begin(), after.per_sink[0].begin() + 2);
  after.track(t, 5);  // i=2: seen after it
  std::vector<EndedSeries> ended;
  t.take("i-a", 5, ended);
  ASSERT_EQ(ended.size(), 2u);
  EXPECT_EQ(t.series(), 1u);  // i=2 stays
}

TEST(SeriesTrackerTest, ForgetsIdleSeriesAndEmptyInstances) {
  const auto a = instance("i-a"), b = instance("i-b");
  SeriesTracker t;
  Request(2, 1000, &a).track(t, 1, /*now_s=*/100);
  Request r(1, 1000, &b);
  r.values[0] = "x";  // its own label set
  r.batch.labels[1].value = r.values[0];
  r.per_sink[0][0].hash = proto::hash_labels(r.batch.labels_of(r.batch.series[0]));
  r.track(t, 1, /*now_s=*/200);
  EXPECT_EQ(t.instances(), 2u);
  EXPECT_EQ(t.forget_idle(150), 2u);
  EXPECT_EQ(t.series(), 1u);
  EXPECT_EQ(t.instances(), 1u);
  std::vector<EndedSeries> ended;
  t.take("i-a", UINT64_MAX, ended);
  EXPECT_TRUE(ended.empty());
  t.take("i-b", UINT64_MAX, ended);
  EXPECT_EQ(ended.size(), 1u);
}

TEST(SeriesTrackerTest, ASeriesTheSenderEndedIsForgotten) {
  const auto a = instance("i-a");
  SeriesTracker t;
  Request(1, 1000, &a).track(t, 1);
  double stale;
  std::memcpy(&stale, &proto::kStaleNaNBits, sizeof stale);
  Request(1, 2000, &a, stale).track(t, 1);
  EXPECT_EQ(t.series(), 0u);
}

// Every key the same (a weak key hash): the second label set has another check, so it
// is a collision, counted and not tracked, never merged into the first.
TEST(SeriesTrackerTest, KeyCollisionsNeverMixSeries) {
  const auto a = instance("i-a");
  SeriesTracker t([](uint64_t, std::string_view) -> uint64_t { return 42; });
  Request r(2, 1000, &a);
  r.track(t, 1);
  EXPECT_EQ(t.series(), 1u);
  EXPECT_EQ(t.collisions(), 1u);
  Request(2, 2000, &a).track(t, 1);  // again: the first is touched, the second refused
  EXPECT_EQ(t.collisions(), 2u);
  std::vector<EndedSeries> ended;
  t.take("i-a", UINT64_MAX, ended);
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(label_i(ended[0]), "0");
  EXPECT_EQ(ended[0].last_timestamp_ms, 2000);
}

TEST(SeriesTrackerTest, ComparesLabelsWithTheirEncoding) {
  std::vector<proto::Label> labels = {{"__name__", "up"}, {"job", "node"}};
  std::string enc;
  proto::append_labels_v1(enc, labels);
  EXPECT_TRUE(proto::labels_equal_v1(labels, enc));
  labels[1].value = "nodf";
  EXPECT_FALSE(proto::labels_equal_v1(labels, enc));
  labels.pop_back();
  EXPECT_FALSE(proto::labels_equal_v1(labels, enc));
}

}  // namespace
}  // namespace rwgate::staleness
