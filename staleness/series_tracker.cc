#include "staleness/series_tracker.h"

#include <cstring>

#include "proto/encode.h"

namespace rwgate::staleness {

namespace {

// Two tenants may send the same output labels to one sink: both are in the key.
uint64_t key_of(uint64_t labels_hash, uint32_t sink_id, uint32_t tenant) {
  const uint64_t lane = (static_cast<uint64_t>(tenant) << 32) | sink_id;
  return labels_hash ^ (lane + 1) * 0x9e3779b97f4a7c15ULL;
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
  return fields_.size() <= UINT16_MAX;
}

bool SeriesTracker::same_labels(const Series& s, std::string_view encoded) const {
  // The stored fields, one after the other, must spell `encoded` exactly.
  size_t at = 0;
  for (uint32_t i = 0; i < s.ids_count; ++i) {
    const std::string_view f = pool_[ids_[s.ids_at + i]];
    if (encoded.size() - at < f.size() || std::memcmp(encoded.data() + at, f.data(), f.size()) != 0)
      return false;
    at += f.size();
  }
  return at == encoded.size();
}

uint32_t SeriesTracker::intern(std::string_view field) {
  if (auto it = pool_index_.find(field); it != pool_index_.end()) return it->second;
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
  pool_index_.emplace(pool_.back(), id);
  return id;
}

void SeriesTracker::store_labels(Series& s) {
  s.ids_at = static_cast<uint32_t>(ids_.size());
  s.ids_count = static_cast<uint16_t>(fields_.size());
  for (const std::string_view f : fields_) ids_.push_back(intern(f));
}

std::string SeriesTracker::labels_of(const Series& s) const {
  std::string out;
  for (uint32_t i = 0; i < s.ids_count; ++i) out.append(pool_[ids_[s.ids_at + i]]);
  return out;
}

void SeriesTracker::compact() {
  if (garbage_ids_ < 4096 || garbage_ids_ * 2 < ids_.size()) return;
  // The arena: live series' ids only. The pool: the fields they still use.
  std::vector<uint32_t> ids;
  ids.reserve(ids_.size() - garbage_ids_);
  std::vector<uint32_t> remap(pool_.size(), UINT32_MAX);
  std::vector<std::string_view> live;
  for (auto& [key, s] : series_) {
    const uint32_t at = static_cast<uint32_t>(ids.size());
    for (uint32_t i = 0; i < s.ids_count; ++i) {
      uint32_t& to = remap[ids_[s.ids_at + i]];
      if (to == UINT32_MAX) {
        to = static_cast<uint32_t>(live.size());
        live.push_back(pool_[ids_[s.ids_at + i]]);
      }
      ids.push_back(to);
    }
    s.ids_at = at;
  }
  // Copy the live fields into fresh blocks before the old ones go.
  std::vector<std::unique_ptr<char[]>> old_blocks = std::move(pool_blocks_);
  pool_blocks_.clear();
  pool_next_ = nullptr;
  pool_block_left_ = 0;
  pool_.clear();
  pool_index_.clear();
  for (const std::string_view f : live) intern(f);
  ids_ = std::move(ids);
  garbage_ids_ = 0;
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
    index = static_cast<uint32_t>(instances_.size());
    instances_.push_back(Instance{key, {}});
    instance_by_key_.emplace(std::move(key), index);
  }
  last_rec_ = &rec;
  last_index_ = index;
  return index;
}

void SeriesTracker::track(const Request& r) {
  std::lock_guard lock(mu_);
  last_rec_ = nullptr;
  std::string encoded;
  for (size_t s = 0; s < r.per_sink.size(); ++s) {
    const uint32_t sink_id = r.sink_ids[s];
    for (const proto::SeriesOut& so : r.per_sink[s]) {
      const discovery::InstanceRecord* rec = r.records[so.index];
      if (rec == nullptr) continue;
      bool stale = false;
      const proto::Series& series = r.batch.series[so.index];
      const int64_t ts = newest(r.batch, series, stale);
      if (ts == INT64_MIN) continue;  // no sample: nothing to end
      const uint64_t key = key_of(so.hash, sink_id, series.tenant);
      auto it = series_.find(key);
      std::string_view bytes = so.encoded_labels;
      if (bytes.empty()) {
        encoded.clear();
        proto::append_labels_v1(encoded, so.labels);
        bytes = encoded;
      }
      if (it != series_.end()) {
        Series& t = it->second;
        if (t.sink_id != sink_id || t.tenant != series.tenant || !same_labels(t, bytes)) {
          ++collisions_;
          continue;
        }
        if (stale) {  // ended by the sender: nothing left for us to end
          release(t);
          series_.erase(it);
          continue;
        }
        // Within one discovery snapshot a series' instance cannot change; across them its
        // address may have moved to another instance.
        if (t.generation != r.discovery_generation) {
          const uint32_t instance = instance_index(*rec);
          if (instance != t.instance) {
            t.instance = instance;
            instances_[instance].series.push_back(key);
          }
        }
        if (ts > t.last_ts) t.last_ts = ts;
        t.generation = r.discovery_generation;
        t.touched_s = r.now_s;
        continue;
      }
      if (stale || !split(bytes)) continue;  // split fails only on bytes we did not write
      Series t{ts, r.discovery_generation, instance_index(*rec), r.now_s, sink_id, series.tenant, 0,
               0};
      store_labels(t);
      instances_[t.instance].series.push_back(key);
      series_.emplace(key, t);
    }
  }
}

void SeriesTracker::take(const std::string& instance, uint64_t before_generation,
                         std::vector<EndedSeries>& out) {
  std::lock_guard lock(mu_);
  auto it = instance_by_key_.find(instance);
  if (it == instance_by_key_.end()) return;
  const uint32_t index = it->second;
  std::vector<uint64_t>& keys = instances_[index].series;
  std::vector<uint64_t> kept;
  for (const uint64_t key : keys) {
    auto s = series_.find(key);
    if (s == series_.end() || s->second.instance != index) continue;  // moved or forgotten
    if (s->second.generation >= before_generation) {
      kept.push_back(key);
      continue;
    }
    out.push_back(
        EndedSeries{s->second.sink_id, s->second.tenant, labels_of(s->second), s->second.last_ts});
    release(s->second);
    series_.erase(s);
  }
  keys = std::move(kept);
  compact();
}

size_t SeriesTracker::forget_idle(uint32_t cutoff_s) {
  std::lock_guard lock(mu_);
  const size_t before = series_.size();
  std::erase_if(series_, [&](const auto& kv) {
    if (kv.second.touched_s >= cutoff_s) return false;
    release(kv.second);
    return true;
  });
  compact();
  // Rebuild the instance table from what is left: drops instances without series and
  // keys that went stale.
  std::vector<Instance> old = std::move(instances_);
  instances_.clear();
  instance_by_key_.clear();
  std::vector<uint32_t> remap(old.size(), UINT32_MAX);
  for (auto& [key, s] : series_) {
    uint32_t& to = remap[s.instance];
    if (to == UINT32_MAX) {
      to = static_cast<uint32_t>(instances_.size());
      instances_.push_back(Instance{old[s.instance].key, {}});
      instance_by_key_.emplace(old[s.instance].key, to);
    }
    s.instance = to;
    instances_[to].series.push_back(key);
  }
  last_rec_ = nullptr;
  return before - series_.size();
}

size_t SeriesTracker::series() const {
  std::lock_guard lock(mu_);
  return series_.size();
}

size_t SeriesTracker::instances() const {
  std::lock_guard lock(mu_);
  return instances_.size();
}

uint64_t SeriesTracker::collisions() const {
  std::lock_guard lock(mu_);
  return collisions_;
}

}  // namespace rwgate::staleness
