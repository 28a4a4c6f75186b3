// Durations as Prometheus writes them: "1h30m", "5m", "30s", "250ms", "0".
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace rwgate {

using Duration = std::chrono::milliseconds;

// Units y w d h m s ms, largest first, each at most once; no fractions, no sign.
std::optional<Duration> parse_duration(std::string_view text);
// The inverse for display: "1h30m1s500ms", "0s".
std::string format_duration(Duration d);

}  // namespace rwgate
