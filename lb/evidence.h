// What one request tells the detector: the samples of its identity and counter metrics,
// and the series of targets the pipeline flagged, each with why it was flagged.
//
// The label pipeline records a LbFlag per flagged series as it runs; after the request
// was accepted, ingest turns them (with the batch and the discovery snapshot) into
// LbFlaggedSeries here and hands everything to LbDetector::observe() under one lock.
// Owned by an ingest worker and reused across its requests.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "discovery/instance.h"
#include "lb/detector.h"
#include "proto/batch.h"

namespace rwgate::lb {

// LbFlag::name_pattern of a host that is a load balancer the discovery listed.
inline constexpr int16_t kLbDiscovered = -2;
// LbFlag::name_pattern of a target flagged by behaviour only.
inline constexpr int16_t kLbByBehaviour = -1;

// A series of a flagged target: what the load-balancer stage did with it.
struct LbFlag {
  uint32_t index;  // into Batch::series
  // >= 0: flagged by name (LbNamePatterns); kLbDiscovered: its host is a load balancer
  // discovery listed; kLbByBehaviour: by behaviour.
  int16_t name_pattern;
  LbAction action;  // annotate, drop or pass
};

class LbEvidence {
 public:
  // Gathers the request's evidence; the views point into `batch` and into this object.
  void collect(const LbRules& rules, const proto::Batch& batch,
               const discovery::DiscoverySnapshot* fleet, std::span<const LbFlag> flagged);

  std::span<const LbObservation> observations() const { return observations_; }
  std::span<const LbFlaggedSeries> flagged() const { return flagged_; }
  // Flagged series by action (annotated, dropped, passed), indexed by LbAction.
  const uint64_t* by_action() const { return by_action_; }

 private:
  std::vector<LbObservation> observations_;
  std::vector<LbFlaggedSeries> flagged_;
  std::vector<std::string> reasons_;  // for load balancers discovery listed
  uint64_t by_action_[3] = {0, 0, 0};
};

}  // namespace rwgate::lb
