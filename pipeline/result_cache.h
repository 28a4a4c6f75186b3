// The per-series result cache of the label pipeline.
//
//   key    the input labels (compared byte for byte, so a hash collision can never hand
//          one series another's labels): the raw RW 1.0 label bytes when the decoder kept
//          them (no copy), else the labels flattened as name 0xff value 0xff ...; the form
//          is part of the key and seeds the hash, so a raw key never equals a flat one
//   value  for each sink: dropped, or the output labels, owned by the entry, ready to encode
//   valid  while the entry was computed under the current CacheGeneration: a reload, a
//          discovery change or a new load-balancer verdict changes it, which turns every
//          older entry into a miss that is recomputed in place. The cache numbers the
//          generations it has seen (an epoch, bumped whenever the generation differs from
//          the previous request's), so an entry holds one number and a hit compares one.
//
// Capacity is a number of entries, evicted by CLOCK (second chance). Entries used by the
// request in progress are pinned: the spans handed to the sinks stay valid until the
// request is enqueued; a miss that finds every candidate pinned goes to an overflow entry
// that lives until the next request.
//
// The lookups are memory-bound (index cell, entry, entry bytes: three likely cache misses
// per series), so find() runs in passes over the whole batch: each pass issues its loads
// for every series before any result is needed, and the misses overlap.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "discovery/instance.h"
#include "lb/detector.h"
#include "pipeline/enrich.h"
#include "proto/batch.h"

namespace rwgate::pipeline {

// What a cached result was computed from.
struct CacheGeneration {
  uint64_t config = 0;     // PipelineRules::generation
  uint64_t discovery = 0;  // the snapshot's, with enrichment on
  uint64_t verdicts = 0;   // the load-balancer verdicts', with detection on
  bool operator==(const CacheGeneration&) const = default;
};

enum class KeyForm : uint8_t { kRaw = 1, kFlat = 2 };

// One series' result.
struct CacheEntry {
  uint64_t hash = 0;
  uint64_t epoch = 0;      // ResultCache's number of the generation it was computed under
  uint64_t pinned_by = 0;  // request number that last used it
  bool referenced = false;
  KeyForm key_form = KeyForm::kRaw;
  EnrichOutcome enriched = EnrichOutcome::kOff;
  bool late = false;                                // dropped: the instance is gone
  const discovery::InstanceRecord* live = nullptr;  // live match, of the generation
  bool lb_flagged = false;                          // lb_action was applied
  lb::LbAction lb_action = lb::LbAction::kPass;
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

  // Dropped as load-balanced or late: counted as such, not as dropped by rules.
  bool dropped_before_rules() const {
    return late || (lb_flagged && lb_action == lb::LbAction::kDrop);
  }
};

class ResultCache {
 public:
  using HashFn = uint64_t (*)(std::string_view key);
  // Tests pass a weak hash to force collisions.
  explicit ResultCache(HashFn hash = nullptr) : hash_(hash) {}

  // Starts a request under `generation`: entries pinned by the previous one are free
  // again, and entries of another generation are misses.
  void begin_request(const CacheGeneration& generation);
  // Computes every series' key and hash and looks them up (the passes above).
  void find(const proto::Batch& batch);
  // Series i's valid entry (pinned for this request), or null: a miss. Inline: it is the
  // steady state, once per series.
  CacheEntry* hit(size_t i) {
    const Key key = keys_[i];
    CacheEntry* e = found_[i];
    // An entry found by find() may have been reused by a miss since; the compare catches it.
    if (e == nullptr || e->hash != hashes_[i] || e->epoch != epoch_ || e->key_form != key.form ||
        e->key_len != key.bytes.size() ||
        std::memcmp(e->storage.data(), key.bytes.data(), key.bytes.size()) != 0) {
      return nullptr;
    }
    e->referenced = true;
    e->pinned_by = request_;
    return e;
  }
  // An entry to compute series i's result into, keyed and pinned (maybe an overflow
  // entry). `capacity`: the most entries to keep.
  CacheEntry* claim(size_t i, size_t capacity, uint64_t& evictions);

  size_t size() const { return index_.size(); }

 private:
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
  struct Key {
    KeyForm form;
    std::string_view bytes;
  };
  CacheEntry* slot_for(uint64_t hash, size_t capacity, uint64_t& evictions);

  HashFn hash_;
  std::vector<std::unique_ptr<CacheEntry>> slots_;
  Index index_;
  size_t hand_ = 0;
  uint64_t request_ = 0;
  CacheGeneration generation_;  // of the request in progress
  uint64_t epoch_ = 0;          // its number; entries start at 0, so none is valid at first
  std::vector<std::unique_ptr<CacheEntry>> overflow_;  // results of this request that did not fit
  // Per-request scratch of find().
  std::vector<Key> keys_;
  std::vector<uint64_t> hashes_;
  std::vector<CacheEntry*> found_;
  std::string flat_keys_;
  std::vector<std::pair<size_t, size_t>> flat_spans_;
};

}  // namespace rwgate::pipeline
