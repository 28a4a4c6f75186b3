#include "base/file_watch.h"

#include <sys/stat.h>

namespace rwgate {

FileWatch::FileWatch(std::vector<std::string> paths)
    : paths_(std::move(paths)), stamp_(stamp()), checked_(std::chrono::steady_clock::now()) {}

int64_t FileWatch::stamp() const {
  int64_t stamp = 0;
  for (const std::string& path : paths_) {
    struct stat st {};
    if (path.empty() || ::stat(path.c_str(), &st) != 0) continue;
    stamp = stamp * 31 + static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 +
            st.st_mtim.tv_nsec + static_cast<int64_t>(st.st_size);
  }
  return stamp;
}

bool FileWatch::changed(bool force) {
  const auto now = std::chrono::steady_clock::now();
  if (!force && now - checked_ < std::chrono::seconds(1)) return false;
  checked_ = now;
  const int64_t s = stamp();
  if (s == stamp_) return false;
  stamp_ = s;
  return true;
}

}  // namespace rwgate
