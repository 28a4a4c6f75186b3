// The disk buffer's start: what a previous process left in the directory (segments, the
// cursor file, `done`) is checked and turned into the positions the reader and the cursor
// start from. Run time (append, next, done) is in disk_buffer.cc.
#include "sinks/disk_buffer.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/log.h"
#include "sinks/delivery_log.h"
#include "sinks/segment_format.h"

namespace rwgate::sinks {

namespace fs = std::filesystem;

Status DiskBuffer::recover() {
  if (Status st = lock_directory(); !st) return st;
  if (Status st = load_segments(); !st) return st;
  restore_cursor();
  read_segment_ = cursor_segment_;
  read_offset_ = cursor_offset_;
  const uint64_t next_id = segments_.empty() ? 1 : segments_.rbegin()->first + 1;
  std::lock_guard lock(mu_);
  if (Status st = open_segment_for_append(next_id); !st) return st;
  if (read_segment_ == 0) {
    read_segment_ = cursor_segment_ = next_id;
    read_offset_ = cursor_offset_ = kSegmentHeaderBytes;
  }
  const std::string done = options_.path + "/done";
  done_fd_ = ::open(done.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (done_fd_ < 0) return Status::from_errno("open " + done);
  // What `done` said is in done_before_ now: into the cursor file, and `done` emptied.
  cursor_dirty_ = true;
  write_cursor();
  return {};
}

Status DiskBuffer::lock_directory() {
  std::error_code ec;
  fs::create_directories(options_.path, ec);
  if (ec)
    return Status::error("cannot create buffer directory " + options_.path + ": " + ec.message());
  lock_fd_ = ::open((options_.path + "/LOCK").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0) return Status::from_errno("cannot open " + options_.path + "/LOCK");
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    return Status::error("buffer directory " + options_.path +
                         " is in use by another process (or another sink)");
  }
  return {};
}

// Every segment left by a previous process, in id order: bad headers set aside, the
// newest one's torn tail cut.
Status DiskBuffer::load_segments() {
  std::error_code ec;
  std::vector<std::pair<uint64_t, std::string>> files;
  for (const auto& entry : fs::directory_iterator(options_.path, ec)) {
    const std::string name = entry.path().filename().string();
    if (!name.ends_with(".seg")) continue;
    const std::string stem = name.substr(0, name.size() - 4);
    if (stem.empty() || !std::all_of(stem.begin(), stem.end(), ::isdigit)) continue;
    files.emplace_back(std::stoull(stem), entry.path().string());
  }
  if (ec) return Status::error("cannot list " + options_.path + ": " + ec.message());
  std::sort(files.begin(), files.end());
  for (size_t i = 0; i < files.size(); ++i) {
    const auto& [id, file] = files[i];
    std::ifstream in(file, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string bytes = ss.str();
    uint64_t header_id = 0;
    if (!parse_segment_header(bytes, header_id) || header_id != id) {
      ++stats_.corrupt_records;
      log::error("buffer segment has a bad header; set aside",
                 {{"file", file}, {"renamed", file + ".corrupt"}});
      fs::rename(file, file + ".corrupt", ec);
      continue;
    }
    uint64_t size = bytes.size();
    if (i + 1 == files.size()) {
      // The newest segment may end in a torn write: cut it at its last good record.
      const ScanResult scan = scan_records(std::string_view(bytes).substr(kSegmentHeaderBytes));
      const uint64_t good = kSegmentHeaderBytes + scan.valid_end;
      if (good < size) {
        stats_.truncated_bytes += size - good;
        log::warn("buffer segment ends in a torn write; truncated at its last good record",
                  {{"file", file}, {"bytes_cut", std::to_string(size - good)}});
        if (::truncate(file.c_str(), static_cast<off_t>(good)) != 0) {
          return Status::from_errno("cannot truncate " + file);
        }
        size = good;
      }
    }
    segments_[id] = Segment{id, file, size};
  }
  return {};
}

// Where sending stopped: the cursor file, checked against the segments; segments wholly
// before it are deleted, and what follows it is counted as to be sent again.
void DiskBuffer::restore_cursor() {
  std::error_code ec;
  DeliveryState delivered = read_delivery_state(options_.path);
  const uint64_t cseg = delivered.segment;
  uint64_t coff = delivered.offset;
  std::vector<DeliveredRun>& runs = delivered.runs;
  if (!segments_.empty()) {
    auto it = segments_.find(cseg);
    if (it == segments_.end() || coff < kSegmentHeaderBytes || coff > it->second.size) {
      // No cursor, or it names a segment that is gone: from the oldest segment left.
      it = segments_.lower_bound(cseg);
      if (it == segments_.end()) it = segments_.begin();
      coff = kSegmentHeaderBytes;
      runs.clear();  // positions relative to a cursor that is not there
    }
    cursor_segment_ = it->first;
    cursor_offset_ = coff;
    while (segments_.begin() != it) {  // wholly delivered already
      fs::remove(segments_.begin()->second.file, ec);
      segments_.erase(segments_.begin());
    }
    // Only runs inside what is on disk now: a segment cut short by a torn write, or gone,
    // may get new records at those positions.
    std::erase_if(runs, [&](const DeliveredRun& r) {
      const auto seg = segments_.find(r.segment);
      return seg == segments_.end() || r.end > seg->second.size;
    });
    done_before_.assign(runs.begin(), runs.end());
    // Count what is to be sent again: every record after the cursor, but those delivered.
    uint64_t skipped = 0;
    for (auto s = segments_.find(cursor_segment_); s != segments_.end(); ++s) {
      std::ifstream in(s->second.file, std::ios::binary);
      std::stringstream ss;
      ss << in.rdbuf();
      const std::string bytes = ss.str();
      const uint64_t from = s->first == cursor_segment_ ? cursor_offset_ : kSegmentHeaderBytes;
      if (from >= bytes.size()) continue;
      const ScanResult scan = scan_records(std::string_view(bytes).substr(from));
      for (const ScannedRecord& rec : scan.records) {
        const uint64_t at = from + rec.offset;
        const bool done = std::any_of(runs.begin(), runs.end(), [&](const DeliveredRun& r) {
          return r.segment == s->first && r.start <= at && at + rec.size <= r.end;
        });
        ++(done ? skipped : stats_.replayed_records);
      }
    }
    undelivered_ = stats_.replayed_records;
    if (undelivered_ > 0 || skipped > 0) {
      log::info("buffer has undelivered records from before; sending them first",
                {{"path", options_.path},
                 {"records", std::to_string(undelivered_)},
                 {"delivered_before", std::to_string(skipped)}});
    }
  }
}

bool DiskBuffer::delivered_before(uint64_t segment, uint64_t at) {
  while (!done_before_.empty()) {
    const DeliveredRun& r = done_before_.front();
    if (r.segment > segment || (r.segment == segment && r.start > at)) return false;
    if (r.segment == segment && at < r.end) return true;
    done_before_.pop_front();  // behind the reader
  }
  return false;
}

}  // namespace rwgate::sinks
