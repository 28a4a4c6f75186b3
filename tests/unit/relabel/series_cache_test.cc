// The per-series result cache: same answers as computing afresh, hits in the steady
// state, invalidation by generation, a bound on entries, and no mix-ups on collisions.
#include "relabel/series_cache.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <map>
#include <string>

namespace rwgate::relabel {
namespace {

std::vector<Rule> rules_of(const std::string& yaml) {
  std::vector<std::string> errors;
  auto rules = parse_rules(YAML::Load(yaml), "rules", errors);
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

TEST(SeriesCacheTest, SecondPassIsAllHitsWithTheSameResults) {
  Fixture f(0, 100);
  SeriesCache cache;
  PipelineRules rules = make_rules(1, 1000);
  std::vector<std::vector<SeriesOut>> out;
  PipelineStats stats;
  cache.run(rules, f.batch, out, stats);
  EXPECT_EQ(stats.misses, 100u);
  expect_correct(f, out, 0);
  EXPECT_EQ(stats.dropped_per_sink, (std::vector<uint64_t>{0, 50}));
  PipelineStats again;
  cache.run(rules, f.batch, out, again);
  EXPECT_EQ(again.hits, 100u);
  EXPECT_EQ(again.misses, 0u);
  expect_correct(f, out, 0);
}

TEST(SeriesCacheTest, NewGenerationRecomputes) {
  Fixture f(0, 10);
  SeriesCache cache;
  std::vector<std::vector<SeriesOut>> out;
  PipelineStats stats;
  cache.run(make_rules(1, 100), f.batch, out, stats);
  PipelineRules changed = make_rules(2, 100);
  changed.per_sink[0] = rules_of("[{target_label: sink, replacement: a}]");
  PipelineStats after;
  cache.run(changed, f.batch, out, after);
  EXPECT_EQ(after.misses, 10u);
  for (const SeriesOut& so : out[0]) EXPECT_EQ(proto::label_value(so.labels, "sink"), "a");
}

TEST(SeriesCacheTest, StaysWithinItsBoundAndEvicts) {
  SeriesCache cache;
  std::vector<std::vector<SeriesOut>> out;
  PipelineRules rules = make_rules(1, 16);
  uint64_t evictions = 0;
  for (int round = 0; round < 20; ++round) {
    Fixture f(round * 10, 10);
    PipelineStats stats;
    cache.run(rules, f.batch, out, stats);
    expect_correct(f, out, round * 10);
    evictions += stats.evictions;
    EXPECT_LE(cache.size(), 16u);
  }
  EXPECT_GT(evictions, 0u);
}

TEST(SeriesCacheTest, ARequestLargerThanTheCacheIsStillCorrect) {
  // Entries used by the request in progress are pinned; what does not fit overflows.
  Fixture f(0, 50);
  SeriesCache cache;
  std::vector<std::vector<SeriesOut>> out;
  PipelineStats stats;
  cache.run(make_rules(1, 8), f.batch, out, stats);
  expect_correct(f, out, 0);
  EXPECT_LE(cache.size(), 8u);
}

uint64_t constant_hash(std::string_view) { return 42; }

TEST(SeriesCacheTest, HashCollisionsNeverMixUpSeries) {
  // Every series hashes to the same value: results must still be each series' own.
  SeriesCache cache(constant_hash);
  std::vector<std::vector<SeriesOut>> out;
  PipelineRules rules = make_rules(1, 100);
  for (int round = 0; round < 3; ++round) {
    Fixture f(0, 20);
    PipelineStats stats;
    cache.run(rules, f.batch, out, stats);
    expect_correct(f, out, 0);
  }
  Fixture g(5, 1);
  PipelineStats stats;
  cache.run(rules, g.batch, out, stats);
  expect_correct(g, out, 5);
}

TEST(SeriesCacheTest, HashDependsOnLabelBoundaries) {
  const std::vector<proto::Label> a = {{"ab", "c"}};
  const std::vector<proto::Label> b = {{"a", "bc"}};
  EXPECT_NE(proto::hash_labels(a), proto::hash_labels(b));
}

}  // namespace
}  // namespace rwgate::relabel
