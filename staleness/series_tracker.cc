#include "staleness/series_tracker.h"

#include <algorithm>
#include <cstring>
#include <random>

#include "proto/encode.h"
#include "proto/hash.h"

namespace rwgate::staleness {

namespace {

constexpr uint64_t kMix = 0x9e3779b97f4a7c15ULL;

// Two tenants may send the same output labels to one sink: both are in the key. For one
// label hash, distinct (sink, tenant) lanes give distinct keys (kMix is odd).
uint64_t key_of(uint64_t labels_hash, uint32_t sink_id, uint32_t tenant) {
  const uint64_t lane = (static_cast<uint64_t>(tenant) << 32) | sink_id;
  const uint64_t key = labels_hash ^ (lane + 1) * kMix;
  return key == 0 ? 1 : key;  // 0 marks an empty slot
}

uint32_t check_of(uint64_t shard_hash) {
  return static_cast<uint32_t>(shard_hash ^ (shard_hash >> 32));
}

uint64_t default_key_hash(uint64_t seed, std::string_view encoded) {
  return proto::hash_bytes(seed, encoded);
}

uint64_t random_seed() {
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) ^ rd();
}

// Generations are kept as their low 32 bits and compared as serial numbers: right while
// the two are fewer than 2^31 discovery changes apart.
bool at_or_after(uint32_t generation, uint64_t before) {
  return static_cast<int32_t>(generation - static_cast<uint32_t>(before)) >= 0;
}

// The newest timestamp of a series' samples and histograms; `stale`: its newest sample is
// a staleness marker (the sender ended the series itself).
int64_t newest(const proto::Batch& b, const proto::Series& s, bool& stale) {
  int64_t ts = INT64_MIN;
  stale = false;
  for (const proto::Sample& x : b.samples_of(s)) {
    if (x.timestamp >= ts) {
      ts = x.timestamp;
      uint64_t bits;
      std::memcpy(&bits, &x.value, 8);
      stale = bits == proto::kStaleNaNBits;
    }
  }
  for (const proto::Histogram& h : b.histograms_of(s)) {
    if (h.timestamp > ts) {
      ts = h.timestamp;
      stale = false;
    }
  }
  return ts;
}

void put_varint(std::string& out, uint32_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

// Calls f(id) for each varint of ids[at, at + len).
template <typename F>
void for_each_id(std::string_view ids, uint32_t at, uint16_t len, F&& f) {
  const auto* p = reinterpret_cast<const unsigned char*>(ids.data()) + at;
  const auto* end = p + len;
  while (p < end) {
    uint32_t v = 0;
    for (int shift = 0;; shift += 7) {
      const unsigned char b = *p++;
      v |= static_cast<uint32_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) break;
    }
    f(v);
  }
}

}  // namespace

SeriesTracker::SeriesTracker(KeyHash key_hash)
    : key_hash_(key_hash != nullptr ? key_hash : default_key_hash), seed_(random_seed()) {}

// ---- The table -----------------------------------------------------------------------

size_t SeriesTracker::find(uint64_t key) const {
  if (slots_.empty()) return SIZE_MAX;
  for (size_t i = home(key);; i = next(i)) {
    if (slots_[i].key == key) return i;
    if (slots_[i].key == 0) return SIZE_MAX;
  }
}

SeriesTracker::Slot& SeriesTracker::insert(uint64_t key) {
  // At most 80% full: linear probing's probe counts stay low (about 3 at the worst).
  if ((size_ + 1) * 5 > slots_.size() * 4) grow();
  size_t i = home(key);
  while (slots_[i].key != 0) i = next(i);
  ++size_;
  slots_[i].key = key;
  return slots_[i];
}

void SeriesTracker::grow() {
  // Half full after growing; any size works, as home() maps a key onto it by multiplying.
  std::vector<Slot> old(std::max<size_t>(1024, (size_ + 1) * 2), Slot{});
  old.swap(slots_);
  for (const Slot& s : old) {
    if (s.key == 0) continue;
    size_t i = home(s.key);
    while (slots_[i].key != 0) i = next(i);
    slots_[i] = s;
  }
  forget_cursor_ = 0;
}

void SeriesTracker::erase_slot(size_t i) {
  // Backward shift: a later slot of the same run moves into the hole unless its home lies
  // cyclically in (hole, slot], where moving it would put it before its home.
  for (size_t j = next(i);; j = next(j)) {
    if (slots_[j].key == 0) break;
    const size_t h = home(slots_[j].key);
    const bool stays = i <= j ? (i < h && h <= j) : (i < h || h <= j);
    if (stays) continue;
    slots_[i] = slots_[j];
    i = j;
  }
  slots_[i].key = 0;
  --size_;
}

// ---- Entries and instances -------------------------------------------------------------

uint32_t SeriesTracker::new_entry(const Entry& e) {
  if (!free_entries_.empty()) {
    const uint32_t at = free_entries_.back();
    free_entries_.pop_back();
    entries_[at] = e;
    return at;
  }
  entries_.push_back(e);
  return static_cast<uint32_t>(entries_.size() - 1);
}

void SeriesTracker::forget(size_t i) {
  const uint32_t at = slots_[i].entry;
  Entry& e = entries_[at];
  garbage_ids_ += e.ids_len;
  const uint32_t instance = e.instance;
  e.instance = UINT32_MAX;
  free_entries_.push_back(at);
  erase_slot(i);
  --instances_[instance].live;
  drop_instance_if_empty(instance);
}

void SeriesTracker::drop_instance_if_empty(uint32_t instance) {
  Instance& inst = instances_[instance];
  if (inst.live > 0) return;
  instance_by_key_.erase(inst.key);
  inst.key.clear();
  std::vector<uint64_t>().swap(inst.series);
  free_instances_.push_back(instance);
  if (last_rec_ != nullptr && last_index_ == instance) last_rec_ = nullptr;
}

void SeriesTracker::add_key(uint32_t instance, uint64_t key) {
  Instance& inst = instances_[instance];
  inst.series.push_back(key);
  if (inst.series.size() <= 2 * static_cast<size_t>(inst.live) + 16) return;
  // Mostly keys that moved on or went: keep those still here, once each. Amortised: the
  // list has doubled since the last time.
  std::erase_if(inst.series, [&](uint64_t k) {
    const size_t i = find(k);
    return i == SIZE_MAX || entries_[slots_[i].entry].instance != instance;
  });
  std::sort(inst.series.begin(), inst.series.end());
  inst.series.erase(std::unique(inst.series.begin(), inst.series.end()), inst.series.end());
}

void SeriesTracker::move_to(Entry& e, uint64_t key, uint32_t instance) {
  const uint32_t old = e.instance;
  if (old == instance) return;
  e.instance = instance;
  ++instances_[instance].live;
  add_key(instance, key);
  --instances_[old].live;
  drop_instance_if_empty(old);
}

uint32_t SeriesTracker::instance_index(const discovery::InstanceRecord& rec) {
  if (&rec == last_rec_) return last_index_;
  // Most records have an id, which is their key: look it up without building a string.
  auto it = !rec.instance_id.empty() ? instance_by_key_.find(std::string_view(rec.instance_id))
                                     : instance_by_key_.find(rec.key());
  uint32_t index;
  if (it != instance_by_key_.end()) {
    index = it->second;
  } else {
    std::string key = rec.key();
    if (!free_instances_.empty()) {
      index = free_instances_.back();
      free_instances_.pop_back();
      instances_[index] = Instance{key, 0, {}};
    } else {
      index = static_cast<uint32_t>(instances_.size());
      instances_.push_back(Instance{key, 0, {}});
    }
    instance_by_key_.emplace(std::move(key), index);
  }
  last_rec_ = &rec;
  last_index_ = index;
  return index;
}

// ---- Labels ----------------------------------------------------------------------------

bool SeriesTracker::split(std::string_view encoded) {
  fields_.clear();
  size_t at = 0;
  while (at < encoded.size()) {
    if (encoded[at] != 0x0a) return false;  // TimeSeries.labels, length-delimited
    uint64_t len = 0;
    size_t p = at + 1;
    for (int shift = 0; p < encoded.size() && shift < 35; shift += 7, ++p) {
      len |= static_cast<uint64_t>(static_cast<unsigned char>(encoded[p]) & 0x7f) << shift;
      if ((static_cast<unsigned char>(encoded[p]) & 0x80) == 0) break;
    }
    ++p;
    if (p > encoded.size() || len > encoded.size() - p) return false;
    fields_.push_back(encoded.substr(at, p - at + len));
    at = p + len;
  }
  return true;
}

void SeriesTracker::index_field(uint32_t id, uint64_t hash) {
  const size_t mask = pool_index_.size() - 1;
  size_t i = hash & mask;
  while (pool_index_[i] != 0) i = (i + 1) & mask;
  pool_index_[i] = static_cast<uint64_t>(id + 1) << 32 | static_cast<uint32_t>(hash >> 32);
}

uint32_t SeriesTracker::intern(std::string_view field) {
  const uint64_t hash = proto::hash_bytes(seed_, field);
  const auto tag = static_cast<uint32_t>(hash >> 32);
  if (!pool_index_.empty()) {
    const size_t mask = pool_index_.size() - 1;
    for (size_t i = hash & mask; pool_index_[i] != 0; i = (i + 1) & mask) {
      const uint64_t cell = pool_index_[i];
      if (static_cast<uint32_t>(cell) != tag) continue;
      const auto id = static_cast<uint32_t>(cell >> 32) - 1;
      if (pool_[id] == field) return id;
    }
  }
  if (field.size() > pool_block_left_) {
    const size_t size = std::max<size_t>(64 << 10, field.size());
    pool_blocks_.push_back(std::make_unique_for_overwrite<char[]>(size));
    pool_next_ = pool_blocks_.back().get();
    pool_block_left_ = size;
  }
  char* at = pool_next_;
  std::memcpy(at, field.data(), field.size());
  pool_next_ += field.size();
  pool_block_left_ -= field.size();
  const auto id = static_cast<uint32_t>(pool_.size());
  pool_.emplace_back(at, field.size());
  if ((pool_.size()) * 2 > pool_index_.size()) {  // grow: rehash every field
    pool_index_.assign(std::max<size_t>(1024, pool_index_.size() * 2), 0);
    for (uint32_t k = 0; k < pool_.size(); ++k) index_field(k, proto::hash_bytes(seed_, pool_[k]));
  } else {
    index_field(id, hash);
  }
  return id;
}

void SeriesTracker::store_labels(Entry& e) {
  e.ids_at = static_cast<uint32_t>(ids_.size());
  for (const std::string_view f : fields_) put_varint(ids_, intern(f));
  e.ids_len = static_cast<uint16_t>(ids_.size() - e.ids_at);
}

std::string SeriesTracker::labels_of(const Entry& e) const {
  std::string out;
  for_each_id(ids_, e.ids_at, e.ids_len, [&](uint32_t id) { out.append(pool_[id]); });
  return out;
}

void SeriesTracker::compact() {
  if (garbage_ids_ < 4096 || garbage_ids_ * 2 < ids_.size()) return;
  // The arena: live series' ids only. The pool: the fields they still use.
  std::string ids;
  ids.reserve(ids_.size() - garbage_ids_);
  std::vector<uint32_t> remap(pool_.size(), UINT32_MAX);
  std::vector<std::string_view> live;
  for (Entry& e : entries_) {
    if (e.instance == UINT32_MAX) continue;
    const auto at = static_cast<uint32_t>(ids.size());
    for_each_id(ids_, e.ids_at, e.ids_len, [&](uint32_t id) {
      uint32_t& to = remap[id];
      if (to == UINT32_MAX) {
        to = static_cast<uint32_t>(live.size());
        live.push_back(pool_[id]);
      }
      put_varint(ids, to);
    });
    e.ids_at = at;
    e.ids_len = static_cast<uint16_t>(ids.size() - at);
  }
  // Copy the live fields into fresh blocks before the old ones go.
  std::vector<std::unique_ptr<char[]>> old_blocks = std::move(pool_blocks_);
  pool_blocks_.clear();
  pool_next_ = nullptr;
  pool_block_left_ = 0;
  pool_.clear();
  pool_index_.clear();  // rebuilt, sized for the live fields, as they are interned again
  for (const std::string_view f : live) intern(f);
  ids_ = std::move(ids);
  garbage_ids_ = 0;
}

// ---- Requests ----------------------------------------------------------------------------

void SeriesTracker::track(const Request& r) {
  std::lock_guard lock(mu_);
  last_rec_ = nullptr;
  // Pass 1: key every tracked series and prefetch its slot. The slots of a request are
  // random lines of a table far larger than the caches; asking for all of them before
  // using any lets their misses overlap.
  pending_.clear();
  encoded_.clear();
  for (size_t s = 0; s < r.per_sink.size(); ++s) {
    const uint32_t sink_id = r.sink_ids[s];
    for (size_t o = 0; o < r.per_sink[s].size(); ++o) {
      const proto::SeriesOut& so = r.per_sink[s][o];
      if (r.records[so.index] == nullptr) continue;
      Pending p{0, 0, static_cast<uint32_t>(s), static_cast<uint32_t>(o), UINT32_MAX, 0};
      std::string_view bytes = so.encoded_labels;
      if (bytes.empty()) {
        p.enc_at = static_cast<uint32_t>(encoded_.size());
        proto::append_labels_v1(encoded_, so.labels);
        p.enc_len = static_cast<uint32_t>(encoded_.size() - p.enc_at);
        bytes = std::string_view(encoded_).substr(p.enc_at);
      }
      p.key = key_of(key_hash_(seed_, bytes), sink_id, r.batch.series[so.index].tenant);
      p.check = check_of(so.hash);
      if (!slots_.empty()) __builtin_prefetch(&slots_[home(p.key)], 1);
      pending_.push_back(p);
    }
  }
  // Pass 2: touch or insert each.
  for (const Pending& p : pending_) {
    const proto::SeriesOut& so = r.per_sink[p.sink][p.out];
    touch(r, p,
          p.enc_at == UINT32_MAX ? so.encoded_labels
                                 : std::string_view(encoded_).substr(p.enc_at, p.enc_len));
  }
}

void SeriesTracker::touch(const Request& r, const Pending& p, std::string_view bytes) {
  const proto::SeriesOut& so = r.per_sink[p.sink][p.out];
  const proto::Series& series = r.batch.series[so.index];
  bool stale = false;
  const int64_t ts = newest(r.batch, series, stale);
  if (ts == INT64_MIN) return;  // no sample: nothing to end
  const auto generation = static_cast<uint32_t>(r.discovery_generation);
  if (const size_t i = find(p.key); i != SIZE_MAX) {
    Slot& t = slots_[i];
    if (t.check != p.check) {  // another label set with this key: see the header
      ++collisions_;
      return;
    }
    if (stale) return forget(i);  // ended by the sender: nothing left for us to end
    // Within one discovery snapshot a series' instance cannot change; across them its
    // address may have moved to another instance.
    if (t.generation != generation) {
      move_to(entries_[t.entry], p.key, instance_index(*r.records[so.index]));
    }
    if (ts > t.last_ts) t.last_ts = ts;
    t.generation = generation;
    t.touched_s = r.now_s;
    return;
  }
  // split fails only on bytes we did not write; ids_len and ids_at bound what one series
  // and the arena can hold.
  if (stale || !split(bytes) || fields_.size() > UINT16_MAX / 5 ||
      ids_.size() > UINT32_MAX - UINT16_MAX) {
    return;
  }
  Entry e{instance_index(*r.records[so.index]), r.sink_ids[p.sink], series.tenant, 0, 0};
  store_labels(e);
  const uint32_t at = new_entry(e);
  Slot& t = insert(p.key);
  t.last_ts = ts;
  t.check = p.check;
  t.generation = generation;
  t.touched_s = r.now_s;
  t.entry = at;
  ++instances_[e.instance].live;
  add_key(e.instance, p.key);  // after the insert: it may look its keys up
}

void SeriesTracker::take(const std::string& instance, uint64_t before_generation,
                         std::vector<EndedSeries>& out) {
  std::lock_guard lock(mu_);
  auto it = instance_by_key_.find(instance);
  if (it == instance_by_key_.end()) return;
  const uint32_t index = it->second;
  std::vector<uint64_t> keys = std::move(instances_[index].series);
  instances_[index].series.clear();
  std::vector<uint64_t> kept;
  for (const uint64_t key : keys) {
    const size_t i = find(key);
    if (i == SIZE_MAX || entries_[slots_[i].entry].instance != index) continue;  // moved or gone
    if (before_generation != UINT64_MAX && at_or_after(slots_[i].generation, before_generation)) {
      kept.push_back(key);
      continue;
    }
    const Entry& e = entries_[slots_[i].entry];
    out.push_back(EndedSeries{e.sink_id, e.tenant, labels_of(e), slots_[i].last_ts});
    forget(i);  // may drop the instance, once its last series goes
  }
  if (!kept.empty()) {  // then the instance is still here
    std::sort(kept.begin(), kept.end());
    kept.erase(std::unique(kept.begin(), kept.end()), kept.end());
    instances_[index].series = std::move(kept);
  }
  compact();
}

size_t SeriesTracker::forget_idle(uint32_t cutoff_s) {
  size_t forgotten = 0;
  size_t scanned = 0;
  for (bool done = false; !done;) {
    std::lock_guard lock(mu_);
    last_rec_ = nullptr;
    // Once around the table from where the last slice stopped; the table may have grown
    // between slices (a slot seen twice or missed once is caught by the next pass).
    for (size_t budget = kForgetSlice; budget > 0 && scanned < slots_.size(); --budget) {
      if (forget_cursor_ >= slots_.size()) forget_cursor_ = 0;
      const Slot& s = slots_[forget_cursor_];
      if (s.key != 0 && s.touched_s < cutoff_s) {
        forget(forget_cursor_);  // a later slot may have moved here: look again
        ++forgotten;
        continue;
      }
      ++forget_cursor_;
      ++scanned;
    }
    done = scanned >= slots_.size();
    if (done) compact();
  }
  return forgotten;
}

size_t SeriesTracker::series() const {
  std::lock_guard lock(mu_);
  return size_;
}

size_t SeriesTracker::instances() const {
  std::lock_guard lock(mu_);
  return instance_by_key_.size();
}

uint64_t SeriesTracker::collisions() const {
  std::lock_guard lock(mu_);
  return collisions_;
}

}  // namespace rwgate::staleness
