// Metric metadata remembered by family, for a sink that speaks RW 2.0.
//
// RW 1.0 senders send metadata apart from the series it describes: Prometheus sends it in
// requests of its own, every metadata_config.send_interval (1m), with no series in them.
// RW 2.0 carries metadata on each series, so a 2.0 sink fed by a 1.0 sender would lose all
// of it. The sink keeps what the metadata requests said, by family (the newest entry wins),
// and attaches it to that family's series in the requests that follow.
#pragma once

#include <cstddef>
#include <mutex>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

#include "base/string_hash.h"
#include "proto/batch.h"

namespace rwgate::sinks {

class FamilyMetadataCache {
 public:
  // Bounds the memory a sender can make it hold: families past this are not remembered.
  static constexpr size_t kMaxFamilies = 100000;

  // Remembers each entry (copied), replacing what its family had.
  void learn(std::span<const proto::FamilyMetadata> entries);

  // Lookups for one enqueue() call: a shared lock held while the reader lives, so the
  // views it hands out stay valid until the series that use them are encoded.
  class Reader {
   public:
    explicit Reader(const FamilyMetadataCache& cache) : cache_(cache), lock_(cache.mu_) {}
    // The metadata of the family of a series named `name`, or `present == false`.
    proto::SeriesMetadata find(std::string_view name) const;

   private:
    const FamilyMetadataCache& cache_;
    std::shared_lock<std::shared_mutex> lock_;
  };

 private:
  struct Entry {
    proto::MetricType type;
    std::string help;
    std::string unit;
  };

  mutable std::shared_mutex mu_;  // guards families_, full_logged_
  std::unordered_map<std::string, Entry, StringHash, std::equal_to<>> families_;
  bool full_logged_ = false;
};

}  // namespace rwgate::sinks
