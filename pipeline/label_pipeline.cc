#include "pipeline/label_pipeline.h"

#include <array>
#include <cstring>

#include "proto/encode.h"
#include "proto/hash.h"

namespace rwgate::pipeline {

namespace {

// Stores `labels` as one more output of `e`: encoded into its storage (views are read back
// once the storage has its final size), with its shard hash.
CacheEntry::Out store(CacheEntry& e, uint32_t& nlabels, std::span<const proto::Label> labels) {
  CacheEntry::Out o;
  o.begin = nlabels;
  o.count = static_cast<uint32_t>(labels.size());
  o.encoded_at = static_cast<uint32_t>(e.storage.size());
  proto::append_labels_v1(e.storage, labels);
  o.encoded_len = static_cast<uint32_t>(e.storage.size() - o.encoded_at);
  o.hash = proto::hash_labels(labels);
  nlabels += o.count;
  return o;
}

// Inserts `l` into add[0..n) in name order unless a label of that name is there.
void insert_sorted(proto::Label* add, size_t& n, proto::Label l) {
  size_t at = 0;
  while (at < n && add[at].name < l.name) ++at;
  if (at < n && add[at].name == l.name) return;
  for (size_t k = n; k > at; --k) add[k] = add[k - 1];
  add[at] = l;
  ++n;
}

bool has_own_match_label(const PipelineRules& rules) {
  return rules.enrich.match_label != "instance";
}

// The series' target in one pass over its labels: job, instance and, when enrichment
// matches on another label, that label's value. Constant-length compares: the names
// tested against are fixed, and most labels differ in length from both.
TargetMemo::Key target_key(std::span<const proto::Label> in, const PipelineRules& rules) {
  TargetMemo::Key k;
  const bool own_match = has_own_match_label(rules);
  const std::string_view match_label = rules.enrich.match_label;
  for (const proto::Label& l : in) {
    if (l.name.size() == 3 && std::memcmp(l.name.data(), "job", 3) == 0) {
      k[0] = l.value;
    } else if (l.name.size() == 8 && std::memcmp(l.name.data(), "instance", 8) == 0) {
      k[1] = l.value;
    }
    if (own_match && l.name == match_label) k[2] = l.value;
  }
  return k;
}

}  // namespace

void LabelPipeline::run(const PipelineRules& rules, const discovery::DiscoverySnapshot* discovery,
                        const proto::Batch& batch, std::vector<std::vector<SeriesOut>>& out,
                        PipelineStats& stats, const lb::LbVerdicts* verdicts) {
  // Enrichment reads the snapshot's instances, the lb check its load balancers.
  const bool reads_discovery = rules.enrich.enabled || rules.lb.enabled;
  const CacheGeneration generation{
      rules.generation, discovery != nullptr && reads_discovery ? discovery->generation() : 0,
      rules.lb.enabled && verdicts != nullptr ? verdicts->generation : 0};
  lb_.begin_request(rules.generation, rules.lb.enabled ? verdicts : nullptr, discovery);
  const size_t nsinks = rules.per_sink.size();
  out.resize(nsinks);
  for (auto& o : out) o.clear();
  stats.dropped_per_sink.assign(nsinks, 0);
  stats.lb_flagged.clear();
  stats.records.assign(batch.series.size(), nullptr);
  stats.late_series = stats.late_samples = 0;
  if (rules.direct()) return run_direct(rules, discovery, batch, generation, out, stats);
  run_cached(rules, discovery, batch, generation, out, stats);
}

void LabelPipeline::run_cached(const PipelineRules& rules,
                               const discovery::DiscoverySnapshot* discovery,
                               const proto::Batch& batch, const CacheGeneration& generation,
                               std::vector<std::vector<SeriesOut>>& out, PipelineStats& stats) {
  cache_.begin_request(generation);
  cache_.find(batch);
  const size_t nsinks = out.size();
  for (size_t i = 0; i < batch.series.size(); ++i) {
    CacheEntry* e = cache_.hit(i);
    if (e != nullptr) {
      ++stats.hits;
    } else {
      ++stats.misses;
      e = cache_.claim(i, rules.cache_entries_per_thread, stats.evictions);
      compute(rules, discovery, batch.labels_of(batch.series[i]), *e);
    }
    if (e->enriched == EnrichOutcome::kMatched) ++stats.enrich_hits;
    if (e->enriched == EnrichOutcome::kMissed) ++stats.enrich_misses;
    stats.records[i] = e->live;
    if (e->late) {
      ++stats.late_series;
      stats.late_samples += batch.series[i].samples_count + batch.series[i].histograms_count;
    }
    if (e->lb_flagged)
      stats.lb_flagged.push_back({static_cast<uint32_t>(i), e->lb_name_pattern, e->lb_action});
    const bool dropped_before_rules = e->dropped_before_rules();
    for (size_t s = 0; s < nsinks; ++s) {
      const CacheEntry::Out& o = e->outs[s];
      if (o.dropped) {
        if (!dropped_before_rules) ++stats.dropped_per_sink[s];
        continue;
      }
      out[s].push_back(
          SeriesOut{static_cast<uint32_t>(i),
                    {e->labels.data() + o.begin, o.count},
                    o.hash,
                    std::string_view(e->storage.data() + o.encoded_at, o.encoded_len)});
    }
  }
}

bool LabelPipeline::run_global(const PipelineRules& rules,
                               const discovery::DiscoverySnapshot* discovery,
                               std::span<const proto::Label> labels, CacheEntry& e) {
  builder_.reset(labels);
  const lb::LbHit lb = lb_.check(rules.lb, labels);
  e.lb_flagged = lb.flagged;
  e.lb_action = lb.action;
  e.lb_name_pattern = lb.name_pattern;
  const InstanceMatch m =
      match_instance(rules.enrich, discovery, proto::label_value(labels, rules.enrich.match_label));
  e.late = m.late;
  e.live = m.late ? nullptr : m.live();
  e.enriched = m.late ? EnrichOutcome::kOff : m.outcome;
  if (m.late || !enricher_.apply(rules.enrich, m, builder_, relabel_scratch_)) return false;
  if (lb.flagged) {
    if (lb.action == lb::LbAction::kDrop) return false;
    // The sender's own label wins here too.
    if (lb.action == lb::LbAction::kAnnotate && builder_.get(rules.lb.label).empty())
      builder_.set(rules.lb.label, lb::kLbLabelValue);
  }
  return relabel::process(rules.global, builder_, relabel_scratch_);
}

void LabelPipeline::compute(const PipelineRules& rules,
                            const discovery::DiscoverySnapshot* discovery,
                            std::span<const proto::Label> labels, CacheEntry& e) {
  e.outs.assign(rules.per_sink.size(), CacheEntry::Out{});
  if (!run_global(rules, discovery, labels, e)) {
    for (CacheEntry::Out& o : e.outs) o.dropped = true;
    return;
  }
  // The global result becomes the base of each sink's rules; it is copied out first,
  // since resetting the builder frees what its views point into.
  builder_.labels(scratch_);
  global_bytes_.clear();
  for (const proto::Label& l : scratch_) {
    global_bytes_.append(l.name);
    global_bytes_.append(l.value);
  }
  global_labels_.clear();
  size_t at = 0;
  for (const proto::Label& l : scratch_) {
    const std::string_view name(global_bytes_.data() + at, l.name.size());
    at += l.name.size();
    const std::string_view value(global_bytes_.data() + at, l.value.size());
    at += l.value.size();
    global_labels_.push_back(proto::Label{name, value});
  }
  run_per_sink(rules, e);
}

void LabelPipeline::run_per_sink(const PipelineRules& rules, CacheEntry& e) {
  uint32_t nlabels = 0;
  CacheEntry::Out global;
  bool global_stored = false;
  for (size_t s = 0; s < rules.per_sink.size(); ++s) {
    if (rules.per_sink[s].empty()) {  // sinks without rules share the global result
      if (!global_stored) global = store(e, nlabels, global_labels_);
      global_stored = true;
      e.outs[s] = global;
      continue;
    }
    builder_.reset(global_labels_);
    if (!relabel::process(rules.per_sink[s], builder_, relabel_scratch_)) {
      e.outs[s].dropped = true;
      continue;
    }
    builder_.labels(scratch_);
    e.outs[s] = store(e, nlabels, scratch_);
  }
  // Each stored output once, in store order: its views into the final storage.
  uint32_t next = 0;
  for (const CacheEntry::Out& o : e.outs) {
    if (o.dropped || o.begin != next) continue;
    proto::read_labels_v1(std::string_view(e.storage).substr(o.encoded_at, o.encoded_len),
                          decoded_);
    e.labels.insert(e.labels.end(), decoded_.begin(), decoded_.end());
    next += o.count;
  }
}

TargetFacts LabelPipeline::target_facts(const PipelineRules& rules,
                                        const discovery::DiscoverySnapshot* discovery,
                                        std::span<const proto::Label> in,
                                        std::string_view match_value) {
  TargetFacts f;
  f.lb = lb_.check(rules.lb, in);
  const InstanceMatch m = match_instance(rules.enrich, discovery, match_value);
  f.late = m.late;
  f.outcome = m.outcome;
  f.live = m.late ? nullptr : m.live();
  // The labels to add, in name order; a label the series already has is the sender's word
  // and stays (an empty value is no label).
  size_t nadd = 0;
  if (m.outcome == EnrichOutcome::kMatched) {
    nadd = default_enrichment(*m.record, f.add.data());
  } else if (m.outcome == EnrichOutcome::kMissed && rules.enrich.annotate_miss) {
    f.add[nadd++] = {kMissLabel, kMissValue};
  }
  if (f.lb.flagged && f.lb.action == lb::LbAction::kAnnotate)
    insert_sorted(f.add.data(), nadd, {rules.lb.label, lb::kLbLabelValue});
  f.nadd = static_cast<uint8_t>(nadd);
  return f;
}

bool LabelPipeline::direct_series(const PipelineRules& rules,
                                  const discovery::DiscoverySnapshot* discovery,
                                  const proto::Batch& batch, uint32_t si, PipelineStats& stats) {
  const proto::Series& series = batch.series[si];
  const std::span<const proto::Label> in = batch.labels_of(series);
  const TargetMemo::Key key = target_key(in, rules);
  const TargetFacts* facts = targets_.find(key);
  if (facts == nullptr) {
    const std::string_view match_value = has_own_match_label(rules) ? key[2] : key[1];
    facts = &targets_.put(key, target_facts(rules, discovery, in, match_value));
  }
  const TargetFacts& f = *facts;
  if (f.lb.flagged) {
    stats.lb_flagged.push_back(lb::LbFlag{si, f.lb.name_pattern, f.lb.action});
    if (f.lb.action == lb::LbAction::kDrop) return false;
  }
  if (f.late) {
    ++stats.late_series;
    stats.late_samples += series.samples_count + series.histograms_count;
    return false;
  }
  stats.records[si] = f.live;
  if (f.outcome == EnrichOutcome::kMatched) ++stats.enrich_hits;
  if (f.outcome == EnrichOutcome::kMissed) ++stats.enrich_misses;
  // With encode_direct, RW 1.0 input in canonical bytes is spliced here, in the same
  // pass: the sender's Label fields copied, the target's pre-encoded fields put between.
  const std::string_view raw = series.raw_labels;
  const bool splice = rules.encode_direct && f.encoded != nullptr && !raw.empty();
  std::array<proto::FieldInsert, kMaxDefaultLabels + 1> inserts;
  size_t ninserts = 0;
  const proto::Label* add = f.add.data();
  const size_t nadd = f.nadd;
  size_t a = 0;
  for (size_t k = 0; k < in.size(); ++k) {
    const proto::Label& l = in[k];
    // Most names differ in their first byte; compare whole names only when they do not.
    for (; a < nadd; ++a) {
      const std::string_view an = add[a].name;
      const int c =
          an[0] != l.name[0]
              ? (static_cast<unsigned char>(an[0]) < static_cast<unsigned char>(l.name[0]) ? -1 : 1)
              : an.compare(l.name);
      if (c > 0) break;
      if (c == 0) continue;  // the sender's label stays
      direct_labels_.push_back(add[a]);
      if (splice) inserts[ninserts++] = {proto::raw_field_start(raw, in, k), f.field(a)};
    }
    direct_labels_.push_back(l);
  }
  for (; a < nadd; ++a) {
    direct_labels_.push_back(add[a]);
    if (splice) inserts[ninserts++] = {raw.size(), f.field(a)};
  }
  if (ninserts > 0) {
    const size_t at = direct_encoded_.size();
    if (proto::splice_fields_v1(direct_encoded_, raw, {inserts.data(), ninserts}))
      direct_encoded_spans_[si] = {static_cast<uint32_t>(at),
                                   static_cast<uint32_t>(direct_encoded_.size() - at)};
  }
  return true;
}

void LabelPipeline::run_direct(const PipelineRules& rules,
                               const discovery::DiscoverySnapshot* discovery,
                               const proto::Batch& batch, const CacheGeneration& generation,
                               std::vector<std::vector<SeriesOut>>& out, PipelineStats& stats) {
  const size_t n = batch.series.size();
  // Sized up front so the spans handed out never move: each series gains at most the
  // default labels (or the miss label) and the load-balancer label.
  direct_labels_.clear();
  direct_labels_.reserve(batch.labels.size() + (kMaxDefaultLabels + 1) * n);
  direct_spans_.clear();
  direct_encoded_.clear();
  direct_encoded_spans_.assign(n, {0, 0});  // length 0: not encoded
  targets_.begin_request(generation, &rules, discovery);
  for (uint32_t si = 0; si < n; ++si) {
    const auto begin = static_cast<uint32_t>(direct_labels_.size());
    const bool kept = direct_series(rules, discovery, batch, si, stats);
    direct_spans_.push_back(
        {begin, kept ? static_cast<uint32_t>(direct_labels_.size() - begin) : UINT32_MAX});
  }
  // Encoded bytes only when asked for (the series tracker keys on them); otherwise the
  // sink encodes these views straight into its request. What direct_series did not
  // splice, and that is not the sender's bytes as they are, is encoded here.
  for (size_t i = 0; i < n && rules.encode_direct; ++i) {
    if (direct_spans_[i].second == UINT32_MAX || direct_encoded_spans_[i].second != 0) continue;
    if (direct_spans_[i].second == batch.series[i].labels_count) continue;  // raw bytes below
    const size_t at = direct_encoded_.size();
    proto::append_labels_v1(
        direct_encoded_, {direct_labels_.data() + direct_spans_[i].first, direct_spans_[i].second});
    direct_encoded_spans_[i] = {static_cast<uint32_t>(at),
                                static_cast<uint32_t>(direct_encoded_.size() - at)};
  }
  for (size_t i = 0; i < n; ++i) {
    if (direct_spans_[i].second == UINT32_MAX) continue;  // dropped: load-balanced or late
    const std::span<const proto::Label> labels(direct_labels_.data() + direct_spans_[i].first,
                                               direct_spans_[i].second);
    // Nothing added: the sender's own encoded bytes can be copied as they are.
    const std::string_view encoded =
        labels.size() == batch.series[i].labels_count
            ? batch.series[i].raw_labels
            : std::string_view(direct_encoded_.data() + direct_encoded_spans_[i].first,
                               direct_encoded_spans_[i].second);
    const SeriesOut so{static_cast<uint32_t>(i), labels, proto::hash_labels(labels), encoded};
    for (auto& o : out) o.push_back(so);
  }
}

}  // namespace rwgate::pipeline
