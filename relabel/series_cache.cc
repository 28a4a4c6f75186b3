#include "relabel/series_cache.h"

#include <cstring>

namespace rwgate::relabel {

namespace {

constexpr uint64_t kMul = 0x9e3779b97f4a7c15ULL;

inline uint64_t mix(uint64_t h, uint64_t v) {
  h ^= v;
  h *= kMul;
  return h ^ (h >> 29);
}

// 8 bytes at a time; the length goes in too, so "ab","c" and "a","bc" differ.
inline uint64_t hash_bytes(uint64_t h, std::string_view s) {
  const char* p = s.data();
  size_t n = s.size();
  while (n >= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    h = mix(h, v);
    p += 8;
    n -= 8;
  }
  uint64_t tail = 0;
  std::memcpy(&tail, p, n);
  return mix(h, tail ^ (static_cast<uint64_t>(s.size()) << 56));
}

bool key_equals(const std::string& key, std::span<const proto::Label> labels) {
  size_t pos = 0;
  for (const proto::Label& l : labels) {
    const size_t need = l.name.size() + l.value.size() + 2;
    if (key.size() - pos < need) return false;
    if (std::memcmp(key.data() + pos, l.name.data(), l.name.size()) != 0) return false;
    pos += l.name.size();
    if (key[pos++] != '\xff') return false;
    if (std::memcmp(key.data() + pos, l.value.data(), l.value.size()) != 0) return false;
    pos += l.value.size();
    if (key[pos++] != '\xff') return false;
  }
  return pos == key.size();
}

}  // namespace

uint64_t hash_labels(std::span<const proto::Label> labels) {
  uint64_t h = 0x243f6a8885a308d3ULL;
  for (const proto::Label& l : labels) {
    h = hash_bytes(h, l.name);
    h = hash_bytes(h, l.value);
  }
  return h;
}

SeriesCache::Entry* SeriesCache::find(uint64_t hash, std::span<const proto::Label> labels,
                                      uint64_t generation) {
  auto it = index_.find(hash);
  if (it == index_.end()) return nullptr;
  Entry* e = slots_[it->second].get();
  if (e->generation != generation || !key_equals(e->key, labels)) return nullptr;
  return e;
}

// A slot for a new entry: the one already holding this hash (stale or colliding), a fresh
// one while below capacity, or a CLOCK victim. nullptr when every candidate is pinned.
SeriesCache::Entry* SeriesCache::slot_for(uint64_t hash, size_t capacity, PipelineStats& stats) {
  if (auto it = index_.find(hash); it != index_.end()) {
    Entry* e = slots_[it->second].get();
    return e->pinned_by == request_ ? nullptr : e;
  }
  if (slots_.size() < capacity) {
    slots_.push_back(std::make_unique<Entry>());
    index_.emplace(hash, static_cast<uint32_t>(slots_.size() - 1));
    return slots_.back().get();
  }
  if (slots_.empty()) return nullptr;
  // CLOCK: clear reference bits until an unreferenced, unpinned entry comes up; two full
  // turns without one means everything is pinned by this request.
  for (size_t step = 0; step < 2 * slots_.size(); ++step) {
    hand_ = (hand_ + 1) % slots_.size();
    Entry* e = slots_[hand_].get();
    if (e->pinned_by == request_) continue;
    if (e->referenced) {
      e->referenced = false;
      continue;
    }
    index_.erase(e->hash);
    index_.emplace(hash, static_cast<uint32_t>(hand_));
    ++stats.evictions;
    return e;
  }
  return nullptr;
}

void SeriesCache::compute(const PipelineRules& rules, std::span<const proto::Label> labels,
                          Entry& e) {
  e.key.clear();
  for (const proto::Label& l : labels) {
    e.key.append(l.name);
    e.key.push_back('\xff');
    e.key.append(l.value);
    e.key.push_back('\xff');
  }
  e.storage.clear();
  e.labels.clear();
  e.outs.assign(rules.per_sink.size(), Entry::Out{});

  // Output label sets are first collected as (offset, length) pairs into `storage`, and
  // turned into views once `storage` has its final size.
  struct Pending {
    size_t name_at, name_len, value_at, value_len;
  };
  std::vector<Pending> pending;
  auto store = [&](std::span<const proto::Label> out) {
    const auto begin = static_cast<uint32_t>(pending.size());
    for (const proto::Label& l : out) {
      Pending p{e.storage.size(), l.name.size(), 0, l.value.size()};
      e.storage.append(l.name);
      p.value_at = e.storage.size();
      e.storage.append(l.value);
      pending.push_back(p);
    }
    return Entry::Out{begin, static_cast<uint32_t>(out.size()), false};
  };

  builder_.reset(labels);
  const bool kept = process(rules.global, builder_);
  // The global result becomes the base of each sink's rules; it is copied out first,
  // since resetting the builder frees what its views point into.
  std::vector<proto::Label>& global_out = global_labels_;
  global_out.clear();
  if (kept) {
    builder_.labels(scratch_);
    global_bytes_.clear();
    for (const proto::Label& l : scratch_) {
      global_bytes_.append(l.name);
      global_bytes_.append(l.value);
    }
    size_t at = 0;
    for (const proto::Label& l : scratch_) {
      const std::string_view name(global_bytes_.data() + at, l.name.size());
      at += l.name.size();
      const std::string_view value(global_bytes_.data() + at, l.value.size());
      at += l.value.size();
      global_out.push_back(proto::Label{name, value});
    }
  }
  Entry::Out global{0, 0, !kept};
  bool global_stored = false;
  for (size_t s = 0; s < rules.per_sink.size(); ++s) {
    if (!kept) {
      e.outs[s].dropped = true;
      continue;
    }
    if (rules.per_sink[s].empty()) {
      if (!global_stored) {
        global = store(global_out);
        global_stored = true;
      }
      e.outs[s] = global;
      continue;
    }
    builder_.reset(global_out);
    if (!process(rules.per_sink[s], builder_)) {
      e.outs[s].dropped = true;
      continue;
    }
    builder_.labels(scratch_);
    e.outs[s] = store(scratch_);
  }
  for (const Pending& p : pending) {
    e.labels.push_back(proto::Label{std::string_view(e.storage.data() + p.name_at, p.name_len),
                                    std::string_view(e.storage.data() + p.value_at, p.value_len)});
  }
}

void SeriesCache::run(const PipelineRules& rules, const proto::Batch& batch,
                      std::vector<std::vector<SeriesOut>>& out, PipelineStats& stats) {
  ++request_;
  overflow_.clear();
  const size_t nsinks = rules.per_sink.size();
  out.resize(nsinks);
  for (auto& o : out) o.clear();
  stats.dropped_per_sink.assign(nsinks, 0);
  for (size_t i = 0; i < batch.series.size(); ++i) {
    const auto labels = batch.labels_of(batch.series[i]);
    const uint64_t h = hash_(labels);
    Entry* e = find(h, labels, rules.generation);
    if (e != nullptr) {
      ++stats.hits;
    } else {
      ++stats.misses;
      e = slot_for(h, std::max<size_t>(1, rules.cache_entries_per_thread), stats);
      if (e == nullptr) {
        overflow_.push_back(std::make_unique<Entry>());
        e = overflow_.back().get();
      }
      compute(rules, labels, *e);
      e->hash = h;
      e->generation = rules.generation;
    }
    e->referenced = true;
    e->pinned_by = request_;
    for (size_t s = 0; s < nsinks; ++s) {
      const Entry::Out& o = e->outs[s];
      if (o.dropped) {
        ++stats.dropped_per_sink[s];
        continue;
      }
      out[s].push_back(SeriesOut{static_cast<uint32_t>(i), {e->labels.data() + o.begin, o.count}});
    }
  }
}

}  // namespace rwgate::relabel
