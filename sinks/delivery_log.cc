#include "sinks/delivery_log.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <tuple>

namespace rwgate::sinks {

namespace {
constexpr size_t kEntryBytes = 24;  // x86-64 and aarch64 Linux are little-endian
}

DeliveryState read_delivery_state(const std::string& dir) {
  DeliveryState st;
  {
    std::ifstream in(dir + "/cursor");
    in >> st.segment >> st.offset;
    if (!in) st.segment = st.offset = 0;
    std::string word;
    DeliveredRun r{};
    while (in >> word >> r.segment >> r.start >> r.end && word == "done" && r.start < r.end)
      st.runs.push_back(r);
  }
  {
    std::ifstream in(dir + "/done", std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    for (size_t at = 0; at + kEntryBytes <= bytes.size(); at += kEntryBytes) {
      DeliveredRun r{};
      std::memcpy(&r.segment, bytes.data() + at, 8);
      std::memcpy(&r.start, bytes.data() + at + 8, 8);
      std::memcpy(&r.end, bytes.data() + at + 16, 8);
      if (r.start < r.end) st.runs.push_back(r);
    }
  }
  std::sort(st.runs.begin(), st.runs.end(), [](const DeliveredRun& a, const DeliveredRun& b) {
    return std::tie(a.segment, a.start) < std::tie(b.segment, b.start);
  });
  return st;
}

bool write_cursor_file(const std::string& dir, uint64_t segment, uint64_t offset,
                       std::span<const DeliveredRun> runs) {
  const std::string tmp = dir + "/cursor.tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << segment << " " << offset << "\n";
    for (const DeliveredRun& r : runs)
      out << "done " << r.segment << " " << r.start << " " << r.end << "\n";
    if (!out) return false;
  }
  std::error_code ec;
  std::filesystem::rename(tmp, dir + "/cursor", ec);
  return !ec;
}

void append_delivered(int done_fd, const DeliveredRun& run) {
  char entry[kEntryBytes];
  std::memcpy(entry, &run.segment, 8);
  std::memcpy(entry + 8, &run.start, 8);
  std::memcpy(entry + 16, &run.end, 8);
  [[maybe_unused]] const ssize_t n = ::write(done_fd, entry, sizeof entry);
}

}  // namespace rwgate::sinks
