// The direct path's memo of what it knows about a target: the load-balancer check, the
// discovery match and the labels enrichment adds. All of it depends on the series' job and
// instance labels (and the match label's value, when enrichment matches on another one),
// never on the rest of the series, so it is found once per distinct target and reused
// until what it depends on changes (a CacheGeneration: config, discovery snapshot, verdicts).
//
// Why a memo and not the last answer: a Prometheus shard's request mixes its targets (it
// shards by series hash), so consecutive series rarely share a target, and remembering the
// previous one saves nothing. Asked afresh, each series paid two hash-map lookups (the lb
// check's and discovery's), their key compares and the gone-state checks: about a tenth of
// the direct path. Here it is one seeded hash of the two values, a probe into a table that
// holds one slot per target (it stays in cache) and one compare of the key.
//
// A kept target's added labels are encoded once, into one buffer of the memo: the direct
// path splices those bytes between the sender's Label fields, and its views (and the shard
// hash) read them there, next to each other, rather than in the discovery record, which at
// a thousand targets is a cache miss a series. The buffer is reserved at its bound, so it
// never moves while views into it are held.
//
// Keys are compared in full, so a hash collision costs a lookup, never a wrong answer; the
// hash is seeded per memo, so a sender cannot craft values that share a probe sequence.
// Bounded whatever the senders send: a key part longer than kMaxKeyPart bytes (no address
// is that long) is answered but not kept, and when kMaxTargets targets, kMaxKeyBytes of
// keys or kMaxEncodedBytes of labels are held, further targets are answered but not kept
// until the next request, which starts again from empty (not earlier: the request's
// series hold views into the buffer). A target costs about 230 bytes plus its key and
// labels, so the bound is some 25-40 MiB per ingest worker, reached only by a fleet (or a
// sender) with 65,536 targets; a fleet of 1000 takes a third of a MiB.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "discovery/instance.h"
#include "lb/target_check.h"
#include "pipeline/enrich.h"
#include "pipeline/result_cache.h"

namespace rwgate::pipeline {

// What the direct path does with a series of one target.
struct TargetFacts {
  lb::LbHit lb;
  EnrichOutcome outcome = EnrichOutcome::kOff;
  bool late = false;                                // dropped: the instance is gone
  const discovery::InstanceRecord* live = nullptr;  // for the tracker and coverage
  // The labels to add, in name order. Kept facts hold them encoded as Label fields, one
  // after another from `encoded`, and the views point into those bytes; facts that were
  // not kept (encoded null) point into the snapshot's record and the rules instead, which
  // live as long as the generation the memo holds.
  uint8_t nadd = 0;
  std::array<proto::Label, kMaxDefaultLabels + 1> add;
  const char* encoded = nullptr;

  // add[a]'s Label field, when encoded: it ends with its value and starts where the one
  // before it ends.
  std::string_view field(size_t a) const {
    const char* begin = a == 0 ? encoded : add[a - 1].value.data() + add[a - 1].value.size();
    return {begin, static_cast<size_t>(add[a].value.data() + add[a].value.size() - begin)};
  }
};

class TargetMemo {
 public:
  // The key: the job, instance and match label values (the last empty when enrichment
  // matches on `instance`, as it does by default).
  using Key = std::array<std::string_view, 3>;
  static constexpr size_t kMaxTargets = 65536;
  static constexpr size_t kMaxKeyPart = 1024;
  static constexpr size_t kMaxKeyBytes = size_t{4} << 20;
  static constexpr size_t kMaxEncodedBytes = size_t{4} << 20;

  TargetMemo();

  // Once per request: forgets everything when `generation` is not the one held, when the
  // rules or the snapshot are other objects, or when the memo filled up. The facts point
  // into both, which the caller keeps alive while their generation lasts (a generation
  // names one snapshot), and into the memo, valid until the next begin_request().
  void begin_request(const CacheGeneration& generation, const void* rules, const void* discovery);
  // The facts of `key`, or null; then put() them, for the same key, before the next find().
  const TargetFacts* find(const Key& key);
  // put() keeps the facts with their labels encoded, unless the memo is full or a key
  // part too long; the answer says which (`encoded`).
  const TargetFacts& put(const Key& key, const TargetFacts& facts);
  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    uint64_t hash;
    uint32_t key_at;                   // into keys_
    std::array<uint16_t, 3> key_lens;  // each part's length, at most kMaxKeyPart
    TargetFacts facts;
  };
  uint64_t hash(const Key& key) const;
  bool matches(const Entry& e, const Key& key) const;
  void clear();
  void place(uint64_t hash, size_t index);  // into a slot; slots_ has room

  const uint64_t seed_;
  CacheGeneration generation_;
  const void* rules_ = nullptr;
  const void* discovery_ = nullptr;
  bool valid_ = false;
  // Open addressing over entries_: the hash's high half and index + 1 (0: empty), so most
  // probes that do not match are told apart without reading the entry. A power of two of
  // slots, at most half full.
  std::vector<uint64_t> slots_;
  std::vector<Entry> entries_;
  std::string keys_;
  std::string encoded_;  // kept targets' added labels, as Label fields; reserved at its bound
  std::vector<proto::Label> decoded_;  // put()'s scratch
  bool full_ = false;                  // a target was not kept: start again next request
  // find()'s hash, reused by the put() that follows a miss.
  uint64_t last_hash_ = 0;
  TargetFacts overflow_;  // put()'s answer for facts it does not keep
};

}  // namespace rwgate::pipeline
