#include "pipeline/result_cache.h"

#include <cstring>

#include "proto/hash.h"

namespace rwgate::pipeline {

int64_t ResultCache::Index::find(uint64_t hash) const {
  if (cells_.empty()) return -1;
  const size_t mask = cells_.size() - 1;
  for (size_t i = hash & mask;; i = (i + 1) & mask) {
    if (cells_[i].slot == UINT32_MAX) return -1;
    if (cells_[i].hash == hash) return cells_[i].slot;
  }
}

void ResultCache::Index::prefetch(uint64_t hash) const {
  if (!cells_.empty()) __builtin_prefetch(&cells_[hash & (cells_.size() - 1)]);
}

void ResultCache::Index::grow() {
  std::vector<Cell> old = std::move(cells_);
  cells_.assign(old.empty() ? 64 : old.size() * 2, Cell{0, UINT32_MAX});
  size_ = 0;
  for (const Cell& c : old) {
    if (c.slot != UINT32_MAX) insert(c.hash, c.slot);
  }
}

void ResultCache::Index::insert(uint64_t hash, uint32_t slot) {
  if ((size_ + 1) * 2 > cells_.size()) grow();  // load factor at most 1/2
  const size_t mask = cells_.size() - 1;
  size_t i = hash & mask;
  while (cells_[i].slot != UINT32_MAX && cells_[i].hash != hash) i = (i + 1) & mask;
  if (cells_[i].slot == UINT32_MAX) ++size_;
  cells_[i] = Cell{hash, slot};
}

void ResultCache::Index::erase(uint64_t hash) {
  if (cells_.empty()) return;
  const size_t mask = cells_.size() - 1;
  size_t i = hash & mask;
  while (true) {
    if (cells_[i].slot == UINT32_MAX) return;
    if (cells_[i].hash == hash) break;
    i = (i + 1) & mask;
  }
  // Backward-shift deletion keeps every probe chain unbroken without tombstones.
  size_t hole = i;
  for (size_t j = (i + 1) & mask; cells_[j].slot != UINT32_MAX; j = (j + 1) & mask) {
    const size_t home = cells_[j].hash & mask;
    // Move j into the hole when its home is not in the cyclic range (hole, j].
    const bool in_range = hole < j ? (home > hole && home <= j) : (home > hole || home <= j);
    if (!in_range) {
      cells_[hole] = cells_[j];
      hole = j;
    }
  }
  cells_[hole].slot = UINT32_MAX;
  --size_;
}

// A slot for a new entry: the one already holding this hash (stale or colliding), a fresh
// one while below capacity, or a CLOCK victim. nullptr when every candidate is pinned.
CacheEntry* ResultCache::slot_for(uint64_t hash, size_t capacity, uint64_t& evictions) {
  if (const int64_t slot = index_.find(hash); slot >= 0) {
    CacheEntry* e = slots_[static_cast<size_t>(slot)].get();
    return e->pinned_by == request_ ? nullptr : e;
  }
  if (slots_.size() < capacity) {
    slots_.push_back(std::make_unique<CacheEntry>());
    index_.insert(hash, static_cast<uint32_t>(slots_.size() - 1));
    return slots_.back().get();
  }
  if (slots_.empty()) return nullptr;
  // CLOCK: clear reference bits until an unreferenced, unpinned entry comes up; two full
  // turns without one means everything is pinned by this request.
  for (size_t step = 0; step < 2 * slots_.size(); ++step) {
    hand_ = (hand_ + 1) % slots_.size();
    CacheEntry* e = slots_[hand_].get();
    if (e->pinned_by == request_) continue;
    if (e->referenced) {
      e->referenced = false;
      continue;
    }
    index_.erase(e->hash);
    index_.insert(hash, static_cast<uint32_t>(hand_));
    ++evictions;
    return e;
  }
  return nullptr;
}

void ResultCache::begin_request(const CacheGeneration& generation) {
  ++request_;
  overflow_.clear();
  if (epoch_ == 0 || generation != generation_) {
    generation_ = generation;
    ++epoch_;
  }
}

void ResultCache::find(const proto::Batch& batch) {
  const size_t n = batch.series.size();
  keys_.resize(n);
  hashes_.resize(n);
  found_.resize(n);
  flat_keys_.clear();
  for (size_t i = 0; i < n; ++i) {  // pass 1: keys
    const proto::Series& series = batch.series[i];
    if (!series.raw_labels.empty()) {
      keys_[i] = Key{KeyForm::kRaw, series.raw_labels};
      continue;
    }
    // Flattened keys go into one buffer; their views are fixed once it stops growing.
    const size_t at = flat_keys_.size();
    for (const proto::Label& l : batch.labels_of(series)) {
      flat_keys_.append(l.name);
      flat_keys_.push_back('\xff');
      flat_keys_.append(l.value);
      flat_keys_.push_back('\xff');
    }
    keys_[i] = Key{KeyForm::kFlat, std::string_view(nullptr, 0)};
    flat_spans_.resize(n);
    flat_spans_[i] = {at, flat_keys_.size() - at};
  }
  for (size_t i = 0; i < n; ++i) {  // hashes; touch the index cells
    if (keys_[i].form == KeyForm::kFlat)
      keys_[i].bytes =
          std::string_view(flat_keys_.data() + flat_spans_[i].first, flat_spans_[i].second);
    hashes_[i] = hash_ != nullptr
                     ? hash_(keys_[i].bytes)
                     : proto::hash_bytes(static_cast<uint8_t>(keys_[i].form), keys_[i].bytes);
    index_.prefetch(hashes_[i]);
  }
  for (size_t i = 0; i < n; ++i) {  // pass 2: index cells to entries; touch the entries
    const int64_t slot = index_.find(hashes_[i]);
    found_[i] = slot >= 0 ? slots_[static_cast<size_t>(slot)].get() : nullptr;
    if (found_[i] != nullptr) __builtin_prefetch(found_[i]);
  }
  for (size_t i = 0; i < n; ++i) {  // pass 3: touch the entries' key bytes
    if (found_[i] != nullptr) __builtin_prefetch(found_[i]->storage.data());
  }
}

CacheEntry* ResultCache::claim(size_t i, size_t capacity, uint64_t& evictions) {
  CacheEntry* e = slot_for(hashes_[i], std::max<size_t>(1, capacity), evictions);
  if (e == nullptr) {
    overflow_.push_back(std::make_unique<CacheEntry>());
    e = overflow_.back().get();
  }
  const Key key = keys_[i];
  e->hash = hashes_[i];
  e->epoch = epoch_;
  e->key_form = key.form;
  e->key_len = static_cast<uint32_t>(key.bytes.size());
  e->storage.assign(key.bytes.data(), key.bytes.size());
  e->labels.clear();
  e->referenced = true;
  e->pinned_by = request_;
  return e;
}

}  // namespace rwgate::pipeline
