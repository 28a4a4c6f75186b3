// What a disk buffer has delivered, as it survives a crash: the `cursor` file (the first
// record not delivered, then the runs delivered after it) and `done` (each delivery since
// the cursor file was last written, appended as it happens). sinks/disk_buffer.h says
// when each is written; this is their format, read and written.
//
//   cursor   "<segment> <offset>\n" then "done <segment> <start> <end>\n" per run
//   done     24 bytes per delivered record: segment, start, end (u64, little-endian)
//
// Reading errs on the side of sending again: a cursor line that does not parse ends the
// list of runs, a torn last `done` entry is ignored, an empty run is dropped.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace rwgate::sinks {

// Records [start, end) of a segment, delivered.
struct DeliveredRun {
  uint64_t segment;
  uint64_t start;
  uint64_t end;
};

struct DeliveryState {
  uint64_t segment = 0;  // 0: no cursor file (or one that does not parse)
  uint64_t offset = 0;
  std::vector<DeliveredRun> runs;  // from both files, in log order
};

// Both files of the buffer directory `dir`.
DeliveryState read_delivery_state(const std::string& dir);

// The cursor file, replaced atomically (temp file + rename); false when it could not be.
bool write_cursor_file(const std::string& dir, uint64_t segment, uint64_t offset,
                       std::span<const DeliveredRun> runs);

// One delivery, appended to `done` (opened O_APPEND). A failed or short write costs only a
// resend after a crash.
void append_delivered(int done_fd, const DeliveredRun& run);

}  // namespace rwgate::sinks
