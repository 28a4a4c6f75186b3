// The load-balancer stage of the label pipeline: is this series' target flagged, and what
// is done with it?
//
// A target is flagged when its `instance` host is a load balancer discovery listed (that
// says more, the groups behind it, so it comes first), matches a name pattern, or has a
// confirmed behaviour verdict. The answer depends on the target only, so it is memoized
// per (job, instance) for as long as the config, the verdicts and the discovery snapshot's
// load balancers stay the same; the previous series' answer is tried first, since a
// request carries a target's series one after another. One per ingest worker, no locks.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

#include "discovery/instance.h"
#include "lb/detector.h"
#include "proto/batch.h"

namespace rwgate::lb {

struct LbHit {
  bool flagged = false;
  int16_t name_pattern = -1;  // as LbFlag::name_pattern
  LbAction action = LbAction::kPass;
};

class TargetCheck {
 public:
  // Once per request, before check(): what the answers depend on. `discovery` and
  // `verdicts` may be null, and must stay valid until the request is done.
  void begin_request(uint64_t config_generation, const LbVerdicts* verdicts,
                     const discovery::DiscoverySnapshot* discovery);
  // The verdict for the target of `labels` (a series' input labels, sorted by name).
  LbHit check(const LbRules& rules, std::span<const proto::Label> labels);

 private:
  struct Memo {
    std::string key;  // target_key(job, instance), compared on every hit
    bool confirmed = false;
    int16_t name_pattern = -1;
  };
  // What the memo is valid for; a change of any part clears it.
  struct Validity {
    uint64_t config = UINT64_MAX;
    uint64_t verdicts = 0;
    uint64_t discovery = 0;
    bool operator==(const Validity&) const = default;
  };
  const Memo& memo_for(const LbRules& rules, std::string_view job, std::string_view instance);

  std::unordered_map<uint64_t, Memo> memo_;
  Validity validity_;
  const LbVerdicts* verdicts_ = nullptr;                     // for the request in progress
  const discovery::DiscoverySnapshot* discovery_ = nullptr;  // its LB names, likewise
  // The last target looked up in this request (views into its batch) and its answer.
  bool last_valid_ = false;
  std::string_view last_job_, last_instance_;
  LbHit last_;
};

}  // namespace rwgate::lb
