#include "staleness/label_store.h"

#include <algorithm>
#include <cstring>

#include "proto/hash.h"
#include "proto/wire.h"

namespace rwgate::staleness {

namespace {

// The Label field that starts at p, in the pool: its length is in its own bytes, which
// store() checked before they went in (a varint ends within them).
std::string_view field_at(const char* p) {
  proto::WireReader r(std::string_view(p + 1, 10));
  uint64_t len = 0;
  r.read_varint(len);
  return {p, static_cast<size_t>(r.position() - p) + static_cast<size_t>(len)};
}

// Calls f(number) for each varint of the `len` bytes at p.
template <typename F>
void for_each_id(const char* p, uint16_t len, F&& f) {
  proto::WireReader r(std::string_view(p, len));
  for (uint64_t v = 0; !r.done() && r.read_varint(v);) f(static_cast<uint32_t>(v));
}

}  // namespace

char* LabelStore::Blocks::take(size_t n) {
  if (n > left) {
    const size_t size = std::max(kBlock, n);
    blocks.push_back(std::make_unique_for_overwrite<char[]>(size));
    next = blocks.back().get();
    left = size;
  }
  char* at = next;
  next += n;
  left -= n;
  return at;
}

bool LabelStore::store(std::string_view encoded, Ref& out) {
  // Check every field before interning any: bytes we did not write leave nothing behind.
  std::vector<std::string_view>& fields = split_;
  fields.clear();
  for (proto::WireReader r(encoded); !r.done();) {
    const char* at = r.position();
    uint64_t key;
    std::string_view body;
    // TimeSeries.labels, length-delimited: the one-byte key 0x0a, then length and bytes.
    if (*at != 0x0a || !r.read_varint(key) || !r.read_bytes(body)) return false;
    fields.emplace_back(at, static_cast<size_t>(r.position() - at));
  }
  // A varint is at most five bytes: this many fit a Ref's length.
  if (fields.size() > UINT16_MAX / 5) return false;
  if (arena_.left < fields.size() * 5 && arena_.blocks.size() >= (size_t{1} << (32 - kBlockBits))) {
    return false;  // the arena's offsets are 32 bits
  }
  ids_.clear();
  for (const std::string_view f : fields) proto::WireWriter(ids_).varint(intern(f));
  put_ids(arena_, ids_, out);
  used_ += out.len;
  return true;
}

void LabelStore::put_ids(Blocks& arena, std::string_view ids, Ref& out) {
  out = Ref{};
  if (ids.empty()) return;
  char* p = arena.take(ids.size());
  std::memcpy(p, ids.data(), ids.size());
  const size_t block = arena.blocks.size() - 1;
  const auto offset = static_cast<size_t>(p - arena.blocks.back().get());
  out.at = static_cast<uint32_t>(block << kBlockBits | offset);
  out.len = static_cast<uint16_t>(ids.size());
}

void LabelStore::append_labels(Ref r, std::string& out) const {
  if (r.len == 0) return;
  for_each_id(ids_at(r.at), r.len, [&](uint32_t n) { out.append(field_at(fields_[n])); });
}

uint32_t LabelStore::intern(std::string_view field) {
  const uint64_t hash = proto::hash_bytes(seed_, field);
  const auto tag = static_cast<uint32_t>(hash >> 32);
  const std::vector<uint64_t>& cells = index_[hash >> (64 - kIndexSegmentBits)];
  if (!cells.empty()) {
    const size_t mask = cells.size() - 1;
    for (size_t i = hash & mask; cells[i] != 0; i = (i + 1) & mask) {
      if (static_cast<uint32_t>(cells[i]) != tag) continue;
      const auto n = static_cast<uint32_t>(cells[i] >> 32) - 1;
      if (field_at(fields_[n]) == field) return n;
    }
  }
  char* at = pool_.take(field.size());
  std::memcpy(at, field.data(), field.size());
  const auto n = static_cast<uint32_t>(fields_.size());
  fields_.push_back(at);
  index(n, hash);
  return n;
}

void LabelStore::index(uint32_t number, uint64_t hash) {
  const size_t s = hash >> (64 - kIndexSegmentBits);
  std::vector<uint64_t>& cells = index_[s];
  const auto place = [&cells](uint32_t n, uint64_t h) {
    const size_t mask = cells.size() - 1;
    size_t i = h & mask;
    while (cells[i] != 0) i = (i + 1) & mask;
    cells[i] = static_cast<uint64_t>(n + 1) << 32 | static_cast<uint32_t>(h >> 32);
  };
  if ((indexed_[s] + 1) * 4 > cells.size() * 3) {  // grow this segment: rehash its fields
    std::vector<uint64_t> old(std::max<size_t>(64, cells.size() * 2), 0);
    old.swap(cells);
    for (const uint64_t c : old) {
      if (c == 0) continue;
      const auto n = static_cast<uint32_t>(c >> 32) - 1;
      place(n, proto::hash_bytes(seed_, field_at(fields_[n])));
    }
  }
  place(number, hash);
  ++indexed_[s];
}

void LabelStore::keep(Rebuild& r, Ref& ref) {
  r.ids.clear();
  if (ref.len > 0) {
    for_each_id(ids_at(ref.at), ref.len, [&](uint32_t n) {
      uint32_t& to = r.remap[n];
      if (to == UINT32_MAX) {
        to = static_cast<uint32_t>(r.live.size());
        r.live.push_back(fields_[n]);
      }
      proto::WireWriter(r.ids).varint(to);
    });
  }
  put_ids(r.arena, r.ids, ref);  // no more blocks than the arena it replaces
  r.used += ref.len;
}

void LabelStore::finish(Rebuild&& r) {
  // The live fields are in the old blocks: copy them into new ones before those go. They
  // are distinct, so interning them in order numbers them as `remap` did.
  const Blocks old_pool = std::move(pool_);
  pool_ = Blocks{};
  fields_.clear();
  for (auto& cells : index_) std::vector<uint64_t>().swap(cells);
  std::fill(std::begin(indexed_), std::end(indexed_), 0);
  for (const char* f : r.live) intern(field_at(f));
  arena_ = std::move(r.arena);
  used_ = r.used;
  garbage_ = 0;
}

}  // namespace rwgate::staleness
