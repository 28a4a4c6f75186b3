// The on-disk buffer of a sink: an append-only log of encoded batches, so that nothing
// rwgate acknowledged is lost to a store outage, a crash or a restart.
//
// Layout under buffer.path:
//
//   LOCK                  flock()ed while a process uses the buffer
//   cursor                "<segment id> <offset>\n": the first record not yet delivered,
//                         then "done <segment id> <start> <end>\n" for each run of records
//                         after it that were delivered already (out of order)
//   done                  24 bytes per record delivered since the cursor file was written:
//                         segment id, start, end (u64 LE); emptied with each cursor write
//   00000000000000000001.seg, …   segments, appended in order, deleted once delivered
//
// A segment starts with a 16-byte header, then records:
//
//   segment header   0       4        8                16
//                    +-------+--------+----------------+
//                    | RWGS  | ver=1  | segment id u64 |
//                    +-------+--------+----------------+
//
//   record           0       4        8        12       14      16     20     24     28
//                    +-------+--------+--------+--------+-------+------+------+------+-----//
//                    | RWGR  | length | crc32c | shard  | flags | smpl | hist | exem | body
//                    +-------+--------+--------+--------+-------+------+------+------+-----//
//
// All integers little-endian. `length` is the body's; the CRC32C covers bytes 12..28 and
// the body. A body is a remote_write request before snappy, for one shard of the sink: the
// series of one ingest request that hash to that shard.
//
// Recovery: a segment whose header is wrong is set aside (counted, renamed *.corrupt). A
// record that does not verify is skipped, counted, and reading resumes at the next
// position holding a record that does (every record starts with its magic); bytes after
// the last good record of the newest segment are a torn write: truncated, and logged.
// Nothing here ever loops on bad bytes or crashes on them (tests/fuzz/wal_fuzz.cc).
//
// Durability (buffer.fsync): `always` syncs before the append returns, and appends that
// wait together share one fdatasync (group commit); `batch` syncs at most 5 ms after a
// write, from a background thread; `never` leaves it to the kernel. A process crash
// loses nothing in any mode: the data is in the page cache once write() returned. Power
// loss or a kernel crash may lose: nothing with `always`, the last ~5 ms with `batch`,
// whatever the kernel had not written with `never`.
//
// The framing (records, headers, CRC32C, scanning) is sinks/segment_format.h; the files of
// what was delivered (cursor, done) are sinks/delivery_log.h.
//
// Shards deliver out of order: while one shard retries its oldest record, the others go on
// delivering records after it. So every delivery is appended to `done` at once (one small
// write(2), no fsync: a process crash keeps it), and a restart skips the records the cursor
// file and `done` name. The cursor file, with the runs delivered ahead of the cursor (a few
// per shard: the records handed out and not yet passed), is rewritten (temp file + rename)
// within 100 ms of a delivery and on close, and then `done` is emptied. After kill -9, only
// the requests in flight are delivered again; after a power loss, what the kernel had not
// written of `done` and the cursor too: at least once, never a record skipped unsent.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "base/status.h"
#include "sinks/delivery_log.h"
#include "sinks/segment_format.h"

namespace rwgate::sinks {

enum class FsyncMode : uint8_t { kAlways, kBatch, kNever };

struct DiskBufferOptions {
  std::string path;
  uint64_t max_bytes = 1ULL << 30;
  FsyncMode fsync = FsyncMode::kBatch;
  bool drop_oldest = false;  // on_full: drop_oldest (else: refuse, which is 503 at ingest)
  uint64_t segment_bytes = 64ULL << 20;
};

struct DiskBufferStats {
  uint64_t corrupt_records = 0;   // skipped regions (startup and reading)
  uint64_t truncated_bytes = 0;   // torn tail cut at startup
  uint64_t dropped_segments = 0;  // drop_oldest
  uint64_t dropped_samples = 0;   // samples and histograms in dropped segments
  uint64_t replayed_records = 0;  // found undelivered at startup
  uint64_t fsyncs = 0;
  uint64_t append_errors = 0;
};

// One record handed to the sender.
struct BufferedRecord {
  uint64_t seq;  // give it back with done(seq)
  RecordMeta meta;
  std::string body;
};

class DiskBuffer {
 public:
  // Opens (creating) the buffer, recovers what a previous process left, and starts the
  // syncer (batch fsyncs, cursor writes). Null with `error` set when the directory cannot be used.
  static std::unique_ptr<DiskBuffer> open(DiskBufferOptions options, std::string& error);
  ~DiskBuffer();

  // Ingest side. Whether `bytes` more fit in max_bytes (dropping the oldest segments when
  // drop_oldest); an empty buffer takes anything.
  bool has_room(size_t bytes);
  // Appends records (one write), durable as fsync says when it returns; false and the
  // reason on an I/O error (disk full: ENOSPC), in which case nothing is acknowledged.
  Status append(std::span<const std::pair<RecordMeta, std::string>> records);

  // Sender side. The next record not yet handed out, waiting up to `wait`; false when
  // there is none (or after close()).
  bool next(BufferedRecord& out, std::chrono::milliseconds wait);
  // A record handed out was delivered, or given up for good (a non-retryable 4xx).
  void done(uint64_t seq);

  uint64_t bytes() const;  // on disk, not yet delivered (whole segments)
  size_t segments() const;
  uint64_t undelivered() const;  // records appended or recovered and not done
  DiskBufferStats stats() const;
  // Persists the cursor now and stops the syncer; next() returns false after.
  void close();

 private:
  explicit DiskBuffer(DiskBufferOptions options);
  Status recover();
  Status lock_directory();
  Status load_segments();
  void restore_cursor();
  Status open_segment_for_append(uint64_t id);  // caller holds mu_
  // Appends buf to the write segment, first starting a new one when due; on a failed write
  // the segment is cut back to its last record. Caller holds mu_.
  Status write_locked(const std::string& buf);
  // Every record appended is delivered, the write segment's too. Caller holds mu_.
  bool write_segment_delivered() const;
  // Closes and deletes the (wholly delivered) write segment to free its space; the next
  // write starts a new one. Caller holds mu_.
  void release_write_segment();
  // A wholly delivered write segment at least this large is replaced at the next append.
  static constexpr uint64_t kRecycleBytes = 1 << 20;
  void sync_loop();
  void write_cursor();  // caller holds mu_; empties `done` once the cursor is written
  // Writes a dirty cursor when the last write is 100 ms old (done() and the syncer call it,
  // so a delivery reaches the file within 100 ms). Caller holds mu_.
  void write_cursor_when_due();
  void delete_delivered();     // caller holds mu_
  void drop_oldest_segment();  // caller holds mu_

  struct Segment {
    uint64_t id;
    std::string file;
    uint64_t size;  // bytes written (header included)
  };
  struct InFlight {
    uint64_t seq;
    uint64_t segment;
    uint64_t start;  // offset of the record
    uint64_t end;    // offset after the record
    bool done;
  };
  // Whether the record at (segment, at) was delivered before the restart; drops the runs
  // the reader has passed. Caller holds mu_.
  bool delivered_before(uint64_t segment, uint64_t at);

  DiskBufferOptions options_;
  int lock_fd_ = -1;
  int done_fd_ = -1;  // `done`, opened for appending

  mutable std::mutex mu_;  // guards everything below but the sync state
  std::condition_variable appended_;
  std::map<uint64_t, Segment> segments_;  // by id; the last is the one appended to
  int write_fd_ = -1;
  uint64_t written_gen_ = 0;   // appends so far (for group commit)
  uint64_t read_segment_ = 0;  // reader position
  uint64_t read_offset_ = 0;
  uint64_t cursor_segment_ = 0;  // first undelivered record
  uint64_t cursor_offset_ = 0;
  std::deque<InFlight> in_flight_;        // handed out, in log order
  std::deque<DeliveredRun> done_before_;  // from the cursor file, in log order; consumed by next()
  uint64_t next_seq_ = 1;
  uint64_t undelivered_ = 0;
  bool cursor_dirty_ = false;
  std::chrono::steady_clock::time_point cursor_written_{};
  DiskBufferStats stats_;
  bool closed_ = false;

  std::mutex sync_mu_;  // guards synced_gen_, syncing_, stop_sync_
  std::condition_variable synced_;
  uint64_t synced_gen_ = 0;
  bool syncing_ = false;
  bool stop_sync_ = false;
  std::thread syncer_;
};

}  // namespace rwgate::sinks
