// Whether a file changed: a number made of its modification time (ns) and size, for the
// files rwgate re-reads when they change (secret files, certificates, the web config, the
// AWS shared credentials file). Callers compare stamps at most once a second, so a
// rewrite is seen within a second, without inotify.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>

namespace rwgate {

// 0 when the file is absent or cannot be stat'ed (its appearing is then a change too).
int64_t file_stamp(const std::string& path);
// The stamps of several files combined (empty paths are skipped): changes when any does.
int64_t files_stamp(std::initializer_list<const std::string*> paths);

}  // namespace rwgate
