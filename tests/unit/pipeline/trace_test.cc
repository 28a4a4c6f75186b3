// The trace: it ends where the label pipeline does (every sink's labels, or dropped) for
// each kind of series and config, and its steps say why.
#include "pipeline/trace.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <map>
#include <string>

#include "pipeline/recent_series.h"
#include "tests/unit/pipeline/label_batch.h"

namespace rwgate::pipeline {
namespace {

using LabelMap = std::map<std::string, std::string>;

std::vector<relabel::Rule> rules_of(const std::string& yaml) {
  std::vector<std::string> errors;
  auto rules = relabel::parse_rules(YAML::Load(yaml), "rules", errors);
  EXPECT_TRUE(errors.empty());
  return rules;
}

discovery::InstanceRecord record(const std::string& id, const std::string& ip,
                                 const std::string& state) {
  discovery::InstanceRecord r;
  r.instance_id = id;
  r.asg_name = "web";
  r.availability_zone = "us-east-1a";
  r.lifecycle_state = state;
  r.private_ip = ip;
  r.source = "file";
  return r;
}

const discovery::DiscoverySnapshot& fleet() {
  static const discovery::DiscoverySnapshot snapshot(
      1, {record("i-live", "10.0.0.1", "InService"), record("i-gone", "10.0.0.2", "Terminated")});
  return snapshot;
}

std::shared_ptr<const lb::LbNamePatterns> patterns() {
  std::string why;
  return lb::LbNamePatterns::build({}, why);
}

// The configs the differential test runs: the direct path, and the cached path with
// rules of every kind.
std::vector<PipelineRules> configs() {
  std::vector<PipelineRules> out;
  PipelineRules direct;
  direct.generation = 1;
  direct.enrich.enabled = true;
  direct.lb.enabled = true;
  direct.lb.names = patterns();
  direct.per_sink.resize(2);
  out.push_back(direct);

  PipelineRules cached = direct;
  cached.enrich.annotate_miss = true;
  cached.enrich.drop_late = true;
  cached.global = rules_of(
      "[{source_labels: [asg], target_label: service},"
      " {source_labels: [__name__], regex: 'drop_me', action: drop}]");
  cached.per_sink = {{},
                     rules_of("[{regex: 'lifecycle_state', action: labeldrop},"
                              " {source_labels: [job], regex: 'secret', action: drop}]")};
  out.push_back(cached);

  PipelineRules enrich_rules = direct;
  enrich_rules.lb.action = lb::LbAction::kDrop;
  enrich_rules.enrich.rules = rules_of(
      "[{source_labels: [__meta_ec2_instance_id], target_label: node},"
      " {source_labels: [__meta_asg_lifecycle_state], regex: 'Terminated', action: drop}]");
  out.push_back(enrich_rules);
  return out;
}

const std::vector<LabelMap> kInputs = {
    {{"__name__", "up"}, {"instance", "10.0.0.1:9100"}, {"job", "node"}},
    {{"__name__", "up"}, {"instance", "10.0.0.9:9100"}, {"job", "node"}},
    {{"__name__", "up"}, {"instance", "10.0.0.2:9100"}, {"job", "node"}},
    {{"__name__", "up"}, {"job", "node"}},
    {{"__name__", "up"}, {"instance", "my-lb-1234.us-east-1.elb.amazonaws.com:80"}, {"job", "web"}},
    {{"__name__", "drop_me"}, {"instance", "10.0.0.1:9100"}, {"job", "node"}},
    {{"__name__", "up"}, {"asg", "own"}, {"instance", "10.0.0.1:9100"}, {"job", "secret"}},
};

TraceLabels trace_labels(const LabelMap& m) { return TraceLabels(m.begin(), m.end()); }

// A trace of `rules` on the fleet, to sinks "a" and "b".
TraceSetup two_sinks(const PipelineRules& rules) {
  TraceSetup setup{&rules, &fleet()};
  setup.sink_names = {"a", "b"};
  return setup;
}

TEST(TraceTest, EndsWhereThePipelineEndsForEverySeriesAndConfig) {
  size_t sent = 0, dropped = 0;
  for (size_t c = 0; c < configs().size(); ++c) {
    const PipelineRules rules = configs()[c];
    for (const LabelMap& in : kInputs) {
      testing::TestBatch batch({in});
      batch.batch.series[0].raw_labels = {};
      LabelPipeline pipeline;
      std::vector<std::vector<SeriesOut>> out;
      PipelineStats stats;
      pipeline.run(rules, &fleet(), batch.batch, out, stats);

      const TraceSetup setup = two_sinks(rules);
      const SeriesTrace t = trace_series(setup, trace_labels(in));
      ASSERT_EQ(t.sinks.size(), 2u);
      for (size_t s = 0; s < 2; ++s) {
        SCOPED_TRACE("config " + std::to_string(c) + ", sink " + std::to_string(s) + ", series " +
                     in.begin()->second + " " + trace_json(t));
        if (out[s].empty()) {
          EXPECT_FALSE(t.sinks[s].dropped_by.empty());
          ++dropped;
          continue;
        }
        ASSERT_TRUE(t.sinks[s].dropped_by.empty());
        LabelMap want;
        for (const proto::Label& l : out[s][0].labels) want[std::string(l.name)] = l.value;
        EXPECT_EQ(LabelMap(t.sinks[s].labels.begin(), t.sinks[s].labels.end()), want);
        ++sent;
      }
    }
  }
  EXPECT_GT(sent, 20u);  // both outcomes are compared, not one
  EXPECT_GT(dropped, 5u);
}

const TraceStep* step(const SeriesTrace& t, std::string_view stage) {
  for (const TraceStep& s : t.steps) {
    if (s.stage == stage) return &s;
  }
  return nullptr;
}

TEST(TraceTest, StepsSayWhichInstanceMatchedOrWhyNone) {
  const PipelineRules rules = configs()[1];
  TraceSetup setup = two_sinks(rules);
  SeriesTrace t = trace_series(setup, trace_labels(kInputs[0]));
  ASSERT_NE(step(t, "enrich"), nullptr);
  EXPECT_NE(step(t, "enrich")->detail.find("private IP of \"i-live\""), std::string::npos)
      << step(t, "enrich")->detail;
  EXPECT_EQ(LabelMap(t.sinks[0].labels.begin(), t.sinks[0].labels.end()).at("service"), "web");

  t = trace_series(setup, trace_labels(kInputs[1]));
  EXPECT_NE(step(t, "enrich")->detail.find("none of the 2 instances"), std::string::npos)
      << step(t, "enrich")->detail;
  t = trace_series(setup, trace_labels(kInputs[3]));
  EXPECT_NE(step(t, "enrich")->detail.find("no \"instance\" label"), std::string::npos);

  t = trace_series(setup, trace_labels(kInputs[2]));  // gone, drop_late
  ASSERT_NE(step(t, "late"), nullptr);
  EXPECT_EQ(t.sinks[0].dropped_by, "late");

  TraceSetup off{&rules, nullptr};
  t = trace_series(off, trace_labels(kInputs[0]));
  EXPECT_EQ(step(t, "enrich")->detail, "no discovery snapshot yet: nothing to look up");
}

TEST(TraceTest, LoadBalancerVerdictAndTheRuleThatDropped) {
  const PipelineRules rules = configs()[1];
  TraceSetup setup = two_sinks(rules);
  SeriesTrace t = trace_series(setup, trace_labels(kInputs[4]));
  ASSERT_NE(step(t, "lb"), nullptr);
  EXPECT_NE(step(t, "lb")->detail.find("a load balancer: the instance host looks like"),
            std::string::npos)
      << step(t, "lb")->detail;
  EXPECT_EQ(LabelMap(t.sinks[0].labels.begin(), t.sinks[0].labels.end()).at("scrape_via"),
            "load_balancer");

  t = trace_series(setup, trace_labels(kInputs[5]));
  EXPECT_EQ(t.sinks[0].dropped_by, "relabel_configs[1]");
  EXPECT_EQ(t.steps.back().detail,
            "relabel_configs[1]: action=drop source_labels=[__name__] regex=\"drop_me\": dropped");

  t = trace_series(setup, trace_labels(kInputs[6]));  // sink b drops job=secret
  EXPECT_TRUE(t.sinks[0].dropped_by.empty());
  EXPECT_EQ(t.sinks[1].dropped_by, "write_relabel_configs[1]");
  ASSERT_EQ(t.sinks[1].steps.size(), 2u);
  EXPECT_EQ(t.sinks[1].steps[0].stage, "write_relabel");
}

TEST(TraceTest, PastedRulesTakeThePlaceOfRelabelConfigs) {
  const PipelineRules rules = configs()[1];
  const std::vector<relabel::Rule> trial = rules_of("[{target_label: tried, replacement: yes}]");
  TraceSetup setup = two_sinks(rules);
  setup.trial_rules = &trial;
  const SeriesTrace t = trace_series(setup, trace_labels(kInputs[5]));  // drop_me survives
  const LabelMap out(t.sinks[0].labels.begin(), t.sinks[0].labels.end());
  EXPECT_EQ(out.at("tried"), "yes");
  EXPECT_FALSE(out.contains("service"));
  EXPECT_NE(t.steps.back().detail.find("pasted rules[0]"), std::string::npos);
}

TEST(TraceTest, InvalidInputIsRefusedAsIngestWouldAndTheJsonEscapesEverything) {
  const PipelineRules rules = configs()[0];
  TraceSetup setup{&rules, &fleet()};
  setup.sink_names = {"a"};
  SeriesTrace t = trace_series(setup, {{"job", "x"}});
  EXPECT_EQ(t.steps[0].stage, "validate");
  EXPECT_EQ(t.sinks[0].dropped_by, "validate");

  t = trace_series(setup, {{"__name__", "up"}, {"v", "<script>\"\\\n</script>"}});
  const YAML::Node j = YAML::Load(trace_json(t));
  EXPECT_EQ(j["input"]["v"].as<std::string>(), "<script>\"\\\n</script>");
  EXPECT_EQ(j["sinks"]["a"]["labels"]["v"].as<std::string>(), "<script>\"\\\n</script>");
  EXPECT_EQ(j["steps"][0]["stage"].as<std::string>(), "validate");
}

TEST(TraceTest, TenantFromItsLabelWithoutTakingATenantSlot) {
  const PipelineRules rules = configs()[0];
  TenancyConfig tenancy;
  tenancy.enabled = true;
  tenancy.labels = {"team"};
  tenancy.label_remove = true;
  TraceSetup setup{&rules, &fleet()};
  setup.sink_names = {"a"};
  setup.tenancy = &tenancy;
  SeriesTrace t = trace_series(setup, {{"__name__", "up"}, {"team", "pay"}});
  EXPECT_EQ(t.tenant, "pay");
  EXPECT_EQ(step(t, "tenant")->detail, "tenant \"pay\" from label \"team\", taken off");
  EXPECT_FALSE(LabelMap(t.sinks[0].labels.begin(), t.sinks[0].labels.end()).contains("team"));

  t = trace_series(setup, {{"__name__", "up"}});
  EXPECT_EQ(t.sinks[0].dropped_by, "tenant");
}

TEST(RecentSeriesTest, OneSeriesInEveryKEveryRequestsTheNewestFirst) {
  RecentSeries recent;
  std::vector<TraceLabels> out;
  recent.collect(out);
  EXPECT_TRUE(out.empty());
  for (uint64_t r = 0; r < RecentSeries::kEvery * (RecentSeries::kKept + 3); ++r) {
    testing::TestBatch batch({{{"__name__", "a"}, {"r", std::to_string(r)}},
                              {{"__name__", "b"}, {"r", std::to_string(r)}}});
    recent.offer(batch.batch);
  }
  recent.collect(out);
  ASSERT_EQ(out.size(), RecentSeries::kKept);
  // The newest was offered by request kEvery * (kKept + 2), and it is a whole label set.
  EXPECT_EQ(out[0],
            (TraceLabels{{"__name__", "a"},
                         {"r", std::to_string(RecentSeries::kEvery * (RecentSeries::kKept + 2))}}));
  EXPECT_EQ(out[1][1].second, std::to_string(RecentSeries::kEvery * (RecentSeries::kKept + 1)));
  EXPECT_NE(out[0][0].second, out[1][0].second);  // another position of the batch each time
  recent.offer(proto::Batch{});                   // an empty request is no series
}

}  // namespace
}  // namespace rwgate::pipeline
