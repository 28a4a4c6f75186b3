// Whether files changed since the last look: the one rule every re-read file follows
// (the web config, sinks' secret files, sinks' TLS files). A file counts as changed when
// its modification time or size differs; a look costs a stat() per file and happens at
// most once a second unless forced. A file that cannot be stat()ed counts as unchanged:
// its reader keeps what it has.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace rwgate {

class FileWatch {
 public:
  // Remembers the files as they are now.
  explicit FileWatch(std::vector<std::string> paths);
  // True when a file changed since the last look that returned true (or since
  // construction). `force`: look now, even within a second of the last look.
  bool changed(bool force = false);
  // The next look reports a change (the reader could not use what it read).
  void forget() { stamp_ = -1; }

 private:
  int64_t stamp() const;
  std::vector<std::string> paths_;
  int64_t stamp_;
  std::chrono::steady_clock::time_point checked_;
};

}  // namespace rwgate
