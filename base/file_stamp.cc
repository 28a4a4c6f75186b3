#include "base/file_stamp.h"

#include <sys/stat.h>

namespace rwgate {

int64_t file_stamp(const std::string& path) {
  struct stat st {};
  if (path.empty() || ::stat(path.c_str(), &st) != 0) return 0;
  // The size, scaled by a prime, so a rewrite in the same nanosecond with another length
  // still changes the stamp.
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec +
         static_cast<int64_t>(st.st_size) * 7919;
}

int64_t files_stamp(std::initializer_list<const std::string*> paths) {
  int64_t stamp = 0;
  for (const std::string* p : paths) {
    if (!p->empty()) stamp = stamp * 31 + file_stamp(*p);
  }
  return stamp;
}

}  // namespace rwgate
