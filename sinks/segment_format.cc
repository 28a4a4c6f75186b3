#include "sinks/segment_format.h"

#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace rwgate::sinks {

namespace {

constexpr uint32_t kSegmentMagic = 0x53475752;  // "RWGS" little-endian
constexpr uint32_t kRecordMagic = 0x52475752;   // "RWGR"
constexpr uint32_t kVersion = 1;
constexpr uint32_t kMaxRecordBody = 1u << 30;

std::array<uint32_t, 256> make_table() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    t[i] = c;
  }
  return t;
}

uint32_t crc32c_sw(const unsigned char* p, size_t n, uint32_t crc) {
  static const std::array<uint32_t, 256> kTable = make_table();
  crc = ~crc;
  for (size_t i = 0; i < n; ++i) crc = kTable[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
  return ~crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) uint32_t crc32c_hw(const unsigned char* p, size_t n,
                                                     uint32_t crc) {
  uint64_t c = ~crc & 0xffffffffu;
  for (; n >= 8; n -= 8, p += 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    c = __builtin_ia32_crc32di(c, v);
  }
  auto c32 = static_cast<uint32_t>(c);
  for (; n > 0; --n, ++p) c32 = __builtin_ia32_crc32qi(c32, *p);
  return ~c32;
}
#endif

void put32(std::string& out, uint32_t v) {
  char b[4];
  std::memcpy(b, &v, 4);  // x86-64 and aarch64 Linux are little-endian
  out.append(b, 4);
}
void put16(std::string& out, uint16_t v) {
  char b[2];
  std::memcpy(b, &v, 2);
  out.append(b, 2);
}
uint32_t get32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
uint16_t get16(const char* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

// A record at `at` of `bytes` that verifies; its total size, or 0.
size_t record_at(std::string_view bytes, size_t at, RecordMeta* meta) {
  if (bytes.size() - at < kRecordHeaderBytes) return 0;
  const char* p = bytes.data() + at;
  if (get32(p) != kRecordMagic) return 0;
  const uint32_t len = get32(p + 4);
  if (len > kMaxRecordBody || bytes.size() - at - kRecordHeaderBytes < len) return 0;
  if (crc32c(p + 12, kRecordHeaderBytes - 12 + len) != get32(p + 8)) return 0;
  if (meta != nullptr) {
    meta->shard = get16(p + 12);
    meta->samples = get32(p + 16);
    meta->histograms = get32(p + 20);
    meta->exemplars = get32(p + 24);
  }
  return kRecordHeaderBytes + len;
}

bool pread_all(int fd, char* out, size_t n, uint64_t offset) {
  while (n > 0) {
    const ssize_t r = ::pread(fd, out, n, static_cast<off_t>(offset));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    out += r;
    n -= static_cast<size_t>(r);
    offset += static_cast<uint64_t>(r);
  }
  return true;
}

}  // namespace

uint32_t crc32c(const void* data, size_t n, uint32_t crc) {
  const auto* p = static_cast<const unsigned char*>(data);
#if defined(__x86_64__)
  static const bool kHw = __builtin_cpu_supports("sse4.2");
  if (kHw) return crc32c_hw(p, n, crc);
#endif
  return crc32c_sw(p, n, crc);
}

void append_record(std::string& out, const RecordMeta& meta, std::string_view body) {
  const size_t at = out.size();
  put32(out, kRecordMagic);
  put32(out, static_cast<uint32_t>(body.size()));
  put32(out, 0);  // crc, below
  put16(out, meta.shard);
  put16(out, 0);  // flags
  put32(out, meta.samples);
  put32(out, meta.histograms);
  put32(out, meta.exemplars);
  out.append(body);
  const uint32_t crc = crc32c(out.data() + at + 12, out.size() - at - 12);
  std::memcpy(out.data() + at + 8, &crc, 4);
}

ScanResult scan_records(std::string_view bytes) {
  ScanResult r;
  size_t at = 0;
  bool in_bad = false;
  while (at < bytes.size()) {
    RecordMeta meta;
    const size_t size = record_at(bytes, at, &meta);
    if (size == 0) {
      if (!in_bad) ++r.corrupt_regions;
      in_bad = true;
      ++at;  // resynchronise on the next magic that starts a record that verifies
      continue;
    }
    in_bad = false;
    r.records.push_back({at, size, meta});
    at += size;
    r.valid_end = at;
  }
  return r;
}

bool parse_segment_header(std::string_view bytes, uint64_t& id) {
  if (bytes.size() < kSegmentHeaderBytes) return false;
  if (get32(bytes.data()) != kSegmentMagic || get32(bytes.data() + 4) != kVersion) return false;
  std::memcpy(&id, bytes.data() + 8, 8);
  return true;
}

std::string segment_name(uint64_t id) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%020llu.seg", static_cast<unsigned long long>(id));
  return buf;
}

std::string segment_header(uint64_t id) {
  std::string header;
  put32(header, kSegmentMagic);
  put32(header, kVersion);
  header.append(reinterpret_cast<const char*>(&id), 8);
  return header;
}

RecordRead read_record(int fd, uint64_t at, uint64_t end) {
  RecordRead r;
  char header[kRecordHeaderBytes];
  bool ok = end - at >= kRecordHeaderBytes && pread_all(fd, header, sizeof header, at);
  size_t len = 0;
  if (ok && get32(header) == kRecordMagic) {
    len = get32(header + 4);
    ok = len <= end - at - kRecordHeaderBytes;
  } else {
    ok = false;
  }
  if (ok) {
    r.bytes.assign(header, sizeof header);
    r.bytes.resize(kRecordHeaderBytes + len);
    ok = pread_all(fd, r.bytes.data() + kRecordHeaderBytes, len, at + kRecordHeaderBytes);
  }
  r.valid = ok && record_at(r.bytes, 0, &r.meta) == r.bytes.size();
  if (r.valid) return r;
  // Resynchronise: the next record in the rest of the segment that verifies.
  std::string rest(end - at, '\0');
  if (pread_all(fd, rest.data(), rest.size(), at)) {
    const ScanResult scan = scan_records(std::string_view(rest).substr(1));
    r.skip_to = scan.records.empty() ? end : at + 1 + scan.records.front().offset;
  } else {
    r.skip_to = end;
  }
  return r;
}

}  // namespace rwgate::sinks
