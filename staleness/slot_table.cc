#include "staleness/slot_table.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdint>
#include <new>

namespace rwgate::staleness {

namespace {
constexpr size_t kHugePage = size_t{2} << 20;
}  // namespace

Slot* SlotAllocator::allocate(size_t n) {
  const size_t bytes = n * sizeof(Slot);
  if (bytes < kHugePage) return static_cast<Slot*>(::operator new(bytes));
  // Mapped with a huge page of slack, then trimmed to the aligned part.
  void* m =
      mmap(nullptr, bytes + kHugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) throw std::bad_alloc();
  const auto base = reinterpret_cast<uintptr_t>(m);
  const uintptr_t aligned = (base + kHugePage - 1) & ~(kHugePage - 1);
  if (aligned > base) munmap(m, aligned - base);
  if (const uintptr_t end = base + bytes + kHugePage; end > aligned + bytes)
    munmap(reinterpret_cast<void*>(aligned + bytes), end - aligned - bytes);
  madvise(reinterpret_cast<void*>(aligned), bytes, MADV_HUGEPAGE);
  return reinterpret_cast<Slot*>(aligned);
}

void SlotAllocator::deallocate(Slot* p, size_t n) {
  const size_t bytes = n * sizeof(Slot);
  if (bytes < kHugePage) {
    ::operator delete(p);
  } else {
    munmap(p, bytes);
  }
}

Slot& SlotTable::insert(uint64_t key) {
  Segment& g = segment(key);
  // At most 80% full: linear probing's probe counts stay low.
  if ((g.size + 1) * 5 > g.slots.size() * 4) grow(g);
  size_t i = home(g, key);
  while (g.slots[i].key != 0) i = next(g, i);
  ++g.size;
  ++size_;
  g.slots[i] = Slot{};
  g.slots[i].key = key;
  return g.slots[i];
}

void SlotTable::grow(Segment& g) {
  // Half full after growing. 16 slots to start: 16 segments of them make a first table of
  // 256 slots, 8 KiB.
  std::vector<Slot, SlotAllocator> old(std::max<size_t>(16, (g.size + 1) * 2), Slot{});
  old.swap(g.slots);
  capacity_ += g.slots.size() - old.size();
  for (const Slot& s : old) {
    if (s.key == 0) continue;
    size_t i = home(g, s.key);
    while (g.slots[i].key != 0) i = next(g, i);
    g.slots[i] = s;
  }
}

void SlotTable::erase(Slot& s) {
  Segment& g = segment(s.key);
  size_t i = static_cast<size_t>(&s - g.slots.data());
  // Backward shift: a later slot of the same run moves into the hole unless its home lies
  // cyclically in (hole, slot], where moving it would put it before its home.
  for (size_t j = next(g, i);; j = next(g, j)) {
    if (g.slots[j].key == 0) break;
    const size_t h = home(g, g.slots[j].key);
    const bool stays = i <= j ? (i < h && h <= j) : (i < h || h <= j);
    if (stays) continue;
    g.slots[i] = g.slots[j];
    i = j;
  }
  g.slots[i].key = 0;
  --g.size;
  --size_;
}

}  // namespace rwgate::staleness
