// Fast non-cryptographic hashing of label bytes, for the result cache and for sharding.
//
// Eight bytes per step, short tails read with fixed-size loads (no per-byte loop, no
// variable-length memcpy). Not a defence against chosen collisions: every user of these
// hashes compares the key bytes, so a collision costs a recomputation, never a wrong answer.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>

#include "proto/batch.h"

namespace rwgate::proto {

namespace hash_detail {
inline uint64_t load64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}
inline uint64_t load32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
inline uint64_t mum(uint64_t a, uint64_t b) {
  const unsigned __int128 r = static_cast<unsigned __int128>(a) * b;
  return static_cast<uint64_t>(r) ^ static_cast<uint64_t>(r >> 64);
}
constexpr uint64_t kP0 = 0xa0761d6478bd642fULL;
constexpr uint64_t kP1 = 0xe7037ed1a0b428dbULL;
}  // namespace hash_detail

// Hashes `s` into the running hash `h`; the length is mixed in, so boundaries matter.
inline uint64_t hash_bytes(uint64_t h, std::string_view s) {
  using namespace hash_detail;
  const char* p = s.data();
  size_t n = s.size();
  h ^= n * kP1;
  while (n > 16) {
    h = mum(load64(p) ^ kP0, load64(p + 8) ^ h);
    p += 16;
    n -= 16;
  }
  uint64_t a = 0, b = 0;
  if (n >= 8) {
    a = load64(p);
    b = load64(p + n - 8);
  } else if (n >= 4) {
    a = load32(p);
    b = load32(p + n - 4);
  } else if (n > 0) {
    a = (static_cast<uint64_t>(static_cast<unsigned char>(p[0])) << 16) |
        (static_cast<uint64_t>(static_cast<unsigned char>(p[n >> 1])) << 8) |
        static_cast<unsigned char>(p[n - 1]);
  }
  return mum(a ^ kP0, b ^ h ^ kP1);
}

inline uint64_t hash_labels(std::span<const Label> labels) {
  uint64_t h = 0x243f6a8885a308d3ULL;
  for (const Label& l : labels) {
    h = hash_bytes(h, l.name);
    h = hash_bytes(h, l.value);
  }
  return h;
}

}  // namespace rwgate::proto
