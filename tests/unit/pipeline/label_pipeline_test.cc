// The per-series result cache: same answers as computing afresh, hits in the steady
// state, invalidation by generation, a bound on entries, and no mix-ups on collisions.
#include "pipeline/label_pipeline.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <map>
#include <string>

#include "proto/encode.h"
#include "proto/hash.h"

namespace rwgate::pipeline {
namespace {

std::vector<relabel::Rule> rules_of(const std::string& yaml) {
  std::vector<std::string> errors;
  auto rules = relabel::parse_rules(YAML::Load(yaml), "rules", errors);
  EXPECT_TRUE(errors.empty());
  return rules;
}

// A batch of n series named m, with label i=<k> for k in [from, from+n).
struct Fixture {
  std::vector<std::string> values;
  proto::Batch batch;
  Fixture(int from, int n) {
    values.reserve(n);
    for (int k = from; k < from + n; ++k) values.push_back(std::to_string(k));
    for (int k = 0; k < n; ++k) {
      proto::Series s;
      s.labels_begin = static_cast<uint32_t>(batch.labels.size());
      batch.labels.push_back({"__name__", "m"});
      batch.labels.push_back({"i", values[k]});
      s.labels_count = 2;
      batch.series.push_back(s);
    }
  }
};

PipelineRules make_rules(uint64_t generation, size_t capacity) {
  PipelineRules r;
  r.generation = generation;
  r.cache_entries_per_thread = capacity;
  // Global: copy i into j. Sink 0: nothing more. Sink 1: drop odd i, add sink="b".
  r.global = rules_of("[{source_labels: [i], target_label: j}]");
  r.per_sink.push_back({});
  r.per_sink.push_back(
      rules_of("[{source_labels: [i], regex: '.*[13579]', action: drop},"
               " {target_label: sink, replacement: b}]"));
  return r;
}

void expect_correct(const Fixture& f, const std::vector<std::vector<SeriesOut>>& out, int from) {
  ASSERT_EQ(out.size(), 2u);
  ASSERT_EQ(out[0].size(), f.batch.series.size());
  for (const SeriesOut& so : out[0]) {
    const std::string i(proto::label_value(so.labels, "i"));
    EXPECT_EQ(i, std::to_string(from + static_cast<int>(so.index)));
    EXPECT_EQ(proto::label_value(so.labels, "j"), i);
    EXPECT_EQ(so.labels.size(), 3u);
  }
  for (const SeriesOut& so : out[1]) {
    const int i = std::stoi(std::string(proto::label_value(so.labels, "i")));
    EXPECT_EQ(i % 2, 0);
    EXPECT_EQ(i, from + static_cast<int>(so.index));
    EXPECT_EQ(proto::label_value(so.labels, "sink"), "b");
  }
}

TEST(ResultCacheTest, SecondPassIsAllHitsWithTheSameResults) {
  Fixture f(0, 100);
  LabelPipeline cache;
  PipelineRules rules = make_rules(1, 1000);
  std::vector<std::vector<SeriesOut>> out;
  PipelineStats stats;
  cache.run(rules, nullptr, f.batch, out, stats);
  EXPECT_EQ(stats.misses, 100u);
  expect_correct(f, out, 0);
  EXPECT_EQ(stats.dropped_per_sink, (std::vector<uint64_t>{0, 50}));
  PipelineStats again;
  cache.run(rules, nullptr, f.batch, out, again);
  EXPECT_EQ(again.hits, 100u);
  EXPECT_EQ(again.misses, 0u);
  expect_correct(f, out, 0);
}

TEST(ResultCacheTest, NewGenerationRecomputes) {
  Fixture f(0, 10);
  LabelPipeline cache;
  std::vector<std::vector<SeriesOut>> out;
  PipelineStats stats;
  cache.run(make_rules(1, 100), nullptr, f.batch, out, stats);
  PipelineRules changed = make_rules(2, 100);
  changed.per_sink[0] = rules_of("[{target_label: sink, replacement: a}]");
  PipelineStats after;
  cache.run(changed, nullptr, f.batch, out, after);
  EXPECT_EQ(after.misses, 10u);
  for (const SeriesOut& so : out[0]) EXPECT_EQ(proto::label_value(so.labels, "sink"), "a");
}

TEST(ResultCacheTest, StaysWithinItsBoundAndEvicts) {
  LabelPipeline cache;
  std::vector<std::vector<SeriesOut>> out;
  PipelineRules rules = make_rules(1, 16);
  uint64_t evictions = 0;
  for (int round = 0; round < 20; ++round) {
    Fixture f(round * 10, 10);
    PipelineStats stats;
    cache.run(rules, nullptr, f.batch, out, stats);
    expect_correct(f, out, round * 10);
    evictions += stats.evictions;
    EXPECT_LE(cache.size(), 16u);
  }
  EXPECT_GT(evictions, 0u);
}

TEST(ResultCacheTest, ARequestLargerThanTheCacheIsStillCorrect) {
  // Entries used by the request in progress are pinned; what does not fit overflows.
  Fixture f(0, 50);
  LabelPipeline cache;
  std::vector<std::vector<SeriesOut>> out;
  PipelineStats stats;
  cache.run(make_rules(1, 8), nullptr, f.batch, out, stats);
  expect_correct(f, out, 0);
  EXPECT_LE(cache.size(), 8u);
}

uint64_t constant_hash(std::string_view) { return 42; }

TEST(ResultCacheTest, HashCollisionsNeverMixUpSeries) {
  // Every series hashes to the same value: results must still be each series' own.
  LabelPipeline cache(constant_hash);
  std::vector<std::vector<SeriesOut>> out;
  PipelineRules rules = make_rules(1, 100);
  for (int round = 0; round < 3; ++round) {
    Fixture f(0, 20);
    PipelineStats stats;
    cache.run(rules, nullptr, f.batch, out, stats);
    expect_correct(f, out, 0);
  }
  Fixture g(5, 1);
  PipelineStats stats;
  cache.run(rules, nullptr, g.batch, out, stats);
  expect_correct(g, out, 5);
}

TEST(ResultCacheTest, HashDependsOnLabelBoundaries) {
  const std::vector<proto::Label> a = {{"ab", "c"}};
  const std::vector<proto::Label> b = {{"a", "bc"}};
  EXPECT_NE(proto::hash_labels(a), proto::hash_labels(b));
}

}  // namespace
}  // namespace rwgate::pipeline

namespace rwgate::pipeline {
namespace {

struct OneSeries {
  std::vector<std::string> keep;
  proto::Batch batch;
  explicit OneSeries(std::vector<proto::Label> labels) {
    for (auto& l : labels) {
      keep.emplace_back(l.name);
      keep.emplace_back(l.value);
    }
    proto::Series s;
    s.labels_count = static_cast<uint32_t>(labels.size());
    for (size_t i = 0; i < labels.size(); ++i)
      batch.labels.push_back({keep[2 * i], keep[2 * i + 1]});
    batch.series.push_back(s);
  }
};

std::map<std::string, std::string> as_map(std::span<const proto::Label> labels) {
  std::map<std::string, std::string> m;
  for (const auto& l : labels) m[std::string(l.name)] = std::string(l.value);
  return m;
}

discovery::InstanceRecord fleet_record(const std::string& state) {
  discovery::InstanceRecord r;
  r.instance_id = "i-0abc";
  r.asg_name = "web";
  r.availability_zone = "us-east-1a";
  r.lifecycle_state = state;
  r.private_ip = "10.0.0.1";
  r.tags["Team"] = "pay";
  return r;
}

TEST(EnrichTest, DefaultMappingAddsFleetLabelsButKeepsTheSenders) {
  PipelineRules rules;
  rules.generation = 1;
  rules.enrich.enabled = true;
  rules.per_sink.resize(1);
  discovery::DiscoverySnapshot fleet(1, {fleet_record("InService")});
  OneSeries in(
      {{"__name__", "up"}, {"availability_zone", "sender-says"}, {"instance", "10.0.0.1:9100"}});
  LabelPipeline cache;
  std::vector<std::vector<SeriesOut>> out;
  PipelineStats stats;
  cache.run(rules, &fleet, in.batch, out, stats);
  EXPECT_EQ(as_map(out[0][0].labels),
            (std::map<std::string, std::string>{{"__name__", "up"},
                                                {"asg", "web"},
                                                {"availability_zone", "sender-says"},
                                                {"instance", "10.0.0.1:9100"},
                                                {"instance_id", "i-0abc"},
                                                {"lifecycle_state", "InService"}}));
  EXPECT_EQ(stats.enrich_hits, 1u);
  // A new discovery snapshot invalidates the cached result.
  discovery::DiscoverySnapshot later(2, {fleet_record("Terminating:Wait")});
  cache.run(rules, &later, in.batch, out, stats);
  EXPECT_EQ(as_map(out[0][0].labels).at("lifecycle_state"), "Terminating:Wait");
}

// drop_late_samples: a gone instance's series are dropped (not as relabel drops), also
// once it left the snapshot; when it comes back, they flow again. Cached and direct.
TEST(EnrichTest, LateSamplesOfGoneInstancesAreDroppedUntilTheyComeBack) {
  for (const bool with_rules : {false, true}) {
    PipelineRules rules;
    rules.generation = 1;
    rules.enrich.enabled = true;
    rules.enrich.drop_late = true;
    rules.per_sink.resize(1);
    if (with_rules) {
      std::vector<std::string> errors;
      rules.global =
          relabel::parse_rules(YAML::Load("[{target_label: x, replacement: y}]"), "r", errors);
    }
    OneSeries in({{"__name__", "up"}, {"instance", "10.0.0.1:9100"}});
    LabelPipeline cache;
    std::vector<std::vector<SeriesOut>> out;
    PipelineStats stats;
    discovery::DiscoverySnapshot live(1, {fleet_record("InService")});
    cache.run(rules, &live, in.batch, out, stats);
    ASSERT_EQ(out[0].size(), 1u);
    EXPECT_EQ(stats.records[0], &live.records()[0]);
    discovery::DiscoverySnapshot terminated(2, {fleet_record("Terminated")});
    cache.run(rules, &terminated, in.batch, out, stats);
    EXPECT_TRUE(out[0].empty()) << with_rules;
    EXPECT_EQ(stats.late_series, 1u);
    EXPECT_EQ(stats.dropped_per_sink[0], 0u);
    EXPECT_EQ(stats.records[0], nullptr);
    discovery::DiscoverySnapshot expired(3, {}, {fleet_record("InService")});
    cache.run(rules, &expired, in.batch, out, stats);
    EXPECT_TRUE(out[0].empty());
    EXPECT_EQ(stats.late_series, 1u);
    discovery::DiscoverySnapshot back(4, {fleet_record("InService")});
    cache.run(rules, &back, in.batch, out, stats);
    ASSERT_EQ(out[0].size(), 1u);
    EXPECT_EQ(stats.late_series, 0u);
    rules.enrich.drop_late = false;
    rules.generation = 2;
    cache.run(rules, &terminated, in.batch, out, stats);
    ASSERT_EQ(out[0].size(), 1u);
    EXPECT_EQ(as_map(out[0][0].labels).at("lifecycle_state"), "Terminated");
  }
}

TEST(EnrichTest, CustomRulesSeeMetaLabelsWhichAreDroppedAfterwards) {
  PipelineRules rules;
  rules.generation = 1;
  rules.enrich.enabled = true;
  rules.enrich.match_label = "host";
  std::vector<std::string> errors;
  rules.enrich.rules =
      relabel::parse_rules(YAML::Load("[{source_labels: [__meta_ec2_tag_Team], target_label: team},"
                                      " {source_labels: [__meta_asg_name], target_label: job}]"),
                           "r", errors);
  ASSERT_TRUE(errors.empty());
  rules.per_sink.resize(1);
  discovery::DiscoverySnapshot fleet(1, {fleet_record("InService")});
  OneSeries in({{"__name__", "up"}, {"host", "[10.0.0.1]:1"}, {"job", "node"}});
  LabelPipeline cache;
  std::vector<std::vector<SeriesOut>> out;
  PipelineStats stats;
  cache.run(rules, &fleet, in.batch, out, stats);
  // An explicit rule overwrites the sender's job; no __meta_* label survives.
  EXPECT_EQ(as_map(out[0][0].labels),
            (std::map<std::string, std::string>{
                {"__name__", "up"}, {"host", "[10.0.0.1]:1"}, {"job", "web"}, {"team", "pay"}}));
}

TEST(EnrichTest, MissPassesOrAnnotates) {
  PipelineRules rules;
  rules.generation = 1;
  rules.enrich.enabled = true;
  rules.per_sink.resize(1);
  discovery::DiscoverySnapshot fleet(1, {fleet_record("InService")});
  OneSeries in({{"__name__", "up"}, {"instance", "10.9.9.9:9100"}});
  LabelPipeline cache;
  std::vector<std::vector<SeriesOut>> out;
  PipelineStats stats;
  cache.run(rules, &fleet, in.batch, out, stats);
  EXPECT_EQ(out[0][0].labels.size(), 2u);
  EXPECT_EQ(stats.enrich_misses, 1u);
  rules.generation = 2;
  rules.enrich.annotate_miss = true;
  cache.run(rules, &fleet, in.batch, out, stats);
  EXPECT_EQ(as_map(out[0][0].labels).at("enrichment"), "miss");
  OneSeries own({{"__name__", "up"}, {"enrichment", "sender"}, {"instance", "10.9.9.9:1"}});
  cache.run(rules, &fleet, own.batch, out, stats);
  EXPECT_EQ(as_map(out[0][0].labels).at("enrichment"), "sender");  // not overwritten
}

// Enrichment with no rules runs without the cache (PipelineRules::direct). Its output
// must be what the cached path computes for the same series: labels, their encoding and
// the shard hash, for hits, misses, sender labels that win and series with no instance.
TEST(EnrichTest, DirectPathMatchesTheCachedPath) {
  discovery::InstanceRecord partial = fleet_record("InService");
  partial.instance_id = "i-0def";
  partial.private_ip = "10.0.0.2";
  partial.asg_name.clear();  // not in an ASG: no asg label
  discovery::DiscoverySnapshot fleet(1, {fleet_record("Pending"), partial});
  const std::vector<std::vector<proto::Label>> inputs = {
      {{"__name__", "up"}, {"instance", "10.0.0.1:9100"}, {"job", "node"}},
      {{"__name__", "up"}, {"instance", "10.0.0.2:9100"}},
      {{"__name__", "up"}, {"instance", "10.0.0.9:9100"}},
      {{"__name__", "up"}, {"job", "no-instance"}},
      {{"__name__", "a"}, {"asg", "mine"}, {"instance", "10.0.0.1:1"}, {"zzz", "last"}},
      {{"__name__", "b"}, {"enrichment", "sender"}, {"instance", "10.0.0.7"}},
  };
  for (const bool annotate : {false, true}) {
    PipelineRules direct;
    direct.generation = 1;
    direct.enrich.enabled = true;
    direct.enrich.annotate_miss = annotate;
    direct.per_sink.resize(2);
    ASSERT_TRUE(direct.direct());
    PipelineRules cached = direct;
    cached.global = rules_of("[{action: labeldrop, regex: not_a_label_anyone_has}]");
    ASSERT_FALSE(cached.direct());
    for (const auto& labels : inputs) {
      OneSeries in(labels);
      LabelPipeline a, b;
      std::vector<std::vector<SeriesOut>> out_a, out_b;
      PipelineStats stats_a, stats_b;
      a.run(direct, &fleet, in.batch, out_a, stats_a);
      b.run(cached, &fleet, in.batch, out_b, stats_b);
      ASSERT_EQ(out_a.size(), 2u);
      for (size_t s = 0; s < 2; ++s) {
        ASSERT_EQ(out_a[s].size(), 1u);
        ASSERT_EQ(out_b[s].size(), 1u);
        const SeriesOut& x = out_a[s][0];
        const SeriesOut& y = out_b[s][0];
        EXPECT_EQ(std::vector<proto::Label>(x.labels.begin(), x.labels.end()),
                  std::vector<proto::Label>(y.labels.begin(), y.labels.end()))
            << labels[1].value;
        EXPECT_EQ(x.hash, proto::hash_labels(x.labels));
        EXPECT_EQ(x.hash, y.hash);
        std::string want;
        proto::append_labels_v1(want, x.labels);
        EXPECT_TRUE(x.encoded_labels.empty());  // the sink encodes the views
        EXPECT_EQ(y.encoded_labels, want);
      }
      EXPECT_EQ(stats_a.enrich_hits, stats_b.enrich_hits);
      EXPECT_EQ(stats_a.enrich_misses, stats_b.enrich_misses);
      EXPECT_EQ(stats_a.hits + stats_a.misses, 0u);  // the cache was not used
    }
  }
}

// A Prometheus shard's request mixes its targets. The direct path keeps what it learnt of
// each target (lb check, discovery match) across series and requests: every series of an
// interleaved request must still get its own target's labels, as the cached path gives
// them, and a new snapshot must be seen at once.
TEST(EnrichTest, DirectPathGivesEachTargetOfAMixedRequestItsOwnLabels) {
  std::string why;
  PipelineRules direct;
  direct.generation = 1;
  direct.enrich.enabled = true;
  direct.enrich.annotate_miss = true;
  direct.lb.enabled = true;
  direct.lb.names = lb::LbNamePatterns::build({}, why);
  direct.lb.jobs["dropme"] = lb::LbAction::kDrop;
  direct.per_sink.resize(1);
  ASSERT_TRUE(direct.direct());
  PipelineRules cached = direct;
  cached.global = rules_of("[{action: labeldrop, regex: not_a_label_anyone_has}]");
  const std::string elb = "a-1.us-east-1.elb.amazonaws.com:80";
  std::vector<std::vector<proto::Label>> series;
  for (const char* name : {"up", "node_load1", "node_load5"}) {
    series.push_back({{"__name__", name}, {"instance", "10.0.0.1:9100"}, {"job", "node"}});
    series.push_back({{"__name__", name}, {"instance", elb}, {"job", "node"}});
    series.push_back({{"__name__", name}, {"instance", "10.0.0.9:9100"}, {"job", "node"}});
    series.push_back({{"__name__", name}, {"instance", elb}, {"job", "dropme"}});
    series.push_back({{"__name__", name}, {"instance", "10.0.0.1:9100"}, {"job", "other"}});
  }
  proto::Batch batch;
  for (const auto& labels : series) {
    proto::Series s;
    s.labels_begin = static_cast<uint32_t>(batch.labels.size());
    s.labels_count = static_cast<uint32_t>(labels.size());
    batch.labels.insert(batch.labels.end(), labels.begin(), labels.end());
    batch.series.push_back(s);
  }
  LabelPipeline a, b;
  std::vector<std::vector<SeriesOut>> out_a, out_b;
  const discovery::DiscoverySnapshot first(1, {fleet_record("InService")});
  const discovery::DiscoverySnapshot second(2, {fleet_record("Terminating:Wait")});
  for (const auto* fleet : {&first, &first, &second}) {
    const std::string state = fleet == &first ? "InService" : "Terminating:Wait";
    PipelineStats stats_a, stats_b;
    a.run(direct, fleet, batch, out_a, stats_a);
    b.run(cached, fleet, batch, out_b, stats_b);
    ASSERT_EQ(out_a[0].size(), 12u);  // the three dropme series go nowhere
    ASSERT_EQ(out_b[0].size(), out_a[0].size());
    for (size_t i = 0; i < out_a[0].size(); ++i) {
      EXPECT_EQ(out_a[0][i].index, out_b[0][i].index);
      EXPECT_EQ(as_map(out_a[0][i].labels), as_map(out_b[0][i].labels)) << i;
    }
    EXPECT_EQ(as_map(out_a[0][0].labels).at("lifecycle_state"), state);
    EXPECT_EQ(as_map(out_a[0][1].labels).at("scrape_via"), "load_balancer");
    EXPECT_EQ(as_map(out_a[0][2].labels).at("enrichment"), "miss");
    EXPECT_EQ(stats_a.records, stats_b.records);
    EXPECT_EQ(stats_a.lb_flagged.size(), 6u);
    EXPECT_EQ(stats_a.enrich_hits, 6u);
    EXPECT_EQ(stats_b.enrich_hits, 6u);
    // The direct path does not count the dropped load-balanced series as misses.
    EXPECT_EQ(stats_a.enrich_misses, 6u);
  }
}

// With encode_direct (stale-target tracking on), RW 1.0 input is spliced: the sender's
// Label fields copied, the fleet labels encoded between them. The bytes must be exactly
// what encoding the output labels writes, for every kind of series in one request (the
// enrichment lookup is shared by a run of one instance's series), and a sender whose
// Label fields are laid out otherwise (value before name) gets them re-encoded. The added
// labels' views point into the memo's encoded fields, not into the snapshot.
TEST(EnrichTest, DirectPathSplicesTheSendersLabelFieldsIntoCanonicalBytes) {
  discovery::InstanceRecord other = fleet_record("InService");
  other.instance_id = "i-0def";
  other.private_ip = "10.0.0.2";
  discovery::DiscoverySnapshot fleet(1, {fleet_record("Pending"), other});
  const std::string long_name(200, 'n'), long_value(300, 'v');  // two-byte lengths
  const std::vector<std::vector<proto::Label>> inputs = {
      {{"__name__", "up"}, {"instance", "10.0.0.1:9100"}, {"job", "node"}},
      {{"__name__", "x"}, {"instance", "10.0.0.1:9100"}, {"job", "node"}},
      {{"__name__", "up"}, {"instance", "10.0.0.2:9100"}},
      {{"__name__", "up"}, {"instance", "10.0.0.9:9100"}},
      {{"__name__", "up"}, {"job", "no-instance"}},
      {{"__name__", "a"}, {"asg", "mine"}, {"instance", "10.0.0.1:1"}, {"zzz", "last"}},
      {{"__name__", "b"}, {"enrichment", "sender"}, {"instance", "10.0.0.2"}},
      {{"__name__", long_name}, {"instance", "10.0.0.2:1"}, {"v", long_value}},
  };
  proto::Batch sent;
  for (const auto& labels : inputs) {
    proto::Series s;
    s.labels_begin = static_cast<uint32_t>(sent.labels.size());
    s.labels_count = static_cast<uint32_t>(labels.size());
    s.samples_begin = static_cast<uint32_t>(sent.samples.size());
    s.samples_count = 1;
    for (const auto& l : labels) sent.labels.push_back(l);
    sent.samples.push_back({1.0, 1000});
    sent.series.push_back(s);
  }
  std::string body;
  proto::encode_batch(proto::Protocol::kV1, sent, body);
  // One more series whose Label fields carry the value first.
  auto len_field = [](int field, const std::string& bytes) {
    std::string f(1, static_cast<char>(field << 3 | 2));
    f.push_back(static_cast<char>(bytes.size()));
    return f + bytes;
  };
  const std::string ts = len_field(1, len_field(2, "up") + len_field(1, "__name__")) +
                         len_field(1, len_field(2, "10.0.0.1:9") + len_field(1, "instance")) +
                         len_field(2, std::string("\x09\0\0\0\0\0\0\xf0\x3f\x10\x01", 11));
  body += len_field(1, ts);

  proto::Decoder decoder;
  proto::Batch batch;
  const Status st = decoder.decode(proto::Protocol::kV1, body, batch);
  ASSERT_TRUE(st.ok()) << st.reason();
  ASSERT_EQ(batch.series.size(), inputs.size() + 1);
  // The last one's bytes are not what encoding writes: it keeps no raw bytes.
  for (size_t i = 0; i < inputs.size(); ++i) ASSERT_FALSE(batch.series[i].raw_labels.empty());
  ASSERT_TRUE(batch.series.back().raw_labels.empty());
  PipelineRules rules;
  rules.generation = 1;
  rules.enrich.enabled = true;
  rules.encode_direct = true;
  rules.per_sink.resize(1);
  ASSERT_TRUE(rules.direct());
  LabelPipeline pipeline;
  std::vector<std::vector<SeriesOut>> out;
  PipelineStats stats;
  pipeline.run(rules, &fleet, batch, out, stats);
  ASSERT_EQ(out[0].size(), batch.series.size());
  EXPECT_EQ(stats.enrich_hits, 7u);
  for (const SeriesOut& o : out[0]) {
    std::string want;
    proto::append_labels_v1(want, o.labels);
    EXPECT_EQ(o.encoded_labels, want) << o.index;
    EXPECT_EQ(stats.records[o.index] != nullptr,
              o.labels.size() > batch.series[o.index].labels_count)
        << o.index;
  }
  for (const proto::Label& l : out[0][1].labels) {
    if (l.name == "instance_id") {
      EXPECT_NE(l.value.data(), fleet.lookup("10.0.0.1")->instance_id.data());
    }
  }
  EXPECT_EQ(as_map(out[0][1].labels).at("instance_id"), "i-0abc");
  EXPECT_EQ(as_map(out[0][2].labels).at("instance_id"), "i-0def");
  EXPECT_EQ(as_map(out[0].back().labels).at("instance_id"), "i-0abc");
}

}  // namespace
}  // namespace rwgate::pipeline
