// A few label sets an ingest worker received lately, for the trace page's list of series
// to pick from. One request in kEvery gives one of its series (a different position each
// time), copied under a lock that only the page also takes: about a dozen label copies
// every 64 requests, nothing per series.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <vector>

#include "pipeline/trace.h"
#include "proto/batch.h"

namespace rwgate::pipeline {

class RecentSeries {
 public:
  static constexpr size_t kKept = 8;
  static constexpr uint64_t kEvery = 64;

  // The worker's thread, once per request, with the labels as the sender sent them.
  void offer(const proto::Batch& batch) {
    if (requests_++ % kEvery != 0 || batch.series.empty()) return;
    const proto::Series& s = batch.series[(requests_ / kEvery) % batch.series.size()];
    TraceLabels labels;
    labels.reserve(s.labels_count);
    for (const proto::Label& l : batch.labels_of(s)) labels.emplace_back(l.name, l.value);
    std::lock_guard lock(mu_);
    kept_[next_++ % kKept] = std::move(labels);
  }
  // Appends what is kept, the newest first.
  void collect(std::vector<TraceLabels>& out) const {
    std::lock_guard lock(mu_);
    for (size_t i = 0; i < kKept && i < next_; ++i) out.push_back(kept_[(next_ - 1 - i) % kKept]);
  }

 private:
  uint64_t requests_ = 0;  // the worker's thread only
  mutable std::mutex mu_;  // guards the two below
  std::array<TraceLabels, kKept> kept_;
  size_t next_ = 0;
};

}  // namespace rwgate::pipeline
