// The label pipeline and its per-series result cache.
//
// Every series goes through the same label stages (enrichment from the discovery
// snapshot, the load-balancer check, the global relabel_configs, then each sink's
// write_relabel_configs). The outcome depends only on the input label set and on the
// configuration, discovery and load-balancer verdict state, so it is cached:
//
//   key   = the input labels (compared byte for byte, so a hash collision can never hand
//           one series another's labels)
//   value = for each sink: dropped, or the output labels, owned by the entry, ready to encode
//   valid while entry.generation == the generation of the current (config, discovery,
//           verdicts) snapshots; a reload, a discovery change or a new load-balancer
//           verdict bumps the generation, which turns every older entry into a miss that
//           is recomputed in place.
//
// One cache per ingest thread: a connection stays on one thread, so there is no locking
// and a sender's series keep hitting the same cache. Capacity is a number of entries
// (relabel.cache_max_entries, split across threads), evicted by CLOCK (second chance).
// Entries used by the request in progress are pinned: the spans handed to the sinks stay
// valid until the request is enqueued.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "discovery/instance.h"
#include "proto/batch.h"
#include "proto/hash.h"
#include "relabel/label_builder.h"
#include "relabel/lb_detector.h"
#include "relabel/rule.h"

namespace rwgate::relabel {

// The enrichment stage: fleet context from the discovery snapshot.
struct EnrichRules {
  bool enabled = false;                  // a discovery source is configured
  std::string match_label = "instance";  // its host (port stripped) is looked up
  std::vector<Rule> rules;               // empty: the default mapping (asg, availability_zone, ...)
  bool annotate_miss = false;            // on_miss: annotate adds enrichment="miss"
  // staleness.drop_late_samples: series of an instance that is gone (its record says so,
  // or it went away recently) are dropped.
  bool drop_late = false;
};

// Rules for one configuration. Immutable once built; shared by threads. A cached result is
// valid for one (config generation, discovery snapshot generation) pair.
struct PipelineRules {
  uint64_t generation = 0;
  EnrichRules enrich;
  std::vector<Rule> global;                 // relabel_configs
  std::vector<std::vector<Rule>> per_sink;  // write_relabel_configs, by sink index
  LbRules lb;                               // load_balancer_detection
  // direct(): also hand out each output label set encoded (SeriesOut::encoded_labels),
  // for the series tracker, which compares them on every sample.
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
  // Enrichment with the default mapping and the load-balancer check, no rules anywhere:
  // the output is the input plus at most five labels from two lookups, cheaper to compute
  // than to look up in a cache, and so computed for every series with no memory per series.
  bool direct() const {
    return (enrich.enabled || lb.enabled) && enrich.rules.empty() && no_relabel_rules();
  }
};

using proto::SeriesOut;

inline constexpr int16_t kLbDiscovered = -2;

// A series of a flagged target: what the load-balancer stage did with it.
struct LbFlag {
  uint32_t index;  // into Batch::series
  // >= 0: flagged by name (LbNamePatterns); kLbDiscovered: its host is a load balancer
  // discovery listed; -1: by behaviour.
  int16_t name_pattern;
  LbAction action;  // annotate, drop or pass
};

struct PipelineStats {
  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t evictions = 0;
  uint64_t enrich_hits = 0;                // series whose instance was found in discovery
  uint64_t enrich_misses = 0;              // series whose instance was not
  std::vector<uint64_t> dropped_per_sink;  // series not sent to a sink because of rules
  std::vector<LbFlag> lb_flagged;          // series of load-balanced targets, in batch order
  // By input series: the live instance enrichment matched (null: none, or gone). Valid
  // while the discovery snapshot passed to run() is.
  std::vector<const discovery::InstanceRecord*> records;
  uint64_t late_series = 0;   // dropped: their instance is gone (drop_late)
  uint64_t late_samples = 0;  // samples and histograms of those series
};

class SeriesCache {
 public:
  using HashFn = uint64_t (*)(std::string_view key);
  // Tests pass a weak hash to force collisions.
  explicit SeriesCache(HashFn hash = nullptr) : hash_(hash) {}

  // Runs every series of `batch` through the rules, filling out[sink] with what each
  // sink gets. The spans stay valid until the next call on this cache (and, for
  // rules.direct(), while `discovery` and `batch` are). `verdicts`: the load-balancer
  // detector's current verdicts (null: none yet).
  void run(const PipelineRules& rules, const discovery::DiscoverySnapshot* discovery,
           const proto::Batch& batch, std::vector<std::vector<SeriesOut>>& out,
           PipelineStats& stats, const LbVerdicts* verdicts = nullptr);

  size_t size() const { return index_.size(); }

 private:
  struct Entry {
    uint64_t hash = 0;
    uint64_t generation = 0;
    uint64_t pinned_by = 0;  // request number that last used it
    bool referenced = false;
    uint8_t key_form = 0;  // 1: raw RW 1.0 label bytes, 2: flattened labels
    uint8_t enriched = 0;  // 0: no enrichment, 1: instance found, 2: not found
    bool late = false;     // dropped: the instance is gone (drop_late)
    const discovery::InstanceRecord* rec = nullptr;  // live match, of the entry's generation
    bool lb_flagged = false;  // the target is a load balancer; lb_action was applied
    LbAction lb_action = LbAction::kPass;
    int16_t lb_name_pattern = -1;
    uint32_t key_len = 0;  // the key is the first key_len bytes of `storage`
    // The key, then each distinct output label set encoded as RW 1.0 Label fields; the
    // views in `labels` point into those encodings.
    std::string storage;
    std::vector<proto::Label> labels;
    struct Out {
      uint32_t begin = 0;  // into labels
      uint32_t count = 0;
      uint32_t encoded_at = 0;  // into storage
      uint32_t encoded_len = 0;
      uint64_t hash = 0;  // hash_labels of the output: the sink's shard key
      bool dropped = false;
    };
    std::vector<Out> outs;  // by sink
  };

  // Open addressing (linear probing) from a key hash to a slot; erase shifts back.
  class Index {
   public:
    size_t size() const { return size_; }
    int64_t find(uint64_t hash) const;
    void prefetch(uint64_t hash) const;
    void insert(uint64_t hash, uint32_t slot);
    void erase(uint64_t hash);

   private:
    struct Cell {
      uint64_t hash;
      uint32_t slot;  // UINT32_MAX = empty
    };
    void grow();
    std::vector<Cell> cells_;
    size_t size_ = 0;
  };

  // The lookup key of a series: its raw RW 1.0 label bytes when the decoder kept them
  // (form 1, no copy), else its labels flattened as name 0xff value 0xff ... (form 2).
  // The form is part of the key, so a raw key never equals a flattened one. The hash is
  // seeded with the form too.
  struct Key {
    uint8_t form;
    std::string_view bytes;
  };
  Entry* slot_for(uint64_t hash, size_t capacity, PipelineStats& stats);
  void compute(const PipelineRules& rules, const discovery::DiscoverySnapshot* discovery, Key key,
               std::span<const proto::Label> labels, Entry& e);
  // Adds fleet context to builder_; returns false when the enrich rules dropped the series.
  bool enrich(const EnrichRules& rules, const discovery::DiscoverySnapshot* discovery, Entry& e);

  // The load-balancer verdict of the target of `labels` (input labels), memoized per
  // target for the current (config, verdicts) generation.
  struct LbHit {
    bool flagged = false;
    int16_t name_pattern = -1;
    LbAction action = LbAction::kPass;
  };
  LbHit lb_check(const LbRules& rules, std::span<const proto::Label> labels);
  struct LbMemo {
    std::string key;  // target_key(job, instance), compared on every hit
    bool confirmed = false;
    int16_t name_pattern = -1;
  };
  std::unordered_map<uint64_t, LbMemo> lb_memo_;
  const LbVerdicts* lb_verdicts_ = nullptr;                     // for the request in progress
  const discovery::DiscoverySnapshot* lb_discovery_ = nullptr;  // its LB names, likewise
  uint64_t lb_memo_generation_ = UINT64_MAX;
  // The last target looked up in this request (views into its batch) and its answer.
  bool lb_last_valid_ = false;
  std::string_view lb_last_job_, lb_last_instance_;
  LbHit lb_last_;

  void run_direct(const PipelineRules& rules, const discovery::DiscoverySnapshot* discovery,
                  const proto::Batch& batch, std::vector<std::vector<SeriesOut>>& out,
                  PipelineStats& stats);

  HashFn hash_;
  std::vector<std::unique_ptr<Entry>> slots_;
  Index index_;
  // Per-request scratch of run()'s passes.
  std::vector<Key> keys_;
  std::vector<uint64_t> hashes_;
  std::vector<Entry*> found_;
  std::string flat_keys_;
  std::vector<std::pair<size_t, size_t>> flat_spans_;
  size_t hand_ = 0;
  uint64_t request_ = 0;
  std::vector<std::unique_ptr<Entry>> overflow_;  // results of this request that did not fit
  LabelBuilder builder_;
  std::vector<proto::Label> scratch_;
  std::string global_bytes_;
  std::vector<std::string> meta_names_;
  std::vector<proto::Label> global_labels_;
  std::vector<proto::Label> decoded_;
  // run_direct's per-request output: the label sets, and per series where its set is.
  std::vector<proto::Label> direct_labels_;
  std::vector<std::pair<uint32_t, uint32_t>> direct_spans_;  // begin, count
  std::string direct_encoded_;  // with encode_direct: the label sets as RW 1.0 Label fields
  std::vector<std::pair<uint32_t, uint32_t>> direct_encoded_spans_;  // at, length
};

}  // namespace rwgate::relabel
