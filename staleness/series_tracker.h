// The series rwgate forwarded for each instance that enrichment matched, per sink, so that
// they can be ended with staleness markers the moment the instance goes away.
//
// Per tracked series (one output label set of one sink):
//
//   key    hash_labels(output labels) mixed with the sink and tenant ids; the stored labels are
//          compared on every touch, so a hash collision never mixes two series up (the
//          second one is not tracked, and counted)
//   value  last sample timestamp, the discovery generation of the last touch, the
//          instance, the arrival time in seconds, and the output labels
//
// Labels are kept interned: each distinct RW 1.0 Label field (name and value, encoded) is
// stored once in a pool, and a series holds the pool ids of its fields in an arena. The
// series of one target share most of their labels (job, instance, the fleet labels), so a
// series costs its ids (4 bytes a label) rather than its label bytes; see
// bench/relabel_bench.cc for the figure. Arena and pool are compacted when half of them is
// garbage. Instances keep the keys of their series, so ending one instance costs its own
// series, not a pass over all of them.
//
// One tracker per ingest thread: ingest locks it once per request (uncontended but for
// the moments the stale marker sender takes series out or forgets idle ones). A series
// that reaches two threads (a sender reconnected) is tracked in both; the sender merges
// them, keeping the later timestamp.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/string_hash.h"
#include "discovery/instance.h"
#include "proto/batch.h"

namespace rwgate::staleness {

// A series taken out of a tracker, to be ended with a marker.
struct EndedSeries {
  uint32_t sink_id;
  uint32_t tenant;     // proto::Series::tenant of the series (0: none)
  std::string labels;  // RW 1.0 Label fields
  int64_t last_timestamp_ms;
};

class SeriesTracker {
 public:
  // One request, after every sink took it.
  struct Request {
    const proto::Batch& batch;
    std::span<const std::vector<proto::SeriesOut>> per_sink;  // by sink index
    std::span<const uint32_t> sink_ids;                       // by sink index
    // By input series index: the live instance enrichment matched, or null (not tracked).
    std::span<const discovery::InstanceRecord* const> records;
    uint64_t discovery_generation;
    uint32_t now_s;  // arrival time: Clock::steady_seconds()
  };
  void track(const Request& r);

  // Takes out the series of `instance` (an InstanceRecord::key()) last touched at a
  // discovery generation below `before_generation` (UINT64_MAX: all of them).
  void take(const std::string& instance, uint64_t before_generation, std::vector<EndedSeries>& out);
  // Forgets series with no sample since `cutoff_s`; returns how many. Also drops
  // instances left without series.
  size_t forget_idle(uint32_t cutoff_s);

  size_t series() const;
  size_t instances() const;
  uint64_t collisions() const;

 private:
  struct Series {
    int64_t last_ts;
    uint64_t generation;
    uint32_t instance;
    uint32_t touched_s;
    uint32_t sink_id;
    uint32_t tenant;
    uint32_t ids_at;  // into ids_: the pool ids of its label fields, in order
    uint16_t ids_count;
  };
  struct Instance {
    std::string key;
    std::vector<uint64_t> series;  // may hold keys that moved on or were forgotten
  };
  // Label fields of `encoded` into fields_ (false: not RW 1.0 Label fields).
  bool split(std::string_view encoded);
  bool same_labels(const Series& s, std::string_view encoded) const;
  void store_labels(Series& s);  // fields_ interned into the arena
  std::string labels_of(const Series& s) const;
  uint32_t intern(std::string_view field);
  void release(const Series& s) { garbage_ids_ += s.ids_count; }
  void compact();  // arena and pool, when half of them is garbage
  uint32_t instance_index(const discovery::InstanceRecord& rec);

  mutable std::mutex mu_;  // guards everything below
  std::unordered_map<uint64_t, Series> series_;
  std::vector<uint32_t> ids_;  // the arena
  size_t garbage_ids_ = 0;     // ids of series no longer tracked
  std::vector<std::unique_ptr<char[]>> pool_blocks_;
  char* pool_next_ = nullptr;  // free space of the newest block
  size_t pool_block_left_ = 0;
  std::vector<std::string_view> pool_;  // id -> encoded Label field, in pool_blocks_
  std::unordered_map<std::string_view, uint32_t> pool_index_;
  std::vector<std::string_view> fields_;  // scratch of split()
  std::vector<Instance> instances_;
  std::unordered_map<std::string, uint32_t, StringHash, std::equal_to<>> instance_by_key_;
  uint64_t collisions_ = 0;
  // Per request: the last record seen and its index (series of one target come together).
  const discovery::InstanceRecord* last_rec_ = nullptr;
  uint32_t last_index_ = 0;
};

}  // namespace rwgate::staleness
