// One request as ingest hands it to a SeriesTracker, for the staleness tests: n series
// m{i="<k>", <extra labels>} of one instance, one sample each.
#pragma once

#include <string>
#include <vector>

#include "discovery/instance.h"
#include "proto/batch.h"
#include "proto/hash.h"
#include "staleness/series_tracker.h"

namespace rwgate::staleness {

struct TrackedRequest {
  std::vector<std::string> values;
  proto::Batch batch;
  std::vector<std::vector<proto::SeriesOut>> per_sink;  // one sink
  std::vector<const discovery::InstanceRecord*> records;
  // `extra`: more labels for every series, in name order and after "i".
  TrackedRequest(int n, int64_t ts, const discovery::InstanceRecord* rec, double value = 1.0,
                 const std::vector<proto::Label>& extra = {}) {
    for (int k = 0; k < n; ++k) values.push_back(std::to_string(k));
    for (int k = 0; k < n; ++k) {
      proto::Series s;
      s.labels_begin = static_cast<uint32_t>(batch.labels.size());
      s.labels_count = static_cast<uint32_t>(2 + extra.size());
      s.samples_begin = static_cast<uint32_t>(batch.samples.size());
      s.samples_count = 1;
      batch.labels.push_back({"__name__", "m"});
      batch.labels.push_back({"i", values[k]});
      batch.labels.insert(batch.labels.end(), extra.begin(), extra.end());
      batch.samples.push_back({value, ts});
      batch.series.push_back(s);
      records.push_back(rec);
    }
    per_sink.resize(1);
    for (uint32_t k = 0; k < batch.series.size(); ++k) {
      const auto labels = batch.labels_of(batch.series[k]);
      per_sink[0].push_back({k, labels, proto::hash_labels(labels), {}});
    }
  }
  void track(SeriesTracker& t, uint32_t sink_id, uint64_t generation, uint32_t now_s) const {
    const std::vector<uint32_t> ids = {sink_id};
    t.track({batch, per_sink, ids, records, generation, now_s});
  }
};

}  // namespace rwgate::staleness
