// The load-balancer stage of the label pipeline: flagged targets annotated or dropped, on
// both the direct and the cached path, and new verdicts invalidating cached results.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <string>
#include <vector>

#include "lb/detector.h"
#include "pipeline/label_pipeline.h"

namespace rwgate::pipeline {
namespace {

using lb::LbAction;
using lb::LbNamePatterns;
using lb::LbVerdicts;
using lb::target_key;
using relabel::parse_rules;

std::shared_ptr<const LbNamePatterns> patterns() {
  std::string why;
  auto p = LbNamePatterns::build({}, why);
  EXPECT_NE(p, nullptr) << why;
  return p;
}

// The pipeline: flagged targets get the label (or are dropped); cached results follow a
// new verdict; the sender's own label wins.
struct Batch1 {
  std::vector<std::string> strings;
  proto::Batch batch;
  void add(std::vector<std::pair<std::string, std::string>> labels) {
    proto::Series s;
    s.labels_begin = static_cast<uint32_t>(strings.size() / 2);
    for (auto& [n, v] : labels) {
      strings.push_back(n);
      strings.push_back(v);
    }
    s.labels_count = static_cast<uint32_t>(labels.size());
    batch.series.push_back(s);
  }
  void finish() {  // views once the strings stop moving
    size_t k = 0;
    for (proto::Series& s : batch.series) {
      for (uint32_t i = 0; i < s.labels_count; ++i, k += 2)
        batch.labels.push_back({strings[k], strings[k + 1]});
    }
  }
};

PipelineRules lb_rules(bool with_relabel_rules) {
  PipelineRules r;
  r.generation = 1;
  r.lb.enabled = true;
  r.lb.names = patterns();
  r.lb.jobs["dropme"] = LbAction::kDrop;
  r.per_sink.push_back({});
  if (with_relabel_rules) {
    std::vector<std::string> errors;
    r.global = parse_rules(YAML::Load("[{target_label: x, replacement: y}]"), "r", errors);
  }
  return r;
}

class LbPipelineTest : public ::testing::TestWithParam<bool> {};

TEST_P(LbPipelineTest, FlaggedTargetsAreAnnotatedOrDroppedAndVerdictsInvalidateResults) {
  Batch1 in;
  in.strings.reserve(64);
  in.add({{"__name__", "up"}, {"instance", "a-1.us-east-1.elb.amazonaws.com:80"}, {"job", "web"}});
  in.add(
      {{"__name__", "up"}, {"instance", "a-1.us-east-1.elb.amazonaws.com:80"}, {"job", "dropme"}});
  in.add({{"__name__", "up"}, {"instance", "nginx:80"}, {"job", "web"}});
  in.add({{"__name__", "up"},
          {"instance", "a-2.us-east-1.elb.amazonaws.com:80"},
          {"job", "web"},
          {"scrape_via", "sender"}});
  in.finish();
  const PipelineRules rules = lb_rules(GetParam());
  LabelPipeline cache;
  std::vector<std::vector<SeriesOut>> out;
  PipelineStats stats;
  cache.run(rules, nullptr, in.batch, out, stats);
  ASSERT_EQ(out[0].size(), 3u);  // series 1 dropped
  EXPECT_EQ(proto::label_value(out[0][0].labels, "scrape_via"), "load_balancer");
  EXPECT_EQ(out[0][1].index, 2u);
  EXPECT_EQ(proto::label_value(out[0][1].labels, "scrape_via"), "");
  EXPECT_EQ(proto::label_value(out[0][2].labels, "scrape_via"), "sender");
  ASSERT_EQ(stats.lb_flagged.size(), 3u);
  EXPECT_EQ(stats.lb_flagged[1].action, LbAction::kDrop);
  EXPECT_EQ(stats.dropped_per_sink[0], 0u);  // counted as load-balanced, not as relabeled

  // nginx:80 is confirmed by behaviour: the next run annotates it, cached or not.
  LbVerdicts v;
  v.generation = 7;
  v.confirmed.insert(target_key("web", "nginx:80"));
  cache.run(rules, nullptr, in.batch, out, stats, &v);
  ASSERT_EQ(out[0].size(), 3u);
  EXPECT_EQ(proto::label_value(out[0][1].labels, "scrape_via"), "load_balancer");
  EXPECT_EQ(stats.lb_flagged.size(), 4u);
  EXPECT_EQ(stats.lb_flagged[2].name_pattern, -1);
}

INSTANTIATE_TEST_SUITE_P(DirectAndCached, LbPipelineTest, ::testing::Bool());

}  // namespace
}  // namespace rwgate::pipeline
