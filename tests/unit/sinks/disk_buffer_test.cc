// The disk buffer: records come back in order and once, survive close and reopen from
// the cursor, torn tails are cut, corrupt records skipped and counted, a full buffer
// refuses or drops its oldest segment, and concurrent appends with fsync: always share
// syncs.
#include "sinks/disk_buffer.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

namespace rwgate::sinks {
namespace {

namespace fs = std::filesystem;

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/rwgate-buffer-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path); }
};

DiskBufferOptions options(const std::string& path, uint64_t max_bytes = 1 << 30,
                          uint64_t segment_bytes = 1 << 20) {
  DiskBufferOptions o;
  o.path = path;
  o.max_bytes = max_bytes;
  o.segment_bytes = segment_bytes;
  o.fsync = FsyncMode::kNever;
  return o;
}

std::unique_ptr<DiskBuffer> open_ok(const DiskBufferOptions& o) {
  std::string error;
  auto b = DiskBuffer::open(o, error);
  EXPECT_NE(b, nullptr) << error;
  return b;
}

void append(DiskBuffer& b, int n, int from = 0, size_t size = 100) {
  for (int i = from; i < from + n; ++i) {
    std::vector<std::pair<RecordMeta, std::string>> r = {
        {RecordMeta{0, static_cast<uint32_t>(i), 0, 0},
         std::string(size, static_cast<char>('a' + i % 26))}};
    ASSERT_TRUE(b.append(r).ok());
  }
}

// Every record that comes back, marked done; their `samples` field (the index given).
std::vector<uint32_t> drain(DiskBuffer& b, bool mark_done = true) {
  std::vector<uint32_t> got;
  BufferedRecord rec;
  while (b.next(rec, std::chrono::milliseconds(50))) {
    got.push_back(rec.meta.samples);
    if (mark_done) b.done(rec.seq);
  }
  return got;
}

std::vector<std::string> segment_files(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".seg") out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<uint32_t> range(uint32_t from, uint32_t to) {
  std::vector<uint32_t> v;
  for (uint32_t i = from; i < to; ++i) v.push_back(i);
  return v;
}

TEST(Crc32cTest, MatchesTheStandardCheckValue) {
  EXPECT_EQ(crc32c("123456789", 9), 0xE3069283u);
  EXPECT_EQ(crc32c("", 0), 0u);
  // Chained over two parts, odd lengths included, equal to one pass.
  std::string big(100003, 'x');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7);
  EXPECT_EQ(crc32c(big.data(), big.size()),
            crc32c(big.data() + 50001, big.size() - 50001, crc32c(big.data(), 50001)));
}

TEST(DiskBufferTest, RecordsComeBackInOrderOnceAndSurviveAReopen) {
  TempDir dir;
  {
    auto b = open_ok(options(dir.path));
    append(*b, 10);
    BufferedRecord rec;
    std::vector<uint32_t> first;
    for (int i = 0; i < 4 && b->next(rec, std::chrono::milliseconds(50)); ++i) {
      first.push_back(rec.meta.samples);
      b->done(rec.seq);
    }
    EXPECT_EQ(first, range(0, 4));
    // Handed out but not delivered: comes back after a restart.
    ASSERT_TRUE(b->next(rec, std::chrono::milliseconds(50)));
    EXPECT_EQ(rec.meta.samples, 4u);
    EXPECT_EQ(rec.body, std::string(100, 'e'));
    EXPECT_EQ(b->undelivered(), 6u);
    b->close();
  }
  auto b = open_ok(options(dir.path));
  EXPECT_EQ(b->stats().replayed_records, 6u);
  append(*b, 2, 10);
  EXPECT_EQ(drain(*b), range(4, 12));
  EXPECT_EQ(b->undelivered(), 0u);
}

// A crash as the files are: a copy of the directory while the buffer runs (the lock is
// flock, which a copy does not carry).
std::string crash_copy(const std::string& dir) {
  const std::string copy = dir + "-crashed";
  fs::remove_all(copy);
  fs::copy(dir, copy);
  return copy;
}

TEST(DiskBufferTest, RecordsDeliveredAheadOfASlowOneAreNotSentAgainAfterACrash) {
  TempDir dir;
  auto b = open_ok(options(dir.path));
  append(*b, 10);
  // Record 0 is stuck (a slow shard retrying it); 1-3 and 5-7 are delivered by others; 4,
  // 8 and 9 are handed out but not delivered.
  std::vector<BufferedRecord> out(10);
  for (auto& r : out) ASSERT_TRUE(b->next(r, std::chrono::milliseconds(50)));
  for (int i : {1, 2, 3, 5, 6, 7}) b->done(out[i].seq);
  EXPECT_EQ(b->undelivered(), 4u);
  std::this_thread::sleep_for(std::chrono::milliseconds(250));  // the syncer writes the cursor
  std::ifstream cursor(dir.path + "/cursor");
  std::string text((std::istreambuf_iterator<char>(cursor)), std::istreambuf_iterator<char>());
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 3) << text;  // cursor + two runs
  const std::string copy = crash_copy(dir.path);
  {
    auto again = open_ok(options(copy));
    EXPECT_EQ(again->stats().replayed_records, 4u);
    EXPECT_EQ(again->undelivered(), 4u);
    EXPECT_EQ(drain(*again), (std::vector<uint32_t>{0, 4, 8, 9}));
    EXPECT_EQ(again->undelivered(), 0u);
  }
  {
    // Delivered after the restart: the skipped ones went with the cursor.
    auto third = open_ok(options(copy));
    EXPECT_EQ(drain(*third), std::vector<uint32_t>{});
  }
  fs::remove_all(copy);
  // In the running buffer, the slow record's delivery lets the cursor pass them all.
  b->done(out[0].seq);
  b->done(out[4].seq);
  b.reset();
  auto reopened = open_ok(options(dir.path));
  EXPECT_EQ(drain(*reopened), (std::vector<uint32_t>{8, 9}));
}

TEST(DiskBufferTest, DeliveriesSinceTheLastCursorWriteSurviveACrash) {
  TempDir dir;
  auto b = open_ok(options(dir.path));  // writes the cursor: the next write is 100 ms away
  append(*b, 6);
  std::vector<BufferedRecord> out(6);
  for (auto& r : out) ASSERT_TRUE(b->next(r, std::chrono::milliseconds(50)));
  for (int i : {0, 1, 2, 4}) b->done(out[i].seq);
  // Crashed now: the cursor file is older than these deliveries, `done` has them.
  EXPECT_EQ(fs::file_size(dir.path + "/done"), 4 * 24u);
  const std::string copy = crash_copy(dir.path);
  auto again = open_ok(options(copy));
  EXPECT_EQ(again->stats().replayed_records, 2u);
  EXPECT_EQ(fs::file_size(copy + "/done"), 0u);  // folded into the cursor file at open
  EXPECT_EQ(drain(*again), (std::vector<uint32_t>{3, 5}));
  again.reset();
  fs::remove_all(copy);
}

TEST(DiskBufferTest, ACursorFileWithBadRunsSendsAgainRatherThanSkip) {
  TempDir dir;
  {
    auto b = open_ok(options(dir.path));
    append(*b, 4);
    b->close();
  }
  // Hand-written: the cursor, a run that does not parse, then one that would skip all.
  const std::string seg = fs::path(segment_files(dir.path)[0]).stem().string();
  {
    std::ofstream f(dir.path + "/cursor", std::ios::trunc);
    f << std::stoull(seg) << " 16\ndone x y z\ndone " << std::stoull(seg) << " 16 99999\n";
  }
  auto b = open_ok(options(dir.path));
  EXPECT_EQ(drain(*b), range(0, 4));
}

TEST(DiskBufferTest, DeliveredSegmentsAreDeleted) {
  TempDir dir;
  auto b = open_ok(options(dir.path, 1 << 30, 1 << 12));  // 4 KiB segments
  append(*b, 200);
  EXPECT_GT(segment_files(dir.path).size(), 3u);
  EXPECT_EQ(drain(*b).size(), 200u);
  EXPECT_EQ(segment_files(dir.path).size(), 1u);
}

// A delivered write segment is not kept at its full size until segment_bytes: a disk
// smaller than a segment would stay full of delivered bytes.
TEST(DiskBufferTest, AWhollyDeliveredWriteSegmentIsReplacedAtTheNextAppend) {
  TempDir dir;
  auto b = open_ok(options(dir.path, 1 << 30, 64 << 20));
  append(*b, 12, 0, 100 << 10);  // 1.2 MiB, far from 64 MiB
  EXPECT_EQ(drain(*b), range(0, 12));
  ASSERT_EQ(segment_files(dir.path).size(), 1u);
  EXPECT_GT(fs::file_size(segment_files(dir.path)[0]), 1u << 20);
  append(*b, 1, 12);
  const auto files = segment_files(dir.path);
  ASSERT_EQ(files.size(), 1u);
  EXPECT_LT(fs::file_size(files[0]), 1000u);
  EXPECT_EQ(drain(*b, /*mark_done=*/false), range(12, 13));
  b.reset();
  b = open_ok(options(dir.path, 1 << 30, 64 << 20));
  EXPECT_EQ(drain(*b), range(12, 13));  // undelivered, sent again; the rest was not
}

TEST(DiskBufferTest, ATornTailIsCutAtTheLastGoodRecord) {
  TempDir dir;
  {
    auto b = open_ok(options(dir.path));
    append(*b, 5);
    b->close();
  }
  const std::string seg = segment_files(dir.path).back();
  const auto good = fs::file_size(seg);
  {
    std::ofstream out(seg, std::ios::binary | std::ios::app);
    std::string half;
    append_record(half, RecordMeta{0, 99, 0, 0}, std::string(500, 'z'));
    out.write(half.data(), static_cast<std::streamsize>(half.size() / 2));  // power cut mid-write
  }
  auto b = open_ok(options(dir.path));
  EXPECT_GT(b->stats().truncated_bytes, 0u);
  EXPECT_EQ(fs::file_size(seg), good);
  EXPECT_EQ(drain(*b), range(0, 5));
  EXPECT_EQ(b->stats().corrupt_records, 0u);
}

TEST(DiskBufferTest, ACorruptRecordIsSkippedAndCountedTheRestDelivered) {
  TempDir dir;
  {
    auto b = open_ok(options(dir.path));
    append(*b, 6);
    b->close();
  }
  const std::string seg = segment_files(dir.path).back();
  {
    std::fstream f(seg, std::ios::binary | std::ios::in | std::ios::out);
    // Record 2's body: header 16 + 2 records of (28 + 100), then its header, then its body.
    f.seekp(16 + 2 * 128 + 28 + 50);
    f.put('!');
  }
  auto b = open_ok(options(dir.path));
  EXPECT_EQ(drain(*b), (std::vector<uint32_t>{0, 1, 3, 4, 5}));
  EXPECT_EQ(b->stats().corrupt_records, 1u);
}

TEST(DiskBufferTest, ACorruptLengthResynchronisesOnTheNextRecord) {
  TempDir dir;
  {
    auto b = open_ok(options(dir.path));
    append(*b, 4);
    b->close();
  }
  const std::string seg = segment_files(dir.path).back();
  {
    std::fstream f(seg, std::ios::binary | std::ios::in | std::ios::out);
    f.seekp(16 + 128 + 4);  // record 1's length field
    const char huge[4] = {'\x7f', '\x7f', '\x7f', '\x00'};
    f.write(huge, 4);
  }
  auto b = open_ok(options(dir.path));
  EXPECT_EQ(drain(*b), (std::vector<uint32_t>{0, 2, 3}));
  EXPECT_EQ(b->stats().corrupt_records, 1u);
}

TEST(DiskBufferTest, ASegmentWithABadHeaderIsSetAside) {
  TempDir dir;
  {
    auto b = open_ok(options(dir.path, 1 << 30, 1 << 12));
    append(*b, 100);
    b->close();
  }
  const auto files = segment_files(dir.path);
  ASSERT_GT(files.size(), 2u);
  {
    std::fstream f(files[0], std::ios::binary | std::ios::in | std::ios::out);
    f.put('X');
  }
  auto b = open_ok(options(dir.path, 1 << 30, 1 << 12));
  EXPECT_EQ(b->stats().corrupt_records, 1u);
  EXPECT_TRUE(fs::exists(files[0] + ".corrupt"));
  const auto got = drain(*b);
  EXPECT_FALSE(got.empty());
  EXPECT_EQ(got.back(), 99u);
  EXPECT_GT(got.front(), 0u);
}

TEST(DiskBufferTest, AFullBufferRefusesOrDropsItsOldestSegment) {
  TempDir dir;
  {
    auto b = open_ok(options(dir.path, 1 << 14, 1 << 12));  // 16 KiB in 4 KiB segments
    int n = 0;
    while (b->has_room(128)) append(*b, 1, n++);
    EXPECT_GT(n, 100);
    EXPECT_FALSE(b->has_room(128));
    b->close();
  }
  DiskBufferOptions o = options(dir.path, 1 << 14, 1 << 12);
  o.drop_oldest = true;
  auto b = open_ok(o);
  EXPECT_TRUE(b->has_room(128));
  append(*b, 1, 1000);
  EXPECT_GE(b->stats().dropped_segments, 1u);
  EXPECT_GT(b->stats().dropped_samples, 0u);
  const auto got = drain(*b);
  EXPECT_EQ(got.back(), 1000u);
  EXPECT_GT(got.front(), 0u);  // the oldest records went with their segment
}

TEST(DiskBufferTest, ADiskFullIsAnErrorThatAcknowledgesNothing) {
  TempDir dir;
  auto b = open_ok(options(dir.path, 1 << 30, 1 << 12));
  // The next segment lands on /dev/full, where every write fails with ENOSPC.
  fs::create_symlink("/dev/full", dir.path + "/00000000000000000002.seg");
  Status st;
  int n = 0;
  while (st.ok() && n < 1000) {
    std::vector<std::pair<RecordMeta, std::string>> r = {
        {RecordMeta{0, static_cast<uint32_t>(n++), 0, 0}, std::string(100, 'x')}};
    st = b->append(r);
  }
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.reason().find("No space left on device"), std::string::npos) << st.reason();
  EXPECT_EQ(b->stats().append_errors, 1u);
  // What was acknowledged before is all there, and nothing of the failed append.
  EXPECT_EQ(drain(*b), range(0, static_cast<uint32_t>(n - 1)));
}

TEST(DiskBufferTest, AnotherProcessCannotUseTheSameDirectory) {
  TempDir dir;
  auto b = open_ok(options(dir.path));
  std::string error;
  EXPECT_EQ(DiskBuffer::open(options(dir.path), error), nullptr);
  EXPECT_NE(error.find("in use"), std::string::npos) << error;
}

TEST(DiskBufferTest, ConcurrentAppendsWithFsyncAlwaysShareSyncs) {
  TempDir dir;
  DiskBufferOptions o = options(dir.path);
  o.fsync = FsyncMode::kAlways;
  auto b = open_ok(o);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) threads.emplace_back([&, t] { append(*b, 50, t * 50); });
  for (auto& th : threads) th.join();
  auto got = drain(*b);
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, range(0, 200));
  EXPECT_GE(b->stats().fsyncs, 1u);
  EXPECT_LE(b->stats().fsyncs, 200u);
}

TEST(DiskBufferTest, ScanningGarbageNeverFailsBadly) {
  std::mt19937 rng(1);
  for (int i = 0; i < 200; ++i) {
    std::string bytes(rng() % 4096, '\0');
    for (char& c : bytes) c = static_cast<char>(rng());
    if (i % 2 == 0) append_record(bytes, RecordMeta{1, 2, 3, 4}, "valid body");
    const ScanResult r = scan_records(bytes);
    for (const ScannedRecord& rec : r.records) EXPECT_LE(rec.offset + rec.size, bytes.size());
    if (i % 2 == 0) {
      ASSERT_FALSE(r.records.empty());
      EXPECT_EQ(r.records.back().meta.exemplars, 4u);
    }
  }
}

}  // namespace
}  // namespace rwgate::sinks
