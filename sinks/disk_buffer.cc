#include "sinks/disk_buffer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/log.h"
#include "sinks/delivery_log.h"
#include "sinks/segment_format.h"

namespace rwgate::sinks {

namespace fs = std::filesystem;

namespace {

bool write_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

void sync_dir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

}  // namespace

DiskBuffer::DiskBuffer(DiskBufferOptions options) : options_(std::move(options)) {}

std::unique_ptr<DiskBuffer> DiskBuffer::open(DiskBufferOptions options, std::string& error) {
  std::unique_ptr<DiskBuffer> b(new DiskBuffer(std::move(options)));
  if (Status st = b->recover(); !st) {
    error = st.reason();
    return nullptr;
  }
  b->syncer_ = std::thread([p = b.get()] { p->sync_loop(); });
  return b;
}

DiskBuffer::~DiskBuffer() {
  close();
  if (done_fd_ >= 0) ::close(done_fd_);
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

Status DiskBuffer::open_segment_for_append(uint64_t id) {
  const std::string file = options_.path + "/" + segment_name(id);
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return Status::from_errno("cannot create " + file);
  const std::string header = segment_header(id);
  if (!write_all(fd, header.data(), header.size())) {
    const Status st = Status::from_errno("cannot write " + file);
    ::close(fd);
    ::unlink(file.c_str());
    return st;
  }
  if (write_fd_ >= 0) {
    // What the old segment holds is durable before anything goes into the new one.
    if (options_.fsync != FsyncMode::kNever) ::fdatasync(write_fd_);
    ::close(write_fd_);
  }
  if (options_.fsync != FsyncMode::kNever) sync_dir(options_.path);
  write_fd_ = fd;
  segments_[id] = Segment{id, file, kSegmentHeaderBytes};
  return {};
}

uint64_t DiskBuffer::bytes() const {
  std::lock_guard lock(mu_);
  uint64_t total = 0;
  for (const auto& [id, s] : segments_) total += s.size;
  return total;
}

size_t DiskBuffer::segments() const {
  std::lock_guard lock(mu_);
  return segments_.size();
}

uint64_t DiskBuffer::undelivered() const {
  std::lock_guard lock(mu_);
  return undelivered_;
}

DiskBufferStats DiskBuffer::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

bool DiskBuffer::has_room(size_t bytes) {
  std::lock_guard lock(mu_);
  if (closed_) return false;
  auto used = [&] {
    uint64_t total = 0;
    for (const auto& [id, s] : segments_) total += s.size - kSegmentHeaderBytes;
    return total;
  };
  uint64_t now = used();
  if (now == 0 || now + bytes <= options_.max_bytes) return true;
  if (!options_.drop_oldest) return false;
  while (now + bytes > options_.max_bytes && now > 0) {
    drop_oldest_segment();
    const uint64_t after = used();
    if (after == now) break;  // nothing left to drop
    now = after;
  }
  return true;
}

void DiskBuffer::drop_oldest_segment() {
  if (segments_.size() == 1) {
    // Only the segment being appended to: start a new one so the old can go.
    if (!open_segment_for_append(segments_.rbegin()->first + 1)) return;
  }
  const Segment old = segments_.begin()->second;
  std::ifstream in(old.file, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string bytes = ss.str();
  const uint64_t from = old.id == cursor_segment_ ? cursor_offset_ : kSegmentHeaderBytes;
  uint64_t records = 0;
  if (from < bytes.size()) {
    for (const ScannedRecord& r : scan_records(std::string_view(bytes).substr(from)).records) {
      stats_.dropped_samples += r.meta.samples + r.meta.histograms;
      ++records;
    }
  }
  std::error_code ec;
  fs::remove(old.file, ec);
  segments_.erase(old.id);
  ++stats_.dropped_segments;
  undelivered_ -= std::min(undelivered_, records);
  const uint64_t next = segments_.begin()->first;
  if (read_segment_ <= old.id) {
    read_segment_ = next;
    read_offset_ = kSegmentHeaderBytes;
  }
  if (cursor_segment_ <= old.id) {
    cursor_segment_ = next;
    cursor_offset_ = kSegmentHeaderBytes;
    cursor_dirty_ = true;
  }
  log::warn("buffer full; dropped its oldest segment (buffer.on_full: drop_oldest)",
            {{"path", options_.path}, {"records", std::to_string(records)}});
}

bool DiskBuffer::write_segment_delivered() const {
  const Segment& s = segments_.rbegin()->second;
  return in_flight_.empty() && undelivered_ == 0 && cursor_segment_ == s.id &&
         cursor_offset_ >= s.size && s.size > kSegmentHeaderBytes;
}

void DiskBuffer::release_write_segment() {
  Segment& s = segments_.rbegin()->second;
  if (write_fd_ >= 0) ::close(write_fd_);
  write_fd_ = -1;
  ::unlink(s.file.c_str());
  // The entry stays (the map is never empty; the reader waits at its end) until the next
  // segment exists and delete_delivered() takes it out.
}

Status DiskBuffer::write_locked(const std::string& buf) {
  Segment* seg = &segments_.rbegin()->second;
  // A new segment: this one is full, or released, or wholly delivered and large enough
  // that keeping its bytes on disk is waste (one new file per kRecycleBytes appended
  // while the store keeps up).
  const bool rotate =
      write_fd_ < 0 ||
      (seg->size > kSegmentHeaderBytes && seg->size + buf.size() > options_.segment_bytes) ||
      (seg->size >= kRecycleBytes && write_segment_delivered());
  if (rotate) {
    if (Status st = open_segment_for_append(seg->id + 1); !st) return st;
    seg = &segments_.rbegin()->second;
    delete_delivered();
  }
  if (!write_all(write_fd_, buf.data(), buf.size())) {
    const Status st = Status::from_errno("write to buffer " + seg->file);
    // Take back whatever part was written: the file must end on a record.
    if (::ftruncate(write_fd_, static_cast<off_t>(seg->size)) != 0) {
      log::error("cannot truncate a failed write; recovery will cut it",
                 {{"file", seg->file}, {"error", std::strerror(errno)}});
    }
    return st;
  }
  seg->size += buf.size();
  return {};
}

Status DiskBuffer::append(std::span<const std::pair<RecordMeta, std::string>> records) {
  std::string buf;
  size_t total = 0;
  for (const auto& [meta, body] : records) total += kRecordHeaderBytes + body.size();
  buf.reserve(total);
  for (const auto& [meta, body] : records) append_record(buf, meta, body);
  uint64_t my_gen = 0;
  {
    std::lock_guard lock(mu_);
    if (closed_) return Status::error("buffer is closed");
    Status st = write_locked(buf);
    if (!st && write_segment_delivered()) {
      // A full disk (or a directory that refuses a new file) while everything is delivered:
      // the delivered segment is the space to take back. Without this, a disk smaller
      // than segment_bytes would stay full of delivered bytes, and every append fail.
      release_write_segment();
      st = write_locked(buf);
    }
    if (!st) {
      ++stats_.append_errors;
      return st;
    }
    undelivered_ += records.size();
    my_gen = ++written_gen_;
  }
  appended_.notify_all();
  if (options_.fsync != FsyncMode::kAlways) return {};
  // Group commit: one fdatasync covers every append written before it started.
  std::unique_lock l(sync_mu_);
  while (synced_gen_ < my_gen) {
    if (syncing_) {
      synced_.wait(l);
      continue;
    }
    syncing_ = true;
    l.unlock();
    uint64_t gen;
    int fd;
    {
      std::lock_guard lock(mu_);
      gen = written_gen_;
      fd = ::dup(write_fd_);
      ++stats_.fsyncs;
    }
    if (fd >= 0) {
      ::fdatasync(fd);
      ::close(fd);
    }
    l.lock();
    synced_gen_ = std::max(synced_gen_, gen);
    syncing_ = false;
    synced_.notify_all();
  }
  return {};
}

// The background thread: the fsyncs of `batch` (5 ms after a write) and, in every mode, the
// cursor file within 100 ms of a delivery.
void DiskBuffer::sync_loop() {
  const bool batch = options_.fsync == FsyncMode::kBatch;
  std::unique_lock l(sync_mu_);
  while (!stop_sync_) {
    synced_.wait_for(l, std::chrono::milliseconds(batch ? 5 : 20));
    uint64_t gen;
    int fd = -1;
    {
      std::lock_guard lock(mu_);
      // Deliveries since the cursor was last written reach the file within 100 ms.
      if (!closed_) write_cursor_when_due();
      gen = written_gen_;
      if (batch && gen > synced_gen_ && write_fd_ >= 0) {
        fd = ::dup(write_fd_);
        ++stats_.fsyncs;
      }
    }
    if (fd < 0) continue;
    l.unlock();
    ::fdatasync(fd);
    ::close(fd);
    l.lock();
    synced_gen_ = std::max(synced_gen_, gen);
  }
}

bool DiskBuffer::next(BufferedRecord& out, std::chrono::milliseconds wait) {
  const auto deadline = std::chrono::steady_clock::now() + wait;
  std::unique_lock lock(mu_);
  for (;;) {
    if (closed_) return false;
    auto seg = segments_.find(read_segment_);
    if (seg == segments_.end()) {  // dropped under us: the next one
      seg = segments_.lower_bound(read_segment_);
      if (seg == segments_.end()) return false;
      read_segment_ = seg->first;
      read_offset_ = kSegmentHeaderBytes;
    }
    const uint64_t end = seg->second.size;
    if (read_offset_ >= end) {
      auto later = std::next(seg);
      if (later != segments_.end()) {
        read_segment_ = later->first;
        read_offset_ = kSegmentHeaderBytes;
        continue;
      }
      if (appended_.wait_until(lock, deadline) == std::cv_status::timeout) return false;
      continue;
    }
    // Read [read_offset_, end) of an append-only file without holding up appenders.
    const uint64_t segment = read_segment_, at = read_offset_;
    const std::string file = seg->second.file;
    lock.unlock();
    const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    RecordRead rec;
    if (fd >= 0) rec = read_record(fd, at, end);
    if (fd >= 0) ::close(fd);
    lock.lock();
    if (read_segment_ != segment || read_offset_ != at) continue;  // moved by a drop
    if (fd < 0) {  // could not open it (descriptors exhausted?): not the data's fault
      log::warn("cannot open a buffer segment; retrying", {{"file", file}});
      if (appended_.wait_until(lock, std::min(deadline, std::chrono::steady_clock::now() +
                                                            std::chrono::milliseconds(100))) ==
              std::cv_status::timeout &&
          std::chrono::steady_clock::now() >= deadline)
        return false;
      continue;
    }
    if (!rec.valid) {
      const uint64_t skip_to = rec.skip_to;
      ++stats_.corrupt_records;
      if (undelivered_ > 0) --undelivered_;
      log::warn("buffer record does not verify; skipped",
                {{"file", file},
                 {"offset", std::to_string(at)},
                 {"skipped_bytes", std::to_string((skip_to ? skip_to : end) - at)}});
      read_offset_ = skip_to ? skip_to : end;
      if (in_flight_.empty()) {
        cursor_segment_ = read_segment_;
        cursor_offset_ = read_offset_;
        cursor_dirty_ = true;
      }
      continue;
    }
    read_offset_ = at + rec.bytes.size();
    if (delivered_before(segment, at)) {
      // Delivered before the restart, after a record that was not: not sent again. It
      // waits in line as done, so that the cursor passes it with the records around it.
      if (in_flight_.empty()) {
        cursor_segment_ = segment;
        cursor_offset_ = read_offset_;
        cursor_dirty_ = true;
      } else {
        in_flight_.push_back(InFlight{next_seq_++, segment, at, read_offset_, true});
      }
      continue;
    }
    out.seq = next_seq_++;
    out.meta = rec.meta;
    out.body = rec.bytes.substr(kRecordHeaderBytes);
    in_flight_.push_back(InFlight{out.seq, segment, at, read_offset_, false});
    return true;
  }
}

void DiskBuffer::done(uint64_t seq) {
  std::lock_guard lock(mu_);
  bool found = false;
  for (InFlight& f : in_flight_) {
    if (f.seq == seq) {
      found = true;
      if (!f.done && undelivered_ > 0) --undelivered_;
      if (!f.done && done_fd_ >= 0) {
        // At once, so that a crash before the next cursor write does not send it again.
        append_delivered(done_fd_, DeliveredRun{f.segment, f.start, f.end});
      }
      f.done = true;
      break;
    }
  }
  bool moved = false;
  while (!in_flight_.empty() && in_flight_.front().done) {
    const InFlight& f = in_flight_.front();
    if (segments_.contains(f.segment) &&
        (f.segment > cursor_segment_ || (f.segment == cursor_segment_ && f.end > cursor_offset_))) {
      cursor_segment_ = f.segment;
      cursor_offset_ = f.end;
    }
    in_flight_.pop_front();
    moved = true;
  }
  if (in_flight_.empty() && moved) {  // skipped corrupt bytes, if any, are behind us too
    cursor_segment_ = read_segment_;
    cursor_offset_ = read_offset_;
  }
  if (moved) delete_delivered();
  if (!moved && !found) return;
  cursor_dirty_ = true;  // delivered ahead of the cursor counts too: the file lists it
  write_cursor_when_due();
}

void DiskBuffer::write_cursor_when_due() {
  if (cursor_dirty_ &&
      std::chrono::steady_clock::now() - cursor_written_ >= std::chrono::milliseconds(100))
    write_cursor();
}

void DiskBuffer::delete_delivered() {
  // Segments wholly before the cursor, never the one appended to.
  while (segments_.size() > 1) {
    const Segment& s = segments_.begin()->second;
    const bool behind =
        s.id < cursor_segment_ || (s.id == cursor_segment_ && cursor_offset_ >= s.size);
    if (!behind) break;
    std::error_code ec;
    fs::remove(s.file, ec);
    const uint64_t id = s.id;
    segments_.erase(segments_.begin());
    if (cursor_segment_ == id) {
      cursor_segment_ = segments_.begin()->first;
      cursor_offset_ = kSegmentHeaderBytes;
    }
  }
}

void DiskBuffer::write_cursor() {
  if (!cursor_dirty_) return;
  // The runs delivered ahead of the cursor (contiguous records of a segment make one run),
  // and those read at the start that the reader has not reached yet.
  std::vector<DeliveredRun> runs;
  for (const InFlight& f : in_flight_) {
    if (!f.done) continue;
    if (!runs.empty() && runs.back().segment == f.segment && runs.back().end == f.start) {
      runs.back().end = f.end;
    } else {
      runs.push_back(DeliveredRun{f.segment, f.start, f.end});
    }
  }
  runs.insert(runs.end(), done_before_.begin(), done_before_.end());
  if (!write_cursor_file(options_.path, cursor_segment_, cursor_offset_, runs)) return;
  cursor_dirty_ = false;
  cursor_written_ = std::chrono::steady_clock::now();
  // The cursor file now says all `done` said (the runs behind the cursor need no saying).
  // Should this fail, `done` keeps entries the cursor file has too: harmless.
  if (done_fd_ >= 0) [[maybe_unused]]
    const int r = ::ftruncate(done_fd_, 0);
}

void DiskBuffer::close() {
  {
    std::lock_guard lock(mu_);
    if (closed_) return;
    closed_ = true;
    write_cursor();
    if (write_fd_ >= 0) {
      if (options_.fsync != FsyncMode::kNever) ::fdatasync(write_fd_);
      ::close(write_fd_);
      write_fd_ = -1;
    }
  }
  appended_.notify_all();
  {
    std::lock_guard l(sync_mu_);
    stop_sync_ = true;
  }
  synced_.notify_all();
  if (syncer_.joinable()) syncer_.join();
}

}  // namespace rwgate::sinks
