// The stale-marker sender: series of an instance that goes away end with a staleness
// marker 1 ms after their last sample, on the sink they went to; a change of enrichment
// labels ends the old label sets only; a full queue keeps markers for the next sweep; a
// sink that is gone drops them; draining states end nothing.
#include "staleness/stale_marker_sender.h"

#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <memory>
#include <string>
#include <vector>

#include "../fake_sink.h"
#include "proto/hash.h"

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

// n series m{i="<k>", lifecycle="<state>"} of one instance, one sample each at `ts`.
struct Request {
  std::vector<std::string> values;
  proto::Batch batch;
  std::vector<std::vector<proto::SeriesOut>> per_sink;
  std::vector<const discovery::InstanceRecord*> records;
  Request(int n, int64_t ts, const discovery::InstanceRecord* rec) {
    for (int k = 0; k < n; ++k) values.push_back(std::to_string(k));
    for (int k = 0; k < n; ++k) {
      proto::Series s;
      s.labels_begin = static_cast<uint32_t>(batch.labels.size());
      s.labels_count = 3;
      s.samples_begin = static_cast<uint32_t>(batch.samples.size());
      s.samples_count = 1;
      batch.labels.push_back({"__name__", "m"});
      batch.labels.push_back({"i", values[k]});
      batch.labels.push_back({"lifecycle_state", rec->lifecycle_state});
      batch.samples.push_back({1.0, ts});
      batch.series.push_back(s);
      records.push_back(rec);
    }
    per_sink.resize(1);
    for (uint32_t k = 0; k < batch.series.size(); ++k) {
      const auto labels = batch.labels_of(batch.series[k]);
      per_sink[0].push_back({k, labels, proto::hash_labels(labels), {}});
    }
  }
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
  const discovery::InstanceRecord* report(const std::string& lifecycle) {
    discovery->cache().replace_source("file", {record(lifecycle)});
    return discovery->cache().snapshot()->lookup("10.0.0.1");
  }
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
