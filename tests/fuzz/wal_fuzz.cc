// libFuzzer target: untrusted bytes as a disk buffer segment (a disk that flipped bits, a
// file cut short, anything). The reader finds the records that verify and skips the rest:
// records stay inside the input and do not overlap; it never crashes or loops.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "sinks/segment_format.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  uint64_t id = 0;
  const bool header = rwgate::sinks::parse_segment_header(bytes, id);
  const std::string_view body = header ? bytes.substr(rwgate::sinks::kSegmentHeaderBytes) : bytes;
  const rwgate::sinks::ScanResult r = rwgate::sinks::scan_records(body);
  size_t end = 0;
  for (const auto& rec : r.records) {
    if (rec.offset < end || rec.offset + rec.size > body.size()) std::abort();
    if (rec.size < rwgate::sinks::kRecordHeaderBytes) std::abort();
    end = rec.offset + rec.size;
  }
  if (r.valid_end != end) std::abort();
  return 0;
}
