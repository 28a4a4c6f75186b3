#include "relabel/series_tracker.h"

#include <cstring>

#include "proto/encode.h"

namespace rwgate::relabel {

namespace {

uint64_t key_of(uint64_t labels_hash, uint32_t sink_id) {
  return labels_hash ^ (static_cast<uint64_t>(sink_id) + 1) * 0x9e3779b97f4a7c15ULL;
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
      const int64_t ts = newest(r.batch, r.batch.series[so.index], stale);
      if (ts == INT64_MIN) continue;  // no sample: nothing to end
      const uint64_t key = key_of(so.hash, sink_id);
      auto it = series_.find(key);
      if (it != series_.end()) {
        Series& t = it->second;
        const std::string_view held(t.labels.get(), t.labels_len);
        const bool same = t.sink_id == sink_id &&
                          (!so.encoded_labels.empty() ? so.encoded_labels == held
                                                      : proto::labels_equal_v1(so.labels, held));
        if (!same) {
          ++collisions_;
          continue;
        }
        if (stale) {  // ended by the sender: nothing left for us to end
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
      if (stale) continue;
      std::string_view bytes = so.encoded_labels;
      if (bytes.empty()) {
        encoded.clear();
        proto::append_labels_v1(encoded, so.labels);
        bytes = encoded;
      }
      Series t{ts,
               r.discovery_generation,
               instance_index(*rec),
               r.now_s,
               sink_id,
               static_cast<uint32_t>(bytes.size()),
               std::make_unique_for_overwrite<char[]>(bytes.size())};
      std::memcpy(t.labels.get(), bytes.data(), bytes.size());
      instances_[t.instance].series.push_back(key);
      series_.emplace(key, std::move(t));
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
    out.push_back(EndedSeries{s->second.sink_id,
                              std::string(s->second.labels.get(), s->second.labels_len),
                              s->second.last_ts});
    series_.erase(s);
  }
  keys = std::move(kept);
}

size_t SeriesTracker::forget_idle(uint32_t cutoff_s) {
  std::lock_guard lock(mu_);
  const size_t before = series_.size();
  std::erase_if(series_, [&](const auto& kv) { return kv.second.touched_s < cutoff_s; });
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

}  // namespace rwgate::relabel
