// The series rwgate forwarded for each instance that enrichment matched, per sink, so that
// they can be ended with staleness markers the moment the instance goes away.
//
// Every forwarded sample of a matched instance touches its series here, so the table is
// laid out for the touch, which at 100k-1M series is a cache miss, not a computation:
//
//   slots    SlotTable (slot_table.h): 32 bytes a slot, two to a cache line, holding all
//            a touch reads or writes: the key, a check, the last timestamp, the discovery
//            generation and the arrival second. track() computes every key of a request
//            first and prefetches their slots, so the misses of one request overlap
//            instead of queueing.
//   entries  what only inserts, discovery changes, take() and compaction need (instance,
//            sink, tenant, where its labels are), in chunks the slot points into.
//   labels   LabelStore (label_store.h): interned, a byte or two a label.
//
// Nothing of these is copied to grow (the slots grow a 64th at a time), so the process's
// peak memory is what the tracker holds, not twice that for the moment of a resize.
//
// Telling series apart. A slot is found by a 64-bit key, a hash of the output labels'
// encoded bytes seeded per tracker from the OS's random source and mixed with the sink
// and tenant; it is the same series if the 32-bit check (the unseeded label hash, the
// sink's shard key) matches too: 96 bits, of which the 64 that place the slot cannot be
// chosen by a sender, who does not know the seed. Two different label sets agree on all
// 96 bits with probability about n*n / 2^97 for n tracked series (1e-17 at a million),
// far below the rate of memory errors, so the labels are not compared on a touch: that
// compare, against labels kept in a pool, was a second cache miss per sample and most of
// the tracker's cost. A key that matches with a different check is a collision: the newer
// series is not tracked (and counted), as before. Seeding also keeps probe sequences
// short whatever label sets a sender crafts.
//
// Instances keep the entries of their series (4 bytes each; a slot is found again from the
// labels, which ending a series reads anyway), so ending one instance costs its own
// series, not a pass over all of them.
//
// Forgetting idle series is a pass over the slots, in slices of kForgetSlice slots with
// the lock released between them: a request waits for at most one slice, never a pass.
//
// One tracker per ingest thread: ingest locks it once per request (uncontended but for
// the moments the stale marker sender takes series out or forgets idle ones). A series
// that reaches two threads (a sender reconnected) is tracked in both; the sender merges
// them, keeping the later timestamp.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/chunked_vector.h"
#include "base/string_hash.h"
#include "discovery/instance.h"
#include "proto/batch.h"
#include "staleness/label_store.h"
#include "staleness/slot_table.h"

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
  // The key hash of encoded labels under a seed; tests pass a weak one to force collisions.
  using KeyHash = uint64_t (*)(uint64_t seed, std::string_view encoded);
  explicit SeriesTracker(KeyHash key_hash = nullptr);

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
  // Forgets series with no sample since `cutoff_s`; returns how many. Instances left
  // without series go with them. Runs in slices (see above).
  size_t forget_idle(uint32_t cutoff_s);

  size_t series() const;
  size_t instances() const;
  uint64_t collisions() const;
  // Adds each instance's tracked series to out[key] (the status page's discovery table).
  void add_series_per_instance(std::map<std::string, size_t>& out) const;

  static constexpr size_t kForgetSlice = 8192;

 private:
  struct Entry {
    uint32_t instance;  // UINT32_MAX: free (on free_entries_)
    uint32_t sink_id;
    uint32_t tenant;
    LabelStore::Ref labels;
  };
  struct Instance {
    std::string key;
    uint32_t live = 0;             // series whose entry names this instance
    std::vector<uint32_t> series;  // their entries, and maybe entries that moved on or went
  };
  // A request's series, keyed in the first pass.
  struct Pending {
    uint64_t key;
    uint32_t check;
    uint32_t sink;    // index into Request::per_sink
    uint32_t out;     // index into per_sink[sink]
    uint32_t enc_at;  // into encoded_, when the series came without its encoding
    uint32_t enc_len;
  };

  void touch(const Request& r, const Pending& p, std::string_view bytes);
  // Releases the slot's entry and labels, and its instance's count, then empties the slot
  // (a later slot of its run may move into it).
  void forget(Slot& slot);
  uint32_t new_entry(const Entry& e);
  void move_to(uint32_t entry, uint32_t instance);
  void drop_instance_if_empty(uint32_t instance);
  void add_entry(uint32_t instance, uint32_t entry);
  void compact();  // the labels, when half of them is garbage
  uint32_t instance_index(const discovery::InstanceRecord& rec);

  const KeyHash key_hash_;
  const uint64_t seed_;
  mutable std::mutex mu_;  // guards everything below
  SlotTable slots_;
  ChunkedVector<Entry> entries_;
  std::vector<uint32_t> free_entries_;
  SlotTable::Cursor forget_cursor_;  // where the last forgetting slice stopped
  LabelStore labels_;
  std::vector<Instance> instances_;  // by index; a dropped one has an empty key
  std::vector<uint32_t> free_instances_;
  std::unordered_map<std::string, uint32_t, StringHash, std::equal_to<>> instance_by_key_;
  uint64_t collisions_ = 0;
  // Per request: the keyed series, the encodings made for series that came without one,
  // and the last record seen with its index (series of one target come together).
  std::vector<Pending> pending_;
  std::string encoded_;
  const discovery::InstanceRecord* last_rec_ = nullptr;
  uint32_t last_index_ = 0;
};

}  // namespace rwgate::staleness
