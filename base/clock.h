// The time seam: every component that reads the time reads it from a Clock, and tests
// inject a ManualClock instead of sleeping.
//
// Two scales, as the standard library has them: wall time for what is reported or compared
// with sample timestamps (discovery report times, load-balancer first/last seen), steady
// time for intervals and timeouts (idle series, refresh periods), which must not jump when
// the wall clock is set.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

namespace rwgate {

/// Where components read the time.
class Clock {
 public:
  using WallTime = std::chrono::system_clock::time_point;
  using SteadyTime = std::chrono::steady_clock::time_point;

  virtual ~Clock() = default;
  virtual WallTime wall() const = 0;
  virtual SteadyTime steady() const = 0;

  // Milliseconds since the epoch.
  int64_t wall_ms() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(wall().time_since_epoch()).count();
  }
  // Whole seconds on the steady scale (compact timestamps for per-series state).
  uint32_t steady_seconds() const {
    return static_cast<uint32_t>(
        std::chrono::duration_cast<std::chrono::seconds>(steady().time_since_epoch()).count());
  }

  /// The process's real clock.
  static const Clock& system();
};

// A clock that moves only when told to; safe to read from several threads.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(WallTime start = WallTime(std::chrono::seconds(1'700'000'000)))
      : wall_ns_(start.time_since_epoch().count()) {}
  WallTime wall() const override { return WallTime(WallTime::duration(wall_ns_.load())); }
  SteadyTime steady() const override { return SteadyTime(SteadyTime::duration(steady_ns_.load())); }
  // Moves both scales forward.
  void advance(std::chrono::nanoseconds d) {
    wall_ns_ += std::chrono::duration_cast<WallTime::duration>(d).count();
    steady_ns_ += std::chrono::duration_cast<SteadyTime::duration>(d).count();
  }
  // Sets the wall clock forward (or back, for a negative `d`) as an operator or NTP would;
  // steady time does not move.
  void set_wall_by(std::chrono::nanoseconds d) {
    wall_ns_ += std::chrono::duration_cast<WallTime::duration>(d).count();
  }

 private:
  std::atomic<WallTime::rep> wall_ns_;
  std::atomic<SteadyTime::rep> steady_ns_{
      std::chrono::duration_cast<SteadyTime::duration>(std::chrono::hours(1000)).count()};
};

// RFC 3339 in UTC with milliseconds ("2026-12-01T13:52:22.123Z"), as Prometheus's API
// writes times.
std::string format_rfc3339_ms(int64_t ms_since_epoch);

}  // namespace rwgate
