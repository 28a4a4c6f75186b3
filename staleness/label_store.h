// The labels of the tracked series, kept so that a series can be ended with a marker long
// after its last request: interned, in memory laid out so that growing never holds two
// copies.
//
// Each distinct RW 1.0 Label field (tag, length, name and value, encoded) is stored once,
// in the pool, and numbered in order of arrival. A series holds the numbers of its fields,
// as varints, in the arena: the series of one target share most of their labels (job,
// instance, the fleet labels), so a series costs a byte or two a label rather than its
// label bytes, plus its own fields (most series have one: a high-cardinality label).
//
//   pool    field bytes in 64 KiB blocks (a larger field gets a block of its own), and a
//           pointer to each by number, in chunks: a field's length is in its own bytes.
//   index   field -> number, open addressing over (number + 1) << 32 | hash tag, in 64
//           segments by the hash's top bits that each grow alone at 75% full: eight bytes
//           a cell, where a node-based map took about sixty.
//   arena   the varints of each series, in 64 KiB blocks; a series' varints never straddle
//           two blocks, so a Ref's offset names its block (offset >> 16).
//
// Nothing here is ever copied to grow: blocks and chunks are added, and an index segment
// that grows is 1/64 of the index. A released series leaves garbage in the arena (and
// maybe fields nobody uses in the pool); when half the arena is garbage, compact()
// rebuilds both from the live series.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/chunked_vector.h"

namespace rwgate::staleness {

class LabelStore {
 public:
  // Where one series' field numbers are in the arena.
  struct Ref {
    uint32_t at = 0;
    uint16_t len = 0;  // bytes
  };

  explicit LabelStore(uint64_t seed) : seed_(seed) {}

  // Interns the Label fields of `encoded` into `out`; false (nothing stored) when the bytes
  // are not RW 1.0 Label fields, or are too many fields for one Ref, or the arena is full.
  bool store(std::string_view encoded, Ref& out);
  // Appends the Label fields of `r` to `out`, as they were stored.
  void append_labels(Ref r, std::string& out) const;
  // `r` is no longer used.
  void release(Ref r) { garbage_ += r.len; }

  // When half the arena is garbage, rebuilds arena and pool from the live series:
  // `visit(keep)` calls keep(ref) once for every live Ref, which it rewrites.
  template <typename Visit>
  void compact(Visit&& visit) {
    if (garbage_ < 4096 || garbage_ * 2 < used_) return;
    Rebuild r;
    r.remap.assign(fields_.size(), UINT32_MAX);
    visit([&](Ref& ref) { keep(r, ref); });
    finish(std::move(r));
  }

 private:
  static constexpr unsigned kBlockBits = 16;
  static constexpr size_t kBlock = size_t{1} << kBlockBits;
  static constexpr unsigned kIndexSegmentBits = 6;

  // Byte blocks, appended to and never moved.
  struct Blocks {
    std::vector<std::unique_ptr<char[]>> blocks;
    char* next = nullptr;  // the free bytes at the end of the last block
    size_t left = 0;
    // Room for `n` (> 0) bytes, contiguous, in the last block or a new one of
    // max(kBlock, n) bytes.
    char* take(size_t n);
  };
  struct Rebuild {
    Blocks arena;
    size_t used = 0;
    std::vector<uint32_t> remap;    // old field number -> new, or UINT32_MAX
    std::vector<const char*> live;  // fields by new number
    std::string ids;                // scratch
  };

  uint32_t intern(std::string_view field);
  void index(uint32_t number, uint64_t hash);  // into its segment, which has room
  // Writes the varints of `ids` into `arena`, which has a block left to take.
  static void put_ids(Blocks& arena, std::string_view ids, Ref& out);
  const char* ids_at(uint32_t at) const {
    return arena_.blocks[at >> kBlockBits].get() + (at & (kBlock - 1));
  }
  void keep(Rebuild& r, Ref& ref);
  void finish(Rebuild&& r);

  const uint64_t seed_;
  Blocks pool_;
  ChunkedVector<const char*> fields_;  // number -> field, in pool_
  std::vector<uint64_t> index_[size_t{1} << kIndexSegmentBits];
  size_t indexed_[size_t{1} << kIndexSegmentBits] = {};  // cells in use, by segment
  Blocks arena_;
  size_t used_ = 0;                      // arena bytes that Refs were given
  size_t garbage_ = 0;                   // of those, released
  std::vector<std::string_view> split_;  // scratch of store()
  std::string ids_;                      // scratch of store()
};

}  // namespace rwgate::staleness
