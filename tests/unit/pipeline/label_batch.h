// A batch for the pipeline stage tests, written as label maps.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "proto/batch.h"

namespace rwgate::pipeline::testing {

// A batch of series given as label maps (sorted, as the decoder leaves them), one sample
// each unless `samples` says otherwise.
struct TestBatch {
  std::deque<std::string> strings;
  proto::Batch batch;

  explicit TestBatch(const std::vector<std::map<std::string, std::string>>& series,
                     uint32_t samples = 1) {
    for (const auto& labels : series) {
      proto::Series s;
      s.labels_begin = static_cast<uint32_t>(batch.labels.size());
      for (const auto& [k, v] : labels)
        batch.labels.push_back({strings.emplace_back(k), strings.emplace_back(v)});
      s.labels_count = static_cast<uint32_t>(labels.size());
      s.samples_begin = static_cast<uint32_t>(batch.samples.size());
      s.samples_count = samples;
      for (uint32_t i = 0; i < samples; ++i) batch.samples.push_back({1.0, 1000});
      s.raw_labels = "raw";  // as if received canonical: dedup must clear it when it edits
      batch.series.push_back(s);
    }
  }

  std::vector<std::map<std::string, std::string>> series() const {
    std::vector<std::map<std::string, std::string>> out;
    for (const proto::Series& s : batch.series) {
      std::map<std::string, std::string> m;
      for (const proto::Label& l : batch.labels_of(s)) m[std::string(l.name)] = l.value;
      out.push_back(m);
    }
    return out;
  }
};

}  // namespace rwgate::pipeline::testing
