#include "pipeline/target_memo.h"

#include <random>

#include "proto/encode.h"
#include "proto/hash.h"

namespace rwgate::pipeline {

namespace {

uint64_t random_seed() {
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) ^ rd();
}

constexpr size_t kMinSlots = 256;

}  // namespace

TargetMemo::TargetMemo() : seed_(random_seed()), slots_(kMinSlots, 0) {}

void TargetMemo::begin_request(const CacheGeneration& generation, const void* rules,
                               const void* discovery) {
  if (valid_ && !full_ && generation == generation_ && rules == rules_ && discovery == discovery_)
    return;
  clear();
  generation_ = generation;
  rules_ = rules;
  discovery_ = discovery;
  valid_ = true;
}

void TargetMemo::clear() {
  if (!entries_.empty()) slots_.assign(kMinSlots, 0);
  entries_.clear();
  keys_.clear();
  encoded_.clear();
  full_ = false;
}

uint64_t TargetMemo::hash(const Key& key) const {
  uint64_t h = seed_;
  for (std::string_view part : key) h = proto::hash_bytes(h, part);
  return h;
}

bool TargetMemo::matches(const Entry& e, const Key& key) const {
  size_t at = e.key_at;
  for (size_t i = 0; i < key.size(); ++i) {
    if (e.key_lens[i] != key[i].size()) return false;
    if (key[i].compare(0, key[i].size(), keys_.data() + at, key[i].size()) != 0) return false;
    at += key[i].size();
  }
  return true;
}

const TargetFacts* TargetMemo::find(const Key& key) {
  last_hash_ = hash(key);
  const uint64_t tag = last_hash_ & ~uint64_t{0xffffffff};
  const size_t mask = slots_.size() - 1;
  for (size_t i = last_hash_ & mask;; i = (i + 1) & mask) {
    const uint64_t slot = slots_[i];
    if (slot == 0) return nullptr;
    if ((slot & ~uint64_t{0xffffffff}) != tag) continue;
    const Entry& e = entries_[(slot & 0xffffffff) - 1];
    if (e.hash == last_hash_ && matches(e, key)) return &e.facts;
  }
}

const TargetFacts& TargetMemo::put(const Key& key, const TargetFacts& facts) {
  size_t bytes = 0;
  bool overlong = false;
  for (std::string_view part : key) {
    bytes += part.size();
    overlong = overlong || part.size() > kMaxKeyPart;
  }
  // Encoded first, to know whether the labels fit.
  const size_t at = encoded_.size();
  if (encoded_.capacity() < kMaxEncodedBytes) encoded_.reserve(kMaxEncodedBytes);
  const size_t labels_bytes = proto::labels_v1_size({facts.add.data(), facts.nadd});
  if (overlong || entries_.size() >= kMaxTargets || keys_.size() + bytes > kMaxKeyBytes ||
      at + labels_bytes > kMaxEncodedBytes) {
    full_ = full_ || !overlong;  // an overlong key says nothing about the memo's room
    overflow_ = facts;
    overflow_.encoded = nullptr;
    return overflow_;  // held only until the next put()
  }
  if ((entries_.size() + 1) * 2 > slots_.size()) {
    slots_.assign(slots_.size() * 2, 0);
    for (size_t k = 0; k < entries_.size(); ++k) place(entries_[k].hash, k);
  }
  Entry e{last_hash_, static_cast<uint32_t>(keys_.size()), {}, facts};
  for (size_t i = 0; i < key.size(); ++i) {
    e.key_lens[i] = static_cast<uint16_t>(key[i].size());
    keys_.append(key[i]);
  }
  proto::append_labels_v1(encoded_, {facts.add.data(), facts.nadd});
  proto::read_labels_v1(std::string_view(encoded_).substr(at), decoded_);
  for (size_t a = 0; a < facts.nadd; ++a) e.facts.add[a] = decoded_[a];
  e.facts.encoded = encoded_.data() + at;
  entries_.push_back(e);
  place(e.hash, entries_.size() - 1);
  return entries_.back().facts;
}

void TargetMemo::place(uint64_t h, size_t index) {
  const size_t mask = slots_.size() - 1;
  size_t i = h & mask;
  while (slots_[i] != 0) i = (i + 1) & mask;
  slots_[i] = (h & ~uint64_t{0xffffffff}) | (index + 1);
}

}  // namespace rwgate::pipeline
