// The series rwgate forwarded for each instance that enrichment matched, per sink, so that
// they can be ended with staleness markers the moment the instance goes away.
//
// Every forwarded sample of a matched instance touches its series here, so the table is
// laid out for the touch, which at 100k-1M series is a cache miss, not a computation:
//
//   slots    open addressing (linear probing, backward-shift erase), 32 bytes a slot, two
//            to a cache line, holding all a touch reads or writes: the key, a check, the
//            last timestamp, the discovery generation and the arrival second. track()
//            computes every key of a request first and prefetches their slots, so the
//            misses of one request overlap instead of queueing.
//   entries  what only inserts, discovery changes, take() and compaction need (instance,
//            sink, tenant, labels), in a dense array the slot points into.
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
// Labels are kept interned: each distinct RW 1.0 Label field (name and value, encoded) is
// stored once in a pool, and a series holds the pool ids of its fields, as varints, in an
// arena. The series of one target share most of their labels (job, instance, the fleet
// labels), so a series costs a byte or two a label rather than its label bytes. Arena and
// pool are compacted when half of them is garbage. Instances keep the keys of their
// series, so ending one instance costs its own series, not a pass over all of them.
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

  static constexpr size_t kForgetSlice = 8192;

 private:
  struct Slot {
    uint64_t key;  // 0: empty
    int64_t last_ts;
    uint32_t check;
    uint32_t generation;  // the low 32 bits of the discovery generation of the last touch
    uint32_t touched_s;
    uint32_t entry;  // into entries_
  };
  static_assert(sizeof(Slot) == 32);
  struct Entry {
    uint32_t instance;  // UINT32_MAX: free (on free_entries_)
    uint32_t sink_id;
    uint32_t tenant;
    uint32_t ids_at;   // into ids_: the pool ids of its label fields, varints, in order
    uint16_t ids_len;  // bytes
  };
  struct Instance {
    std::string key;
    uint32_t live = 0;             // series whose entry names this instance
    std::vector<uint64_t> series;  // their keys, and maybe keys that moved on or went
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

  size_t home(uint64_t key) const {
    return static_cast<size_t>((static_cast<unsigned __int128>(key) * slots_.size()) >> 64);
  }
  size_t next(size_t i) const { return i + 1 == slots_.size() ? 0 : i + 1; }
  // The slot of `key`, or SIZE_MAX.
  size_t find(uint64_t key) const;
  // Inserts a new key (not in the table); grows first when the table is full enough.
  Slot& insert(uint64_t key);
  void erase_slot(size_t i);  // backward shift: the slots after it move up
  void grow();

  void touch(const Request& r, const Pending& p, std::string_view bytes);
  // Releases slot i's entry and labels, and its instance's count, then empties the slot.
  void forget(size_t i);
  uint32_t new_entry(const Entry& e);
  void move_to(Entry& e, uint64_t key, uint32_t instance);
  void drop_instance_if_empty(uint32_t instance);
  void add_key(uint32_t instance, uint64_t key);

  // Label fields of `encoded` into fields_ (false: not RW 1.0 Label fields).
  bool split(std::string_view encoded);
  void store_labels(Entry& e);  // fields_ interned into the arena
  std::string labels_of(const Entry& e) const;
  uint32_t intern(std::string_view field);
  void index_field(uint32_t id, uint64_t hash);  // into pool_index_, which has room
  void compact();                                // arena and pool, when half of them is garbage
  uint32_t instance_index(const discovery::InstanceRecord& rec);

  const KeyHash key_hash_;
  const uint64_t seed_;
  mutable std::mutex mu_;  // guards everything below
  std::vector<Slot> slots_;
  size_t size_ = 0;
  std::vector<Entry> entries_;
  std::vector<uint32_t> free_entries_;
  size_t forget_cursor_ = 0;  // where the last forgetting slice stopped
  std::string ids_;           // the arena
  size_t garbage_ids_ = 0;    // its bytes that belong to no tracked series
  std::vector<std::unique_ptr<char[]>> pool_blocks_;
  char* pool_next_ = nullptr;  // free space of the newest block
  size_t pool_block_left_ = 0;
  std::vector<std::string_view> pool_;  // id -> encoded Label field, in pool_blocks_
  // field -> id: open addressing over (id + 1) << 32 | hash tag, at most half full. Eight
  // bytes a distinct field where a node-based map took about sixty: most series have a
  // field of their own (a high-cardinality label), so this is most of the pool's cost.
  std::vector<uint64_t> pool_index_;
  std::vector<std::string_view> fields_;  // scratch of split()
  std::vector<Instance> instances_;       // by index; a dropped one has an empty key
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
