// The stale-marker sender: series of an instance that goes away end with a staleness
// marker 1 ms after their last sample, on the sink they went to; a change of enrichment
// labels ends the old label sets only; a full queue keeps markers for the next sweep; a
// sink that is gone drops them; draining states end nothing.
#include "staleness/stale_marker_sender.h"

#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "../fake_sink.h"
#include "tracked_request.h"

namespace rwgate::staleness {
namespace {

using rwgate::testing::FakeSink;

discovery::InstanceRecord record(const std::string& lifecycle) {
  discovery::InstanceRecord r;
  r.instance_id = "i-0abc";
  r.private_ip = "10.0.0.1";
  r.asg_name = "web";
  r.lifecycle_state = lifecycle;
  return r;
}

// n series m{i="<k>", lifecycle_state="<its state>"} of one instance, at `ts`.
struct Request : TrackedRequest {
  Request(int n, int64_t ts, const discovery::InstanceRecord* rec)
      : TrackedRequest(n, ts, rec, 1.0, {{"lifecycle_state", rec->lifecycle_state}}) {}
};

struct Fixture {
  static constexpr uint32_t kSinkId = 3;
  prometheus::Registry registry;
  discovery::SourceMetricFamilies source_metrics{registry};
  ManualClock clock;
  std::shared_ptr<discovery::Discovery> discovery =
      std::make_shared<discovery::Discovery>(discovery::DiscoveryConfig{}, source_metrics);
  SeriesTracker tracker;
  std::shared_ptr<FakeSink> sink = std::make_shared<FakeSink>();
  StaleMarkerSender sender{{&tracker}, registry, clock};

  Fixture() { configure({{kSinkId, sink}}); }
  void configure(std::vector<MarkerSink> sinks) {
    // The default mapping's fields, as the enrichment stage would answer.
    sender.configure(
        discovery, StalenessConfig{},
        [](const discovery::InstanceRecord& a, const discovery::InstanceRecord& b) {
          return a.lifecycle_state != b.lifecycle_state;
        },
        std::move(sinks));
  }
  // Reports the instance as the only one of a file source.
  // The snapshots are kept, so the records (and the label views into them) stay valid.
  const discovery::InstanceRecord* report(const std::string& lifecycle) {
    discovery->cache().replace_source("file", {record(lifecycle)});
    snapshots.push_back(discovery->cache().snapshot());
    return snapshots.back()->lookup("10.0.0.1");
  }
  std::vector<std::shared_ptr<const discovery::DiscoverySnapshot>> snapshots;
  void track(const Request& r) {
    const std::vector<uint32_t> ids = {kSinkId};
    tracker.track({r.batch, r.per_sink, ids, r.records, discovery->cache().snapshot()->generation(),
                   clock.steady_seconds()});
  }
  double counter(const std::string& name) {
    for (const auto& family : registry.Collect()) {
      if (family.name == name && !family.metric.empty()) return family.metric[0].counter.value;
    }
    return -1;
  }
};

TEST(StaleMarkerSenderTest, EndsTheSeriesOfAGoneInstanceOneMillisecondAfterTheirLastSample) {
  Fixture f;
  const Request live(3, 5000, f.report("InService"));
  f.track(live);
  f.sender.sweep();
  EXPECT_TRUE(f.sink->taken.empty());  // nothing is gone yet

  f.report("Terminated");
  f.sender.sweep();
  ASSERT_EQ(f.sink->taken.size(), 3u);
  for (const FakeSink::Taken& t : f.sink->taken) {
    EXPECT_TRUE(t.stale);
    EXPECT_EQ(t.timestamp_ms, 5001);
  }
  EXPECT_EQ(f.counter("rwgate_staleness_markers_total"), 3);
  EXPECT_EQ(f.tracker.series(), 0u);  // taken out: ended once
}

TEST(StaleMarkerSenderTest, AMarkerGoesToTheTenantItsSeriesCameFrom) {
  Fixture f;
  Request live(2, 5000, f.report("InService"));
  live.batch.series[1].tenant = 4;
  f.track(live);
  f.report("Terminated");
  f.sender.sweep();
  ASSERT_EQ(f.sink->taken.size(), 2u);
  std::multiset<uint32_t> tenants;
  for (const FakeSink::Taken& t : f.sink->taken) tenants.insert(t.tenant);
  EXPECT_EQ(tenants, (std::multiset<uint32_t>{0, 4}));
}

TEST(StaleMarkerSenderTest, AnEnrichmentLabelChangeEndsOnlyTheOldLabelSets) {
  Fixture f;
  const Request before(2, 5000, f.report("InService"));
  f.track(before);
  const Request after(2, 6000, f.report("Terminating:Wait"));  // draining: not gone
  f.track(after);
  f.sender.sweep();
  ASSERT_EQ(f.sink->taken.size(), 2u);
  for (const FakeSink::Taken& t : f.sink->taken) {
    EXPECT_TRUE(t.stale);
    EXPECT_EQ(t.timestamp_ms, 5001);
    std::vector<proto::Label> labels;
    ASSERT_TRUE(proto::read_labels_v1(t.labels, labels));
    EXPECT_EQ(proto::label_value(labels, "lifecycle_state"), "InService");
  }
  EXPECT_EQ(f.tracker.series(), 2u);  // the Terminating:Wait series go on
}

TEST(StaleMarkerSenderTest, MarkersAFullQueueRefusedGoOutAtTheNextSweep) {
  Fixture f;
  f.track(Request(2, 5000, f.report("InService")));
  f.sink->full = true;
  f.report("Terminated");
  f.sender.sweep();
  EXPECT_TRUE(f.sink->taken.empty());
  f.sink->full = false;
  f.sender.sweep();
  ASSERT_EQ(f.sink->taken.size(), 2u);
  EXPECT_TRUE(f.sink->taken[0].stale);
}

TEST(StaleMarkerSenderTest, MarkersForASinkThatIsGoneAreDroppedAndCounted) {
  Fixture f;
  f.track(Request(2, 5000, f.report("InService")));
  f.configure({});  // the sink was removed by a reload
  f.report("Terminated");
  f.sender.sweep();
  EXPECT_TRUE(f.sink->taken.empty());
  EXPECT_EQ(f.counter("rwgate_staleness_markers_dropped_total"), 2);
}

TEST(StaleMarkerSenderTest, IdleSeriesAreForgottenAfterTheIdleTimeout) {
  Fixture f;
  f.track(Request(2, 5000, f.report("InService")));
  f.sender.sweep();
  EXPECT_EQ(f.tracker.series(), 2u);
  f.clock.advance(StalenessConfig{}.series_idle_timeout + std::chrono::minutes(1));
  f.sender.sweep();
  EXPECT_EQ(f.tracker.series(), 0u);
  EXPECT_EQ(f.counter("rwgate_staleness_forgotten_series_total"), 2);
  EXPECT_TRUE(f.sink->taken.empty());  // forgetting sends nothing
}

}  // namespace
}  // namespace rwgate::staleness
