// The series tracker's slots: an open-addressing table of 64-bit keys (linear probing,
// backward-shift erase) cut into 64 segments by the key's top six bits.
//
// Why segments: a single table that grows allocates its new array while the old one is
// still full, so for the moment of the copy it holds 2.6 times what it keeps (old plus
// new at 1.6 times the size), and the process's peak RSS with it: at a million series,
// 40 MiB more than the table itself. A segment grows alone, when it is 80% full, so that
// moment costs 1/16 of the table.
//
// Why huge pages: every touch reads a random slot, so at a million series nearly every
// touch also misses the TLB, and the page walk (nested, in a VM) was most of the
// tracker's time. A segment of 2 MiB or more is mapped 2 MiB-aligned and advised
// MADV_HUGEPAGE, so 32 MiB of slots take 16 TLB entries rather than 8192. Sixteen
// segments, not more, so that at a million series each is past 2 MiB. Where transparent
// huge pages are off the advice does nothing, and the memory is the same either way:
// every page of a segment is written when it is made. Segments fill evenly (keys are seeded
// hashes), and they grow at different moments, so the table's load moves smoothly between 50% and
// 80% instead of jumping.
//
// Within a segment, a key's home is the next bits of the key scaled onto the segment's
// size (a multiply, so any size works). Probe runs stay short at 80% (about 3 at the
// worst, on average under 2 for a key that is there).
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <vector>

namespace rwgate::staleness {

// All a touch of a tracked series reads or writes, 32 bytes, two to a cache line.
struct Slot {
  uint64_t key;  // 0: empty
  int64_t last_ts;
  uint32_t check;
  uint32_t generation;  // the low 32 bits of the discovery generation of the last touch
  uint32_t touched_s;
  uint32_t entry;  // the tracker's entry for what only inserts and takes need
};
static_assert(sizeof(Slot) == 32);

// Slot storage for std::vector: small arrays from the heap, large ones mapped on their
// own, 2 MiB-aligned and advised MADV_HUGEPAGE.
struct SlotAllocator {
  using value_type = Slot;
  template <class U>
  struct rebind {  // std::vector asks for its own element type only
    static_assert(std::is_same_v<U, Slot>);
    using other = SlotAllocator;
  };
  SlotAllocator() = default;
  Slot* allocate(size_t n);
  void deallocate(Slot* p, size_t n);
  bool operator==(const SlotAllocator&) const { return true; }
};

class SlotTable {
 public:
  static constexpr unsigned kSegmentBits = 4;
  static constexpr size_t kSegments = size_t{1} << kSegmentBits;

  // The slot of `key`, or null.
  Slot* find(uint64_t key) {
    Segment& g = segment(key);
    if (g.slots.empty()) return nullptr;
    for (size_t i = home(g, key);; i = next(g, i)) {
      if (g.slots[i].key == key) return &g.slots[i];
      if (g.slots[i].key == 0) return nullptr;
    }
  }
  // Asks for the line of `key`'s home ahead of find() or insert().
  void prefetch(uint64_t key) const {
    const Segment& g = segments_[key >> (64 - kSegmentBits)];
    if (!g.slots.empty()) __builtin_prefetch(&g.slots[home(g, key)], 1);
  }
  // A slot for `key`, which is not in the table, with its key set; its segment may grow
  // first, which moves the slots of that segment (a Slot* found before is stale).
  Slot& insert(uint64_t key);
  // Empties `s`; later slots of its run move up (a Slot* found before may be stale).
  void erase(Slot& s);

  size_t size() const { return size_; }
  size_t capacity() const { return capacity_; }

  // A place in the table, for passes over it in slices: segment, then index.
  struct Cursor {
    size_t segment = 0;
    size_t index = 0;
  };
  // The slot at `c` (empty or not), moving `c` on to the next segment first when it is
  // past the end of its own; null when `c` is past the last segment.
  Slot* at(Cursor& c) {
    while (c.segment < kSegments && c.index >= segments_[c.segment].slots.size()) {
      ++c.segment;
      c.index = 0;
    }
    return c.segment < kSegments ? &segments_[c.segment].slots[c.index] : nullptr;
  }

 private:
  struct Segment {
    std::vector<Slot, SlotAllocator> slots;
    size_t size = 0;
  };
  Segment& segment(uint64_t key) { return segments_[key >> (64 - kSegmentBits)]; }
  static size_t home(const Segment& g, uint64_t key) {
    const uint64_t rest = key << kSegmentBits;
    return static_cast<size_t>((static_cast<unsigned __int128>(rest) * g.slots.size()) >> 64);
  }
  static size_t next(const Segment& g, size_t i) { return i + 1 == g.slots.size() ? 0 : i + 1; }
  void grow(Segment& g);

  Segment segments_[kSegments];
  size_t size_ = 0;
  size_t capacity_ = 0;
};

}  // namespace rwgate::staleness
