// "What happened to this series?": one label set through the label pipeline, step by step.
//
// The trace calls the functions the ingest path calls, in the order it calls them
// (proxy/ingest.h for the request, pipeline/label_pipeline.h for the labels), and writes
// down what each one did:
//
//   validate   the label set as ingest takes it (sorted, empty values dropped, __name__)
//   tenant     which tenant, and from where (tenancy on)
//   lb         is the target a load balancer, and why; the action
//   enrich     which discovery name the match label's host found, or why none did
//   late       the instance is gone and drop_late_samples is on: dropped
//   lb         the annotation, after enrichment as in the pipeline
//   relabel    each relabel_configs rule, with the labels after it
//   per sink   each write_relabel_configs rule, then what the sink is sent
//
// It changes no state: it has its own lb memo, scratch and tenant names, so a trace of a
// new tenant does not count towards tenancy.max_tenants. The pipeline's own tests check
// that a trace ends where LabelPipeline::run does (tests/unit/pipeline/trace_test.cc).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "discovery/instance.h"
#include "lb/detector.h"
#include "pipeline/label_pipeline.h"
#include "pipeline/tenancy.h"
#include "relabel/rule.h"

namespace rwgate::pipeline {

using TraceLabels = std::vector<std::pair<std::string, std::string>>;  // in name order

struct TraceStep {
  std::string stage;   // validate, tenant, lb, enrich, late, relabel, write_relabel
  std::string detail;  // one line for a person
  TraceLabels labels;  // after the step
};

struct SinkTrace {
  std::string name;
  std::vector<TraceStep> steps;  // its write_relabel_configs rules
  std::string dropped_by;        // empty: it is sent `labels`
  TraceLabels labels;
};

struct SeriesTrace {
  TraceLabels input;
  std::vector<TraceStep> steps;
  std::vector<SinkTrace> sinks;  // by sink index; all dropped_by the step that dropped it
  std::string tenant;            // empty: tenancy off, or refused
};

// What a trace runs on: the running config's rules and the current snapshots.
struct TraceSetup {
  const PipelineRules* rules = nullptr;
  const discovery::DiscoverySnapshot* discovery = nullptr;  // null: none yet, or off
  const lb::LbVerdicts* verdicts = nullptr;                 // null: none yet
  const TenancyConfig* tenancy = nullptr;                   // null: off
  std::vector<std::string> sink_names;                      // by index in rules->per_sink
  // Rules to try in place of relabel_configs (the trace page's pasted rules); null: the
  // running ones.
  const std::vector<relabel::Rule>* trial_rules = nullptr;
  std::string_view sender;  // the identity tenancy.from_sender would see
};

SeriesTrace trace_series(const TraceSetup& setup, const TraceLabels& input);

// {"input": {...}, "steps": [{"stage", "detail", "labels"}], "sinks": {name: {"labels"} or
// {"dropped_by"}, each with its "steps"}, "tenant"} on one line.
std::string trace_json(const SeriesTrace& trace);

// A rule as one line: "action=replace source_labels=[a,b] regex=... target_label=x".
std::string describe_rule(const relabel::Rule& rule);

}  // namespace rwgate::pipeline
