// A batch rwgate writes itself: one sample a series, for the series it ends (staleness
// markers, staleness/) or reports on (fleet coverage, coverage/). The label views point
// into the caller's strings, which must outlive the enqueue to the sinks.
#pragma once

#include <bit>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "proto/batch.h"
#include "proto/hash.h"

namespace rwgate::proto {

// The staleness marker's value (kStaleNaNBits) as a double.
inline double stale_nan() { return std::bit_cast<double>(kStaleNaNBits); }

struct OneSampleBatch {
  Batch batch;
  std::vector<SeriesOut> outs;  // by series, after finish()
  size_t bytes = 0;             // an estimate of the encoded size, for try_reserve

  // `labels` sorted by name; `encoded`: the same labels as RW 1.0 Label fields, if the
  // caller has them (saves the encoder writing them again).
  void add(std::span<const Label> labels, double value, int64_t timestamp_ms, uint32_t tenant,
           std::string_view encoded = {}) {
    Series s;
    s.labels_begin = static_cast<uint32_t>(batch.labels.size());
    s.labels_count = static_cast<uint32_t>(labels.size());
    s.samples_begin = static_cast<uint32_t>(batch.samples.size());
    s.samples_count = 1;
    s.tenant = tenant;
    batch.labels.insert(batch.labels.end(), labels.begin(), labels.end());
    batch.samples.push_back({value, timestamp_ms});
    batch.series.push_back(s);
    encoded_.push_back(encoded);
    for (const Label& l : labels) bytes += l.name.size() + l.value.size() + 4;
    bytes += 32;
  }
  // The sinks' view of every series: call once all are added (and tenants set).
  void finish() {
    outs.clear();
    for (uint32_t i = 0; i < batch.series.size(); ++i) {
      const auto labels = batch.labels_of(batch.series[i]);
      outs.push_back({i, labels, hash_labels(labels), encoded_[i]});
    }
  }

 private:
  std::vector<std::string_view> encoded_;
};

}  // namespace rwgate::proto
