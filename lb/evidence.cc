#include "lb/evidence.h"

#include "base/net.h"
#include "proto/hash.h"

namespace rwgate::lb {

void LbEvidence::collect(const LbRules& rules, const proto::Batch& batch,
                         const discovery::DiscoverySnapshot* fleet,
                         std::span<const LbFlag> flagged) {
  observations_.clear();
  flagged_.clear();
  reasons_.clear();
  by_action_[0] = by_action_[1] = by_action_[2] = 0;
  collect_lb_observations(rules, batch, observations_);
  reasons_.reserve(flagged.size());  // views into it are taken as it fills
  for (const LbFlag& f : flagged) {
    ++by_action_[static_cast<size_t>(f.action)];
    const auto labels = batch.labels_of(batch.series[f.index]);
    const std::string_view instance = proto::label_value(labels, "instance");
    std::string_view reason, asg;
    if (f.name_pattern >= 0) {
      reason = rules.names->description(f.name_pattern);
    } else if (f.name_pattern == kLbDiscovered && fleet != nullptr) {
      if (const auto* lb = fleet->load_balancer(net::host_of(instance))) {
        reasons_.push_back("the DNS name of " + (lb->type.empty() ? "" : lb->type + " ") +
                           "load balancer " + lb->name + ", which discovery source " + lb->source +
                           " lists");
        reason = reasons_.back();
        if (!lb->asgs.empty()) asg = lb->asgs.front();
      }
    }
    flagged_.push_back(LbFlaggedSeries{proto::label_value(labels, "job"), instance,
                                       proto::hash_labels(labels), reason, asg});
  }
}

}  // namespace rwgate::lb
