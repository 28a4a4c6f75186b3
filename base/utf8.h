// UTF-8 runes, decoded the way Go does it (the relabel rules and JSON lines must treat
// bytes exactly as Prometheus would).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace rwgate::utf8 {

// Decodes one rune like Go's utf8.DecodeRuneInString: invalid input gives U+FFFD, width 1.
inline char32_t decode_rune(std::string_view s, size_t i, size_t& width) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  width = 1;
  if (b0 < 0x80) return b0;
  auto cont = [&](size_t k) {
    return i + k < s.size() && (static_cast<unsigned char>(s[i + k]) & 0xc0) == 0x80;
  };
  auto cb = [&](size_t k) {
    return static_cast<char32_t>(static_cast<unsigned char>(s[i + k]) & 0x3f);
  };
  if (b0 >= 0xc2 && b0 <= 0xdf && cont(1)) {
    width = 2;
    return (static_cast<char32_t>(b0 & 0x1f) << 6) | cb(1);
  }
  if (b0 >= 0xe0 && b0 <= 0xef && cont(1) && cont(2)) {
    const char32_t r = (static_cast<char32_t>(b0 & 0x0f) << 12) | (cb(1) << 6) | cb(2);
    if (r >= 0x800 && (r < 0xd800 || r > 0xdfff)) {
      width = 3;
      return r;
    }
    return 0xfffd;
  }
  if (b0 >= 0xf0 && b0 <= 0xf4 && cont(1) && cont(2) && cont(3)) {
    const char32_t r =
        (static_cast<char32_t>(b0 & 0x07) << 18) | (cb(1) << 12) | (cb(2) << 6) | cb(3);
    if (r >= 0x10000 && r <= 0x10ffff) {
      width = 4;
      return r;
    }
  }
  return 0xfffd;
}

inline void encode_rune(char32_t r, std::string& out) {
  if (r < 0x80) {
    out.push_back(static_cast<char>(r));
  } else if (r < 0x800) {
    out.push_back(static_cast<char>(0xc0 | (r >> 6)));
    out.push_back(static_cast<char>(0x80 | (r & 0x3f)));
  } else if (r < 0x10000) {
    out.push_back(static_cast<char>(0xe0 | (r >> 12)));
    out.push_back(static_cast<char>(0x80 | ((r >> 6) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | (r & 0x3f)));
  } else {
    out.push_back(static_cast<char>(0xf0 | (r >> 18)));
    out.push_back(static_cast<char>(0x80 | ((r >> 12) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | ((r >> 6) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | (r & 0x3f)));
  }
}

// Whether every byte is below 0x80. The high bits are OR-ed together over the whole text,
// a loop the compiler vectorizes.
inline bool is_ascii(std::string_view s) {
  uint64_t high = 0;
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t word = 0;
    std::memcpy(&word, s.data() + i, 8);
    high |= word;
  }
  for (; i < s.size(); ++i) high |= static_cast<unsigned char>(s[i]);
  return (high & 0x8080808080808080ULL) == 0;
}

// Whether `s` is valid UTF-8, as Go's utf8.ValidString: no invalid bytes, no surrogates,
// nothing above U+10FFFF, no overlong forms. Label names and values are nearly always
// ASCII, and this runs on every received label: only text with a byte >= 0x80 is decoded
// rune by rune.
inline bool valid(std::string_view s) {
  if (is_ascii(s)) return true;
  size_t i = 0;
  while (i < s.size()) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    size_t w = 0;
    // decode_rune gives U+FFFD (width 1) for an invalid sequence; U+FFFD itself is 3 bytes.
    if (decode_rune(s, i, w) == 0xfffd && w != 3) return false;
    i += w;
  }
  return true;
}

}  // namespace rwgate::utf8
