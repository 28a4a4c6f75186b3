// Helpers for the codec tests: RW 1.0 requests written by libprotobuf, and label spans as
// vectors to compare.
#pragma once

#include <span>
#include <string>
#include <utility>
#include <vector>

#include "prometheus/remote.pb.h"
#include "proto/batch.h"

namespace rwgate::proto::testing {

// A WriteRequest of one series with `labels` in the order given and one sample of 1.
inline std::string v1_request(const std::vector<std::pair<std::string, std::string>>& labels) {
  prometheus::WriteRequest req;
  auto* ts = req.add_timeseries();
  for (const auto& [k, v] : labels) {
    auto* l = ts->add_labels();
    l->set_name(k);
    l->set_value(v);
  }
  ts->add_samples()->set_value(1);
  return req.SerializeAsString();
}

inline std::vector<Label> span_vec(std::span<const Label> s) { return {s.begin(), s.end()}; }

}  // namespace rwgate::proto::testing
