// The disk buffer's segment format: record framing, segment headers, CRC32C, and
// reading records back with resynchronisation. The layout is drawn at the top of
// sinks/disk_buffer.h. Pure functions of bytes (and pread on a descriptor), fuzzed by
// tests/fuzz/wal_fuzz.cc.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace rwgate::sinks {

uint32_t crc32c(const void* data, size_t n, uint32_t crc = 0);

inline constexpr size_t kSegmentHeaderBytes = 16;
inline constexpr size_t kRecordHeaderBytes = 28;

struct RecordMeta {
  uint16_t shard = 0;
  uint32_t samples = 0;
  uint32_t histograms = 0;
  uint32_t exemplars = 0;
};

// Appends one framed record to `out`.
void append_record(std::string& out, const RecordMeta& meta, std::string_view body);

// The records of a segment's bytes (after its header), verified.
struct ScannedRecord {
  size_t offset;  // of the record header, from the start of `bytes`
  size_t size;    // header + body
  RecordMeta meta;
};
struct ScanResult {
  std::vector<ScannedRecord> records;
  uint64_t corrupt_regions = 0;  // runs of bytes that held no valid record, skipped
  size_t valid_end = 0;          // end of the last valid record
};
ScanResult scan_records(std::string_view bytes);
// Checks a segment header; returns its id, or false.
bool parse_segment_header(std::string_view bytes, uint64_t& id);

// "<20-digit id>.seg".
std::string segment_name(uint64_t id);
// The 16-byte header of segment `id`.
std::string segment_header(uint64_t id);

// One record read from a segment file between `at` and `end` (its written size).
struct RecordRead {
  bool valid = false;
  RecordMeta meta;
  std::string bytes;     // header + body, when valid
  uint64_t skip_to = 0;  // not valid: where the next record that verifies starts (or end)
};
RecordRead read_record(int fd, uint64_t at, uint64_t end);

}  // namespace rwgate::sinks
