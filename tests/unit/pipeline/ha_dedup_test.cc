// HA-pair deduplication: the first replica heard from is elected per cluster, the others'
// series are dropped, the replica label comes off what goes on, a silent elected replica
// is replaced after failover_timeout, and the table stays within max_clusters.
#include "pipeline/ha_dedup.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <deque>
#include <map>

#include "base/yaml_reader.h"
#include "tests/unit/pipeline/label_batch.h"

namespace rwgate::pipeline {
namespace {

using std::chrono::seconds;

using testing::TestBatch;

HaDedupConfig config(size_t max_clusters = 100) {
  HaDedupConfig c;
  c.enabled = true;
  c.failover_timeout = seconds(30);
  c.max_clusters = max_clusters;
  return c;
}

std::map<std::string, std::string> up(std::string cluster, std::string replica) {
  std::map<std::string, std::string> m{{"__name__", "up"}, {"job", "node"}};
  if (!cluster.empty()) m["cluster"] = cluster;
  if (!replica.empty()) m["__replica__"] = replica;
  return m;
}

TEST(HaDedupTest, TheFirstReplicaIsElectedAndLosesItsReplicaLabel) {
  ManualClock clock;
  HaTracker tracker(clock);
  tracker.configure(config());
  TestBatch a({up("c1", "r1"), up("", ""), up("c2", "r2")});
  const HaDedupStats sa = tracker.dedup(a.batch);
  EXPECT_EQ(sa.dropped_series, 0u);
  EXPECT_EQ(a.series(), (std::vector<std::map<std::string, std::string>>{
                            {{"__name__", "up"}, {"cluster", "c1"}, {"job", "node"}},
                            {{"__name__", "up"}, {"job", "node"}},
                            {{"__name__", "up"}, {"cluster", "c2"}, {"job", "node"}}}));
  EXPECT_TRUE(a.batch.series[0].raw_labels.empty());
  EXPECT_EQ(a.batch.series[1].raw_labels, "raw");  // untouched

  // The other replica of c1 is dropped, samples counted; c2's r2 still goes on.
  TestBatch b({up("c1", "r2"), up("c2", "r2")}, 3);
  const HaDedupStats sb = tracker.dedup(b.batch);
  EXPECT_EQ(sb.dropped_series, 1u);
  EXPECT_EQ(sb.dropped_samples, 3u);
  EXPECT_EQ(b.series(), (std::vector<std::map<std::string, std::string>>{
                            {{"__name__", "up"}, {"cluster", "c2"}, {"job", "node"}}}));
  EXPECT_EQ(b.batch.samples.size(), 6u);  // the arrays stay: the answer counts what was sent
  EXPECT_EQ(tracker.clusters(), 2u);
}

TEST(HaDedupTest, FailsOverWhenTheElectedReplicaIsSilentForTheTimeout) {
  ManualClock clock;
  HaTracker tracker(clock);
  tracker.configure(config());
  auto accepted = [&](const std::string& replica) {
    TestBatch b({up("c1", replica)});
    tracker.dedup(b.batch);
    return b.batch.series.size() == 1;
  };
  EXPECT_TRUE(accepted("r1"));
  clock.advance(seconds(20));
  EXPECT_FALSE(accepted("r2"));
  EXPECT_TRUE(accepted("r1"));  // r1 still sends: its lease runs from now
  clock.advance(seconds(30));
  EXPECT_FALSE(accepted("r2"));  // exactly the timeout: not yet
  clock.advance(seconds(1));
  TestBatch b({up("c1", "r2")});
  EXPECT_EQ(tracker.dedup(b.batch).failovers, 1u);
  EXPECT_EQ(b.batch.series.size(), 1u);
  EXPECT_FALSE(accepted("r1"));  // r1 is back, too late: r2 keeps it
  const auto report = tracker.report(nullptr);
  ASSERT_EQ(report.size(), 1u);
  EXPECT_EQ(report[0].elected, "r2");
  EXPECT_EQ(report[0].failovers, 1u);
  EXPECT_NE(tracker.report_json(nullptr).find("\"elected_replica\":\"r2\""), std::string::npos);
}

TEST(HaDedupTest, EachSeriesIsDecidedOnItsOwnInAMixedRequest) {
  ManualClock clock;
  HaTracker tracker(clock);
  tracker.configure(config());
  TestBatch first({up("c1", "r1")});
  tracker.dedup(first.batch);
  // A proxy in front mixed both replicas and another cluster into one request.
  TestBatch mixed({up("c1", "r2"), up("c1", "r1"), up("c3", "x"), up("c1", "r2")});
  const HaDedupStats s = tracker.dedup(mixed.batch);
  EXPECT_EQ(s.dropped_series, 2u);
  ASSERT_EQ(mixed.batch.series.size(), 2u);
  EXPECT_EQ(mixed.series()[0].at("cluster"), "c1");
  EXPECT_EQ(mixed.series()[1].at("cluster"), "c3");
}

TEST(HaDedupTest, TwoTenantsClustersOfOneNameAreElectedApart) {
  ManualClock clock;
  HaTracker tracker(clock);
  tracker.configure(config());
  sinks::TenantNames names;
  const uint32_t a = *names.intern("team-a", 10), b = *names.intern("team-b", 10);
  TestBatch first({up("c1", "r1")});
  first.batch.series[0].tenant = a;
  tracker.dedup(first.batch);
  // The same cluster name under team-b is another cluster: its first replica is elected.
  TestBatch second({up("c1", "r2"), up("c1", "r2")});
  second.batch.series[0].tenant = b;
  second.batch.series[1].tenant = a;
  EXPECT_EQ(tracker.dedup(second.batch).dropped_series, 1u);
  ASSERT_EQ(second.batch.series.size(), 1u);
  EXPECT_EQ(second.batch.series[0].tenant, b);
  const auto report = tracker.report(&names);
  ASSERT_EQ(report.size(), 2u);
  EXPECT_EQ(report[0].tenant, "team-a");
  EXPECT_EQ(report[0].elected, "r1");
  EXPECT_EQ(report[1].tenant, "team-b");
  EXPECT_EQ(report[1].elected, "r2");
  EXPECT_NE(tracker.report_json(&names).find("\"tenant\":\"team-b\""), std::string::npos);
}

TEST(HaDedupTest, AReplicaLabelWithoutAClusterPassesUntouchedAndIsCounted) {
  ManualClock clock;
  HaTracker tracker(clock);
  tracker.configure(config());
  TestBatch b({up("", "r1"), up("c1", "")});
  const HaDedupStats s = tracker.dedup(b.batch);
  EXPECT_EQ(s.no_cluster, 1u);
  EXPECT_EQ(b.series(),
            (std::vector<std::map<std::string, std::string>>{up("", "r1"), up("c1", "")}));
  EXPECT_EQ(tracker.clusters(), 0u);
}

TEST(HaDedupTest, TheClusterIdleLongestIsForgottenAtTheBound) {
  ManualClock clock;
  HaTracker tracker(clock);
  tracker.configure(config(3));
  for (const char* c : {"a", "b", "c"}) {
    TestBatch b({up(c, "r1")});
    tracker.dedup(b.batch);
    clock.advance(seconds(1));
  }
  TestBatch touch({up("a", "r1")});  // a is heard from again: b is now idle longest
  tracker.dedup(touch.batch);
  TestBatch flood({up("d", "r1"), up("e", "r1")});
  EXPECT_EQ(tracker.dedup(flood.batch).evicted, 2u);
  std::vector<std::string> names;
  for (const auto& r : tracker.report(nullptr)) names.push_back(r.cluster);
  EXPECT_EQ(names, (std::vector<std::string>{"a", "d", "e"}));
  // A smaller bound on reload trims at once.
  tracker.configure(config(1));
  EXPECT_EQ(tracker.clusters(), 1u);
}

// A sender inventing a new cluster in every request cannot grow the table: at the default
// bound of 10000, 25000 distinct clusters leave the 10000 heard from last, every eviction
// counted, and a cluster kept still has its election.
TEST(HaDedupTest, TwentyFiveThousandClustersStayWithinTheDefaultBound) {
  ManualClock clock;
  HaTracker tracker(clock);
  HaDedupConfig c = config();
  c.max_clusters = HaDedupConfig{}.max_clusters;
  ASSERT_EQ(c.max_clusters, 10000u);
  tracker.configure(c);
  uint64_t evicted = 0;
  for (int i = 0; i < 25000; i += 500) {
    std::vector<std::map<std::string, std::string>> series;
    for (int j = i; j < i + 500; ++j) series.push_back(up("c" + std::to_string(j), "r1"));
    TestBatch b(series);
    evicted += tracker.dedup(b.batch).evicted;
    clock.advance(seconds(1));
  }
  EXPECT_EQ(tracker.clusters(), 10000u);
  EXPECT_EQ(evicted, 15000u);
  // c24999 is kept and still elects r1; c0 was forgotten, so its next replica is elected.
  TestBatch kept({up("c24999", "r2")});
  EXPECT_EQ(tracker.dedup(kept.batch).dropped_series, 1u);
  TestBatch forgotten({up("c0", "r2")});
  EXPECT_EQ(tracker.dedup(forgotten.batch).dropped_series, 0u);
}

TEST(HaDedupTest, ConfigErrorsNameTheirKey) {
  auto errors = [](const std::string& text) {
    std::vector<std::string> errs;
    yaml::Reader r(errs);
    HaDedupConfig c;
    read_ha_dedup(r, YAML::Load(text), c);
    return errs;
  };
  EXPECT_TRUE(errors("{}").empty());
  EXPECT_TRUE(
      errors("{cluster_label: ha_cluster, replica_label: replica, failover_timeout: 10s}").empty());
  const auto same = errors("{cluster_label: x, replica_label: x}");
  ASSERT_EQ(same.size(), 1u);
  EXPECT_NE(same[0].find("ha_dedup.replica_label"), std::string::npos);
  const auto name = errors("{cluster_label: __name__}");
  ASSERT_EQ(name.size(), 1u);
  EXPECT_NE(name[0].find("ha_dedup.cluster_label"), std::string::npos);
  const auto short_timeout = errors("{failover_timeout: 100ms}");
  ASSERT_EQ(short_timeout.size(), 1u);
  EXPECT_NE(short_timeout[0].find("ha_dedup.failover_timeout"), std::string::npos);
  EXPECT_EQ(errors("{unknown: 1}").size(), 1u);
}

}  // namespace
}  // namespace rwgate::pipeline
