#include "relabel/series_cache.h"

#include <cstring>

#include "proto/encode.h"
#include "proto/hash.h"

namespace rwgate::relabel {

namespace {
// A sample of `host` (whose live record, if any, is `rec`) comes after its instance went:
// the record says it is gone, or the instance left discovery recently.
bool is_late(const discovery::DiscoverySnapshot& d, const discovery::InstanceRecord* rec,
             std::string_view host) {
  if (host.empty()) return false;
  return rec != nullptr ? rec->is_gone() : d.lookup_gone(host) != nullptr;
}
}  // namespace

int64_t SeriesCache::Index::find(uint64_t hash) const {
  if (cells_.empty()) return -1;
  const size_t mask = cells_.size() - 1;
  for (size_t i = hash & mask;; i = (i + 1) & mask) {
    if (cells_[i].slot == UINT32_MAX) return -1;
    if (cells_[i].hash == hash) return cells_[i].slot;
  }
}

void SeriesCache::Index::prefetch(uint64_t hash) const {
  if (!cells_.empty()) __builtin_prefetch(&cells_[hash & (cells_.size() - 1)]);
}

void SeriesCache::Index::grow() {
  std::vector<Cell> old = std::move(cells_);
  cells_.assign(old.empty() ? 64 : old.size() * 2, Cell{0, UINT32_MAX});
  size_ = 0;
  for (const Cell& c : old) {
    if (c.slot != UINT32_MAX) insert(c.hash, c.slot);
  }
}

void SeriesCache::Index::insert(uint64_t hash, uint32_t slot) {
  if ((size_ + 1) * 2 > cells_.size()) grow();  // load factor at most 1/2
  const size_t mask = cells_.size() - 1;
  size_t i = hash & mask;
  while (cells_[i].slot != UINT32_MAX && cells_[i].hash != hash) i = (i + 1) & mask;
  if (cells_[i].slot == UINT32_MAX) ++size_;
  cells_[i] = Cell{hash, slot};
}

void SeriesCache::Index::erase(uint64_t hash) {
  if (cells_.empty()) return;
  const size_t mask = cells_.size() - 1;
  size_t i = hash & mask;
  while (true) {
    if (cells_[i].slot == UINT32_MAX) return;
    if (cells_[i].hash == hash) break;
    i = (i + 1) & mask;
  }
  // Backward-shift deletion keeps every probe chain unbroken without tombstones.
  size_t hole = i;
  for (size_t j = (i + 1) & mask; cells_[j].slot != UINT32_MAX; j = (j + 1) & mask) {
    const size_t home = cells_[j].hash & mask;
    // Move j into the hole when its home is not in the cyclic range (hole, j].
    const bool in_range = hole < j ? (home > hole && home <= j) : (home > hole || home <= j);
    if (!in_range) {
      cells_[hole] = cells_[j];
      hole = j;
    }
  }
  cells_[hole].slot = UINT32_MAX;
  --size_;
}

// A slot for a new entry: the one already holding this hash (stale or colliding), a fresh
// one while below capacity, or a CLOCK victim. nullptr when every candidate is pinned.
SeriesCache::Entry* SeriesCache::slot_for(uint64_t hash, size_t capacity, PipelineStats& stats) {
  if (const int64_t slot = index_.find(hash); slot >= 0) {
    Entry* e = slots_[static_cast<size_t>(slot)].get();
    return e->pinned_by == request_ ? nullptr : e;
  }
  if (slots_.size() < capacity) {
    slots_.push_back(std::make_unique<Entry>());
    index_.insert(hash, static_cast<uint32_t>(slots_.size() - 1));
    return slots_.back().get();
  }
  if (slots_.empty()) return nullptr;
  // CLOCK: clear reference bits until an unreferenced, unpinned entry comes up; two full
  // turns without one means everything is pinned by this request.
  for (size_t step = 0; step < 2 * slots_.size(); ++step) {
    hand_ = (hand_ + 1) % slots_.size();
    Entry* e = slots_[hand_].get();
    if (e->pinned_by == request_) continue;
    if (e->referenced) {
      e->referenced = false;
      continue;
    }
    index_.erase(e->hash);
    index_.insert(hash, static_cast<uint32_t>(hand_));
    ++stats.evictions;
    return e;
  }
  return nullptr;
}

bool SeriesCache::enrich(const EnrichRules& rules, const discovery::DiscoverySnapshot* discovery,
                         Entry& e) {
  e.enriched = 0;
  e.late = false;
  e.rec = nullptr;
  if (!rules.enabled || discovery == nullptr) return true;
  const std::string_view host = discovery::host_of(builder_.get(rules.match_label));
  const discovery::InstanceRecord* rec = host.empty() ? nullptr : discovery->lookup(host);
  if (rules.drop_late && is_late(*discovery, rec, host)) {
    e.late = true;
    return false;
  }
  if (rec != nullptr && !rec->is_gone()) e.rec = rec;
  if (rec == nullptr) {
    e.enriched = 2;
    if (rules.annotate_miss && builder_.get("enrichment").empty())
      builder_.set("enrichment", "miss");
    return true;
  }
  e.enriched = 1;
  if (rules.rules.empty()) {
    // The default mapping; a label the series already has is the sender's word and stays.
    const std::pair<std::string_view, const std::string*> kDefaults[] = {
        {"asg", &rec->asg_name},
        {"availability_zone", &rec->availability_zone},
        {"lifecycle_state", &rec->lifecycle_state},
        {"instance_id", &rec->instance_id}};
    for (const auto& [label, value] : kDefaults) {
      if (builder_.get(label).empty()) builder_.set(label, *value);
    }
    return true;
  }
  // Custom rules see the record as meta labels, then every __meta_* label goes.
  for (const auto& [name, value] : rec->meta_labels()) builder_.set(name, value);
  if (!process(rules.rules, builder_)) return false;
  builder_.visible(scratch_);
  meta_names_.clear();
  for (const proto::Label& l : scratch_) {
    if (l.name.starts_with("__meta_")) meta_names_.emplace_back(l.name);
  }
  for (const std::string& name : meta_names_) builder_.del(name);
  return true;
}

SeriesCache::LbHit SeriesCache::lb_check(const LbRules& rules,
                                         std::span<const proto::Label> labels) {
  LbHit hit;
  if (!rules.enabled) return hit;
  const std::string_view instance = proto::label_value(labels, "instance");
  if (instance.empty()) return hit;
  const std::string_view job = proto::label_value(labels, "job");
  // A request carries a target's series one after another: the previous answer usually holds.
  if (lb_last_valid_ && instance == lb_last_instance_ && job == lb_last_job_) return lb_last_;
  const uint64_t h = proto::hash_bytes(proto::hash_bytes(0x9e3779b97f4a7c15ULL, job), instance);
  const LbMemo* memo = nullptr;
  if (auto it = lb_memo_.find(h); it != lb_memo_.end()) {
    const std::string& k = it->second.key;
    if (k.size() == job.size() + 1 + instance.size() && k.compare(0, job.size(), job) == 0 &&
        k.compare(job.size() + 1, instance.size(), instance) == 0) {
      memo = &it->second;
    }
  }
  LbMemo fresh;
  if (memo == nullptr) {
    fresh.key = target_key(job, instance);
    // A load balancer discovery listed says more (its type, the groups behind it) than a
    // name pattern: it comes first.
    if (lb_discovery_ != nullptr &&
        lb_discovery_->load_balancer(discovery::host_of(instance)) != nullptr) {
      fresh.name_pattern = kLbDiscovered;
    } else if (rules.names != nullptr) {
      fresh.name_pattern = static_cast<int16_t>(rules.names->match(instance));
    }
    fresh.confirmed = lb_verdicts_ != nullptr && lb_verdicts_->confirmed.contains(fresh.key);
    if (lb_memo_.size() >= 65536) lb_memo_.clear();  // bounded; refills from the next series
    memo = &lb_memo_.insert_or_assign(h, std::move(fresh)).first->second;
  }
  hit.flagged = memo->confirmed || memo->name_pattern != -1;
  hit.name_pattern = memo->name_pattern;
  if (hit.flagged) hit.action = rules.action_for(job);
  lb_last_valid_ = true;
  lb_last_job_ = job;
  lb_last_instance_ = instance;
  lb_last_ = hit;
  return hit;
}

void SeriesCache::compute(const PipelineRules& rules, const discovery::DiscoverySnapshot* discovery,
                          Key key, std::span<const proto::Label> labels, Entry& e) {
  e.key_form = key.form;
  e.key_len = static_cast<uint32_t>(key.bytes.size());
  e.storage.assign(key.bytes.data(), key.bytes.size());
  e.labels.clear();
  e.outs.assign(rules.per_sink.size(), Entry::Out{});

  // Output label sets are encoded into `storage` as they come; their label views are
  // read back from the encodings once `storage` has its final size.
  uint32_t nlabels = 0;
  auto store = [&](std::span<const proto::Label> out) {
    Entry::Out o;
    o.begin = nlabels;
    o.count = static_cast<uint32_t>(out.size());
    o.encoded_at = static_cast<uint32_t>(e.storage.size());
    proto::append_labels_v1(e.storage, out);
    o.encoded_len = static_cast<uint32_t>(e.storage.size() - o.encoded_at);
    o.hash = proto::hash_labels(out);
    nlabels += o.count;
    return o;
  };

  builder_.reset(labels);
  const LbHit lb = lb_check(rules.lb, labels);
  e.lb_flagged = lb.flagged;
  e.lb_action = lb.action;
  e.lb_name_pattern = lb.name_pattern;
  bool kept = enrich(rules.enrich, discovery, e);
  if (kept && lb.flagged) {
    // The sender's own label wins here too.
    if (lb.action == LbAction::kAnnotate && builder_.get(rules.lb.label).empty())
      builder_.set(rules.lb.label, kLbLabelValue);
    if (lb.action == LbAction::kDrop) kept = false;
  }
  kept = kept && process(rules.global, builder_);
  // The global result becomes the base of each sink's rules; it is copied out first,
  // since resetting the builder frees what its views point into.
  std::vector<proto::Label>& global_out = global_labels_;
  global_out.clear();
  if (kept) {
    builder_.labels(scratch_);
    global_bytes_.clear();
    for (const proto::Label& l : scratch_) {
      global_bytes_.append(l.name);
      global_bytes_.append(l.value);
    }
    size_t at = 0;
    for (const proto::Label& l : scratch_) {
      const std::string_view name(global_bytes_.data() + at, l.name.size());
      at += l.name.size();
      const std::string_view value(global_bytes_.data() + at, l.value.size());
      at += l.value.size();
      global_out.push_back(proto::Label{name, value});
    }
  }
  Entry::Out global{0, 0, !kept};
  bool global_stored = false;
  for (size_t s = 0; s < rules.per_sink.size(); ++s) {
    if (!kept) {
      e.outs[s].dropped = true;
      continue;
    }
    if (rules.per_sink[s].empty()) {
      if (!global_stored) {
        global = store(global_out);
        global_stored = true;
      }
      e.outs[s] = global;
      continue;
    }
    builder_.reset(global_out);
    if (!process(rules.per_sink[s], builder_)) {
      e.outs[s].dropped = true;
      continue;
    }
    builder_.labels(scratch_);
    e.outs[s] = store(scratch_);
  }
  // Each stored output once (sinks without rules share the global one), in store order.
  uint32_t next = 0;
  for (const Entry::Out& o : e.outs) {
    if (o.dropped || o.begin != next) continue;
    proto::read_labels_v1(std::string_view(e.storage).substr(o.encoded_at, o.encoded_len),
                          decoded_);
    e.labels.insert(e.labels.end(), decoded_.begin(), decoded_.end());
    next += o.count;
  }
}

void SeriesCache::run_direct(const PipelineRules& rules,
                             const discovery::DiscoverySnapshot* discovery,
                             const proto::Batch& batch, std::vector<std::vector<SeriesOut>>& out,
                             PipelineStats& stats) {
  const size_t n = batch.series.size();
  // Sized up front so the spans handed out never move: each series gains at most five
  // labels (four from discovery or one `enrichment` label, and the load-balancer label).
  direct_labels_.clear();
  direct_labels_.reserve(batch.labels.size() + 5 * n);
  direct_spans_.clear();
  const EnrichRules& er = rules.enrich;
  for (uint32_t si = 0; si < n; ++si) {
    const proto::Series& series = batch.series[si];
    const std::span<const proto::Label> in = batch.labels_of(series);
    // The labels to add, in name order; a label the series already has is the sender's
    // word and stays (an empty value is no label).
    proto::Label add[5];
    size_t nadd = 0;
    const LbHit lb = lb_check(rules.lb, in);
    if (lb.flagged) {
      stats.lb_flagged.push_back(LbFlag{si, lb.name_pattern, lb.action});
      if (lb.action == LbAction::kDrop) {
        direct_spans_.push_back({0, UINT32_MAX});  // not sent anywhere
        continue;
      }
    }
    const std::string_view host = er.enabled
                                      ? discovery::host_of(proto::label_value(in, er.match_label))
                                      : std::string_view();
    const discovery::InstanceRecord* rec =
        host.empty() || discovery == nullptr ? nullptr : discovery->lookup(host);
    if (er.drop_late && discovery != nullptr && is_late(*discovery, rec, host)) {
      ++stats.late_series;
      stats.late_samples += series.samples_count + series.histograms_count;
      direct_spans_.push_back({0, UINT32_MAX});  // not sent anywhere
      continue;
    }
    if (rec != nullptr && !rec->is_gone()) stats.records[si] = rec;
    if (rec != nullptr) {
      ++stats.enrich_hits;
      const proto::Label defaults[] = {{"asg", rec->asg_name},
                                       {"availability_zone", rec->availability_zone},
                                       {"instance_id", rec->instance_id},
                                       {"lifecycle_state", rec->lifecycle_state}};
      for (const proto::Label& d : defaults) {
        if (!d.value.empty()) add[nadd++] = d;
      }
    } else if (er.enabled && discovery != nullptr) {
      ++stats.enrich_misses;
      if (er.annotate_miss) add[nadd++] = {"enrichment", "miss"};
    }
    if (lb.flagged && lb.action == LbAction::kAnnotate) {
      // Into its place in name order.
      const proto::Label via{rules.lb.label, kLbLabelValue};
      size_t at = 0;
      while (at < nadd && add[at].name < via.name) ++at;
      if (at == nadd || add[at].name != via.name) {
        for (size_t k = nadd; k > at; --k) add[k] = add[k - 1];
        add[at] = via;
        ++nadd;
      }
    }
    const auto begin = static_cast<uint32_t>(direct_labels_.size());
    size_t a = 0;
    for (const proto::Label& l : in) {
      // Most names differ in their first byte; compare whole names only when they do not.
      for (; a < nadd; ++a) {
        const std::string_view an = add[a].name;
        const int c =
            an[0] != l.name[0]
                ? (static_cast<unsigned char>(an[0]) < static_cast<unsigned char>(l.name[0]) ? -1
                                                                                             : 1)
                : an.compare(l.name);
        if (c > 0) break;
        if (c < 0) direct_labels_.push_back(add[a]);
      }
      direct_labels_.push_back(l);
    }
    for (; a < nadd; ++a) direct_labels_.push_back(add[a]);
    direct_spans_.push_back({begin, static_cast<uint32_t>(direct_labels_.size() - begin)});
  }
  // Encoded bytes only when asked for (the series tracker compares them with one memcmp);
  // otherwise the sink encodes these views straight into its request, which costs the
  // same as copying bytes encoded here would, minus this copy.
  direct_encoded_.clear();
  direct_encoded_spans_.assign(n, {0, 0});
  for (size_t i = 0; i < n; ++i) {
    if (direct_spans_[i].second == UINT32_MAX || !rules.encode_direct) continue;
    if (direct_spans_[i].second == batch.series[i].labels_count) continue;  // raw bytes below
    const std::span<const proto::Label> labels(direct_labels_.data() + direct_spans_[i].first,
                                               direct_spans_[i].second);
    const size_t at = direct_encoded_.size();
    proto::append_labels_v1(direct_encoded_, labels);
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

void SeriesCache::run(const PipelineRules& rules, const discovery::DiscoverySnapshot* discovery,
                      const proto::Batch& batch, std::vector<std::vector<SeriesOut>>& out,
                      PipelineStats& stats, const LbVerdicts* verdicts) {
  ++request_;
  // Valid results depend on the config, the discovery snapshot and the LB verdicts.
  const uint64_t lb_generation = rules.lb.enabled && verdicts != nullptr ? verdicts->generation : 0;
  const uint64_t generation =
      (rules.generation << 32) ^
      (discovery != nullptr && rules.enrich.enabled ? discovery->generation() : 0) ^
      (lb_generation * 0x9e3779b97f4a7c15ULL);
  lb_verdicts_ = verdicts;
  lb_discovery_ = discovery != nullptr && discovery->has_load_balancers() ? discovery : nullptr;
  lb_last_valid_ = false;  // its views point into the previous request
  if (const uint64_t memo_gen = (rules.generation << 32) ^ lb_generation ^
                                (lb_discovery_ != nullptr ? lb_discovery_->generation() << 16 : 0);
      memo_gen != lb_memo_generation_) {
    lb_memo_.clear();
    lb_memo_generation_ = memo_gen;
  }
  overflow_.clear();
  const size_t nsinks = rules.per_sink.size();
  out.resize(nsinks);
  for (auto& o : out) o.clear();
  stats.dropped_per_sink.assign(nsinks, 0);
  stats.lb_flagged.clear();
  stats.records.assign(batch.series.size(), nullptr);
  stats.late_series = stats.late_samples = 0;
  if (rules.direct()) return run_direct(rules, discovery, batch, out, stats);
  // The lookups are memory-bound (index cell, entry, entry bytes: three likely cache
  // misses per series), so they run in passes over the whole batch: each pass issues its
  // loads for every series before any result is needed, and the misses overlap.
  const size_t n = batch.series.size();
  keys_.resize(n);
  hashes_.resize(n);
  found_.resize(n);
  flat_keys_.clear();
  for (size_t i = 0; i < n; ++i) {  // pass 1: keys and hashes; touch the index cells
    const proto::Series& series = batch.series[i];
    if (!series.raw_labels.empty()) {
      keys_[i] = Key{1, series.raw_labels};
    } else {
      // Flattened keys go into one buffer; their views are fixed once it stops growing.
      const size_t at = flat_keys_.size();
      for (const proto::Label& l : batch.labels_of(series)) {
        flat_keys_.append(l.name);
        flat_keys_.push_back('\xff');
        flat_keys_.append(l.value);
        flat_keys_.push_back('\xff');
      }
      keys_[i] = Key{2, std::string_view(nullptr, 0)};
      flat_spans_.resize(n);
      flat_spans_[i] = {at, flat_keys_.size() - at};
    }
  }
  for (size_t i = 0; i < n; ++i) {
    if (keys_[i].form == 2)
      keys_[i].bytes =
          std::string_view(flat_keys_.data() + flat_spans_[i].first, flat_spans_[i].second);
    hashes_[i] =
        hash_ != nullptr ? hash_(keys_[i].bytes) : proto::hash_bytes(keys_[i].form, keys_[i].bytes);
    index_.prefetch(hashes_[i]);
  }
  for (size_t i = 0; i < n; ++i) {  // pass 2: index cells to entries; touch the entries
    const int64_t slot = index_.find(hashes_[i]);
    found_[i] = slot >= 0 ? slots_[static_cast<size_t>(slot)].get() : nullptr;
    if (found_[i] != nullptr) __builtin_prefetch(found_[i]);
  }
  for (size_t i = 0; i < n; ++i) {  // pass 3: touch the entries' key bytes
    if (found_[i] != nullptr) __builtin_prefetch(found_[i]->storage.data());
  }
  for (size_t i = 0; i < n; ++i) {  // pass 4: verify (full key compare), or compute
    const Key key = keys_[i];
    const uint64_t h = hashes_[i];
    Entry* e = found_[i];
    // An entry found in pass 2 may have been reused by a miss since; the compare catches it.
    if (e != nullptr && (e->hash != h || e->generation != generation || e->key_form != key.form ||
                         e->key_len != key.bytes.size() ||
                         std::memcmp(e->storage.data(), key.bytes.data(), key.bytes.size()) != 0)) {
      e = nullptr;
    }
    if (e != nullptr) {
      ++stats.hits;
    } else {
      ++stats.misses;
      e = slot_for(h, std::max<size_t>(1, rules.cache_entries_per_thread), stats);
      if (e == nullptr) {
        overflow_.push_back(std::make_unique<Entry>());
        e = overflow_.back().get();
      }
      compute(rules, discovery, key, batch.labels_of(batch.series[i]), *e);
      e->hash = h;
      e->generation = generation;
    }
    if (e->enriched == 1) ++stats.enrich_hits;
    if (e->enriched == 2) ++stats.enrich_misses;
    stats.records[i] = e->rec;
    if (e->late) {
      ++stats.late_series;
      stats.late_samples += batch.series[i].samples_count + batch.series[i].histograms_count;
    }
    if (e->lb_flagged) {
      stats.lb_flagged.push_back(
          LbFlag{static_cast<uint32_t>(i), e->lb_name_pattern, e->lb_action});
    }
    e->referenced = true;
    e->pinned_by = request_;
    // Dropped as load-balanced or late: counted as such, not as dropped by rules.
    const bool dropped_before_rules = e->late || (e->lb_flagged && e->lb_action == LbAction::kDrop);
    for (size_t s = 0; s < nsinks; ++s) {
      const Entry::Out& o = e->outs[s];
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

}  // namespace rwgate::relabel
