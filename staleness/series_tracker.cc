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

}  // namespace

SeriesTracker::SeriesTracker(KeyHash key_hash)
    : key_hash_(key_hash != nullptr ? key_hash : default_key_hash),
      seed_(random_seed()),
      labels_(seed_) {}

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

void SeriesTracker::forget(Slot& slot) {
  const uint32_t at = slot.entry;
  Entry& e = entries_[at];
  labels_.release(e.labels);
  const uint32_t instance = e.instance;
  e.instance = UINT32_MAX;
  free_entries_.push_back(at);
  slots_.erase(slot);
  --instances_[instance].live;
  drop_instance_if_empty(instance);
}

void SeriesTracker::drop_instance_if_empty(uint32_t instance) {
  Instance& inst = instances_[instance];
  if (inst.live > 0) return;
  instance_by_key_.erase(inst.key);
  inst.key.clear();
  std::vector<uint32_t>().swap(inst.series);
  free_instances_.push_back(instance);
  if (last_rec_ != nullptr && last_index_ == instance) last_rec_ = nullptr;
}

void SeriesTracker::add_entry(uint32_t instance, uint32_t entry) {
  Instance& inst = instances_[instance];
  inst.series.push_back(entry);
  if (inst.series.size() <= 2 * static_cast<size_t>(inst.live) + 16) return;
  // Mostly entries that moved on or went: keep those still here, once each. Amortised: the
  // list has doubled since the last time.
  std::erase_if(inst.series, [&](uint32_t at) { return entries_[at].instance != instance; });
  std::sort(inst.series.begin(), inst.series.end());
  inst.series.erase(std::unique(inst.series.begin(), inst.series.end()), inst.series.end());
}

void SeriesTracker::move_to(uint32_t entry, uint32_t instance) {
  Entry& e = entries_[entry];
  const uint32_t old = e.instance;
  if (old == instance) return;
  e.instance = instance;
  ++instances_[instance].live;
  add_entry(instance, entry);
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

void SeriesTracker::compact() {
  labels_.compact([&](const auto& keep) {
    for (size_t i = 0; i < entries_.size(); ++i) {
      if (entries_[i].instance != UINT32_MAX) keep(entries_[i].labels);
    }
  });
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
      slots_.prefetch(p.key);
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
  if (Slot* t = slots_.find(p.key); t != nullptr) {
    if (t->check != p.check) {  // another label set with this key: see the header
      ++collisions_;
      return;
    }
    if (stale) return forget(*t);  // ended by the sender: nothing left for us to end
    // Within one discovery snapshot a series' instance cannot change; across them its
    // address may have moved to another instance.
    if (t->generation != generation) {
      move_to(t->entry, instance_index(*r.records[so.index]));
    }
    if (ts > t->last_ts) t->last_ts = ts;
    t->generation = generation;
    t->touched_s = r.now_s;
    return;
  }
  if (stale) return;
  // Fails only on bytes we did not write, or when the labels cannot be held.
  LabelStore::Ref labels;
  if (!labels_.store(bytes, labels)) return;
  Entry e{instance_index(*r.records[so.index]), r.sink_ids[p.sink], series.tenant, labels};
  const uint32_t at = new_entry(e);
  Slot& t = slots_.insert(p.key);
  t.last_ts = ts;
  t.check = p.check;
  t.generation = generation;
  t.touched_s = r.now_s;
  t.entry = at;
  ++instances_[e.instance].live;
  add_entry(e.instance, at);
}

void SeriesTracker::take(const std::string& instance, uint64_t before_generation,
                         std::vector<EndedSeries>& out) {
  std::lock_guard lock(mu_);
  auto it = instance_by_key_.find(instance);
  if (it == instance_by_key_.end()) return;
  const uint32_t index = it->second;
  std::vector<uint32_t> list = std::move(instances_[index].series);
  instances_[index].series.clear();
  std::sort(list.begin(), list.end());  // an entry freed and used again is in it twice
  list.erase(std::unique(list.begin(), list.end()), list.end());
  std::vector<uint32_t> kept;
  for (const uint32_t at : list) {
    const Entry& e = entries_[at];
    if (e.instance != index) continue;  // moved or gone
    // The slot's key, from the labels the marker needs anyway: the same bytes it was
    // computed from, so the same key.
    std::string labels;
    labels_.append_labels(e.labels, labels);
    Slot* slot = slots_.find(key_of(key_hash_(seed_, labels), e.sink_id, e.tenant));
    if (slot == nullptr || slot->entry != at) continue;  // cannot be: see touch()
    if (before_generation != UINT64_MAX && at_or_after(slot->generation, before_generation)) {
      kept.push_back(at);
      continue;
    }
    out.push_back(EndedSeries{e.sink_id, e.tenant, std::move(labels), slot->last_ts});
    forget(*slot);  // may drop the instance, once its last series goes
  }
  if (!kept.empty()) instances_[index].series = std::move(kept);  // then it is still here
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
    for (size_t budget = kForgetSlice; budget > 0 && scanned < slots_.capacity(); --budget) {
      Slot* s = slots_.at(forget_cursor_);
      if (s == nullptr) {
        forget_cursor_ = {};
        continue;
      }
      if (s->key != 0 && s->touched_s < cutoff_s) {
        forget(*s);  // a later slot may have moved here: look again
        ++forgotten;
        continue;
      }
      ++forget_cursor_.index;
      ++scanned;
    }
    done = scanned >= slots_.capacity();
    if (done) compact();
  }
  return forgotten;
}

size_t SeriesTracker::series() const {
  std::lock_guard lock(mu_);
  return slots_.size();
}

size_t SeriesTracker::instances() const {
  std::lock_guard lock(mu_);
  return instance_by_key_.size();
}

void SeriesTracker::add_series_per_instance(std::map<std::string, size_t>& out) const {
  std::lock_guard lock(mu_);
  for (const Instance& in : instances_) {
    if (!in.key.empty() && in.live > 0) out[in.key] += in.live;
  }
}

uint64_t SeriesTracker::collisions() const {
  std::lock_guard lock(mu_);
  return collisions_;
}

}  // namespace rwgate::staleness
