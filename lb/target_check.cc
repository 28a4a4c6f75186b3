#include "lb/target_check.h"

#include "base/net.h"
#include "lb/evidence.h"
#include "proto/hash.h"

namespace rwgate::lb {

namespace {
constexpr size_t kMaxMemo = 65536;  // targets; when full the memo restarts
}

void TargetCheck::begin_request(uint64_t config_generation, const LbVerdicts* verdicts,
                                const discovery::DiscoverySnapshot* discovery) {
  verdicts_ = verdicts;
  discovery_ = discovery != nullptr && discovery->has_load_balancers() ? discovery : nullptr;
  last_valid_ = false;  // its views point into the previous request
  const Validity now{config_generation, verdicts != nullptr ? verdicts->generation : 0,
                     discovery_ != nullptr ? discovery_->generation() : 0};
  if (now != validity_) {
    memo_.clear();
    validity_ = now;
  }
}

const TargetCheck::Memo& TargetCheck::memo_for(const LbRules& rules, std::string_view job,
                                               std::string_view instance) {
  const uint64_t h = proto::hash_bytes(proto::hash_bytes(0x9e3779b97f4a7c15ULL, job), instance);
  if (auto it = memo_.find(h); it != memo_.end()) {
    const std::string& k = it->second.key;
    if (k.size() == job.size() + 1 + instance.size() && k.compare(0, job.size(), job) == 0 &&
        k.compare(job.size() + 1, instance.size(), instance) == 0) {
      return it->second;
    }
  }
  Memo fresh;
  fresh.key = target_key(job, instance);
  if (discovery_ != nullptr && discovery_->load_balancer(net::host_of(instance)) != nullptr) {
    fresh.name_pattern = kLbDiscovered;
  } else if (rules.names != nullptr) {
    fresh.name_pattern = static_cast<int16_t>(rules.names->match(instance));
  }
  fresh.confirmed = verdicts_ != nullptr && verdicts_->confirmed.contains(fresh.key);
  if (memo_.size() >= kMaxMemo) memo_.clear();  // bounded; refills from the next series
  return memo_.insert_or_assign(h, std::move(fresh)).first->second;
}

LbHit TargetCheck::check(const LbRules& rules, std::span<const proto::Label> labels) {
  LbHit hit;
  if (!rules.enabled) return hit;
  const std::string_view instance = proto::label_value(labels, "instance");
  if (instance.empty()) return hit;
  const std::string_view job = proto::label_value(labels, "job");
  if (last_valid_ && instance == last_instance_ && job == last_job_) return last_;
  const Memo& memo = memo_for(rules, job, instance);
  hit.flagged = memo.confirmed || memo.name_pattern != kLbByBehaviour;
  hit.name_pattern = memo.name_pattern;
  if (hit.flagged) hit.action = rules.action_for(job);
  last_valid_ = true;
  last_job_ = job;
  last_instance_ = instance;
  last_ = hit;
  return hit;
}

}  // namespace rwgate::lb
