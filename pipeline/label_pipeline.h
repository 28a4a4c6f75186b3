// The label pipeline: what every series' labels go through, in this order.
//
//   lb check   is the target a load balancer? annotate, drop or pass  (lb/target_check.h)
//   enrich     fleet context from the discovery snapshot              (pipeline/enrich.h)
//   late       drop series of instances that are gone                 (staleness/late_samples.h)
//   relabel    the global relabel_configs                             (relabel/rule.h)
//   per sink   each sink's write_relabel_configs
//
// The lb check reads the input labels, so it runs first; its annotation is applied after
// enrichment, so both the sender's labels and the fleet's are there for the rules.
//
// Two ways through it:
// - Cached (any relabel rules): the outcome depends only on the input label set and the
//   (config, discovery, verdicts) generation, so it is kept in a ResultCache and a
//   repeated series costs one hash and one lookup (pipeline/result_cache.h).
// - Direct (enrichment with the default mapping and the lb check, no rules anywhere): the
//   output is the input plus at most five labels, which depend on the series' target only
//   (its job and instance), so they are looked up once per target (pipeline/target_memo.h)
//   and merged into each series: no memory per series.
//
// One pipeline per ingest worker (pipeline/worker_context.h): no locks.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "discovery/instance.h"
#include "lb/detector.h"
#include "lb/evidence.h"
#include "lb/target_check.h"
#include "pipeline/enrich.h"
#include "pipeline/result_cache.h"
#include "pipeline/target_memo.h"
#include "proto/batch.h"
#include "relabel/label_builder.h"
#include "relabel/rule.h"

namespace rwgate::pipeline {

// Rules for one configuration. Immutable once built; shared by threads.
struct PipelineRules {
  uint64_t generation = 0;
  EnrichRules enrich;
  std::vector<relabel::Rule> global;                 // relabel_configs
  std::vector<std::vector<relabel::Rule>> per_sink;  // write_relabel_configs, by sink index
  lb::LbRules lb;                                    // load_balancer_detection
  // direct(): also hand out each output label set encoded (SeriesOut::encoded_labels),
  // for the series tracker, which keys on them.
  bool encode_direct = false;
  size_t cache_entries_per_thread = 100000;

  bool empty() const { return !enrich.enabled && !lb.enabled && no_relabel_rules(); }
  bool no_relabel_rules() const {
    if (!global.empty()) return false;
    for (const auto& r : per_sink) {
      if (!r.empty()) return false;
    }
    return true;
  }
  bool direct() const {
    return (enrich.enabled || lb.enabled) && enrich.rules.empty() && no_relabel_rules();
  }
};

using proto::SeriesOut;

struct PipelineStats {
  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t evictions = 0;
  uint64_t enrich_hits = 0;                // series whose instance was found in discovery
  uint64_t enrich_misses = 0;              // series whose instance was not
  std::vector<uint64_t> dropped_per_sink;  // series not sent to a sink because of rules
  std::vector<lb::LbFlag> lb_flagged;      // series of load-balanced targets, in batch order
  // By input series: the live instance enrichment matched (null: none, or gone). Valid
  // while the discovery snapshot passed to run() is.
  std::vector<const discovery::InstanceRecord*> records;
  uint64_t late_series = 0;   // dropped: their instance is gone (drop_late)
  uint64_t late_samples = 0;  // samples and histograms of those series
};

class LabelPipeline {
 public:
  using HashFn = ResultCache::HashFn;
  // Tests pass a weak hash to force collisions.
  explicit LabelPipeline(HashFn hash = nullptr) : cache_(hash) {}

  // Runs every series of `batch` through the rules, filling out[sink] with what each
  // sink gets. The spans stay valid until the next call (and, for rules.direct(), while
  // `discovery` and `batch` are). `verdicts`: the load-balancer detector's current
  // verdicts (null: none yet).
  void run(const PipelineRules& rules, const discovery::DiscoverySnapshot* discovery,
           const proto::Batch& batch, std::vector<std::vector<SeriesOut>>& out,
           PipelineStats& stats, const lb::LbVerdicts* verdicts = nullptr);

  // Entries in the result cache.
  size_t size() const { return cache_.size(); }

 private:
  void run_cached(const PipelineRules& rules, const discovery::DiscoverySnapshot* discovery,
                  const proto::Batch& batch, const CacheGeneration& generation,
                  std::vector<std::vector<SeriesOut>>& out, PipelineStats& stats);
  // Computes a missed series' result into `e` (keyed by ResultCache::claim).
  void compute(const PipelineRules& rules, const discovery::DiscoverySnapshot* discovery,
               std::span<const proto::Label> labels, CacheEntry& e);
  // lb check, enrichment, late rule and the global rules on builder_; false: dropped.
  bool run_global(const PipelineRules& rules, const discovery::DiscoverySnapshot* discovery,
                  std::span<const proto::Label> labels, CacheEntry& e);
  // Each sink's result from the global one, stored into `e`.
  void run_per_sink(const PipelineRules& rules, CacheEntry& e);

  void run_direct(const PipelineRules& rules, const discovery::DiscoverySnapshot* discovery,
                  const proto::Batch& batch, const CacheGeneration& generation,
                  std::vector<std::vector<SeriesOut>>& out, PipelineStats& stats);
  // What the direct path does with the series of a target (memoized in targets_).
  TargetFacts target_facts(const PipelineRules& rules,
                           const discovery::DiscoverySnapshot* discovery,
                           std::span<const proto::Label> in, std::string_view match_value);
  // Series si's output labels appended to direct_labels_ and, when they can be spliced,
  // their encoding to direct_encoded_ (its span in direct_encoded_spans_[si]); false: it
  // goes nowhere.
  bool direct_series(const PipelineRules& rules, const discovery::DiscoverySnapshot* discovery,
                     const proto::Batch& batch, uint32_t si, PipelineStats& stats);

  ResultCache cache_;
  lb::TargetCheck lb_;
  Enricher enricher_;
  relabel::LabelBuilder builder_;
  relabel::RelabelScratch relabel_scratch_;
  // compute()'s scratch.
  std::vector<proto::Label> scratch_;
  std::string global_bytes_;
  std::vector<proto::Label> global_labels_;
  std::vector<proto::Label> decoded_;
  // run_direct's per-request output: the label sets, and per series where its set is.
  std::vector<proto::Label> direct_labels_;
  std::vector<std::pair<uint32_t, uint32_t>> direct_spans_;  // begin, count
  std::string direct_encoded_;  // with encode_direct: the label sets as RW 1.0 Label fields
  std::vector<std::pair<uint32_t, uint32_t>> direct_encoded_spans_;  // at, length
  TargetMemo targets_;  // direct_series' facts by target
};

}  // namespace rwgate::pipeline
