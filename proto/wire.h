// Protocol Buffers wire primitives for the hand-written remote_write codec.
//
// Only what remote_write needs: varints, zigzag, fixed64 and length-delimited fields.
// The reader never throws and never reads past its end: every accessor reports failure
// through a bool, and the decoder turns that into a one-line reason.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace rwgate::proto {

enum class WireType : uint8_t {
  kVarint = 0,
  kFixed64 = 1,
  kLengthDelimited = 2,
  kStartGroup = 3,
  kEndGroup = 4,
  kFixed32 = 5,
};

// A forward-only cursor over one message's bytes.
class WireReader {
 public:
  explicit WireReader(std::string_view bytes)
      : p_(bytes.data()), end_(bytes.data() + bytes.size()) {}

  bool done() const { return p_ == end_; }
  const char* position() const { return p_; }

  bool read_varint(uint64_t& out) {
    uint64_t result = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p_ == end_) return false;
      const auto byte = static_cast<uint8_t>(*p_++);
      // The 10th byte may only carry the top bit of a 64-bit value.
      if (shift == 63 && byte > 1) return false;
      result |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) {
        out = result;
        return true;
      }
    }
    return false;
  }

  // Reads a field key. Field number 0 and the group wire types are invalid for us.
  bool read_tag(uint32_t& field, WireType& type) {
    uint64_t key = 0;
    if (!read_varint(key)) return false;
    field = static_cast<uint32_t>(key >> 3);
    const auto wt = static_cast<uint8_t>(key & 7);
    if (field == 0 || (key >> 3) > 0x1fffffff || wt > 5 || wt == 3 || wt == 4) return false;
    type = static_cast<WireType>(wt);
    return true;
  }

  bool read_fixed64(uint64_t& out) {
    if (end_ - p_ < 8) return false;
    std::memcpy(&out, p_, 8);  // little-endian hosts only (static_assert in wire.cc)
    p_ += 8;
    return true;
  }

  bool read_double(double& out) {
    uint64_t bits = 0;
    if (!read_fixed64(bits)) return false;
    std::memcpy(&out, &bits, 8);
    return true;
  }

  bool read_bytes(std::string_view& out) {
    uint64_t len = 0;
    if (!read_varint(len)) return false;
    if (len > static_cast<uint64_t>(end_ - p_)) return false;
    out = std::string_view(p_, static_cast<size_t>(len));
    p_ += len;
    return true;
  }

  // Skips a field of the given type (unknown fields are legal protobuf and are ignored).
  bool skip(WireType type) {
    uint64_t ignored = 0;
    std::string_view ignored_bytes;
    switch (type) {
      case WireType::kVarint:
        return read_varint(ignored);
      case WireType::kFixed64:
        return read_fixed64(ignored);
      case WireType::kLengthDelimited:
        return read_bytes(ignored_bytes);
      case WireType::kFixed32:
        if (end_ - p_ < 4) return false;
        p_ += 4;
        return true;
      default:
        return false;
    }
  }

 private:
  const char* p_;
  const char* end_;
};

inline int64_t zigzag_decode64(uint64_t v) {
  return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1);
}

// Appends wire-format fields to a std::string. The string is the caller's reusable buffer.
class WireWriter {
 public:
  explicit WireWriter(std::string& out) : out_(out) {}

  // Inlined: it runs several times per sample, and GCC stops inlining it once it has
  // enough call sites (callgrind: +5% instructions for RW 1.0 encoding when that happened).
  [[gnu::always_inline]] void varint(uint64_t v) {
    char buf[10];
    size_t n = 0;
    while (v >= 0x80) {
      buf[n++] = static_cast<char>(v | 0x80);
      v >>= 7;
    }
    buf[n++] = static_cast<char>(v);
    out_.append(buf, n);
  }
  void tag(uint32_t field, WireType type) {
    varint((static_cast<uint64_t>(field) << 3) | static_cast<uint8_t>(type));
  }
  void varint_field(uint32_t field, uint64_t v) {
    tag(field, WireType::kVarint);
    varint(v);
  }
  void double_field(uint32_t field, double v) {
    tag(field, WireType::kFixed64);
    char buf[8];
    std::memcpy(buf, &v, 8);
    out_.append(buf, 8);
  }
  void bytes_field(uint32_t field, std::string_view v) {
    tag(field, WireType::kLengthDelimited);
    varint(v.size());
    out_.append(v);
  }
  void raw(std::string_view bytes) { out_.append(bytes); }

  // For nested messages of unknown length: reserve room for a length varint, write the
  // body, then patch the length in place (shifting the body only when the varint needs
  // more than the reserved byte count).
  size_t begin_nested(uint32_t field) {
    tag(field, WireType::kLengthDelimited);
    const size_t at = out_.size();
    out_.append(kReserved, '\0');
    return at;
  }
  void end_nested(size_t at) {
    const size_t body_len = out_.size() - at - kReserved;
    char buf[10];
    size_t n = 0;
    uint64_t v = body_len;
    while (v >= 0x80) {
      buf[n++] = static_cast<char>(v | 0x80);
      v >>= 7;
    }
    buf[n++] = static_cast<char>(v);
    if (n == kReserved) {
      std::memcpy(out_.data() + at, buf, n);
    } else if (n < kReserved) {
      std::memcpy(out_.data() + at, buf, n);
      out_.erase(at + n, kReserved - n);
    } else {
      out_.insert(at + kReserved, n - kReserved, '\0');
      std::memcpy(out_.data() + at, buf, n);
    }
  }

  std::string& out() { return out_; }

 private:
  // Two bytes cover bodies up to 16 KiB, which is almost every series and exemplar.
  static constexpr size_t kReserved = 2;
  std::string& out_;
};

inline size_t varint_size(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

}  // namespace rwgate::proto
