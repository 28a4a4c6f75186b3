#include "lb/detector.h"

#include <re2/re2.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>

#include "base/net.h"
#include "discovery/instance.h"
#include "proto/batch.h"
#include "proto/hash.h"

namespace rwgate::lb {

namespace {

struct BuiltIn {
  const char* pattern;
  const char* description;
};

// Lower-cased host names. Region labels look like us-east-1, us-gov-west-1, cn-north-1.
constexpr BuiltIn kBuiltIn[] = {
    // name-1234567890.us-east-1.elb.amazonaws.com, internal-…, dualstack.…, and the old
    // region-less form; China: ….cn-north-1.elb.amazonaws.com.cn
    {R"((dualstack\.)?[a-z0-9-]+(\.[a-z0-9-]+)?\.elb\.amazonaws\.com(\.cn)?)",
     "the AWS Classic or Application Load Balancer DNS name pattern (*.elb.amazonaws.com)"},
    // name-0123456789abcdef.elb.us-east-1.amazonaws.com (NLB, GWLB)
    {R"((dualstack\.)?[a-z0-9-]+\.elb\.[a-z0-9-]+\.amazonaws\.com(\.cn)?)",
     "the AWS Network or Gateway Load Balancer DNS name pattern "
     "(*.elb.<region>.amazonaws.com)"},
    {R"([a-z0-9-]+(\.[a-z0-9-]+)*\.cloudapp\.azure\.com)",
     "the Azure load balancer DNS name pattern (*.cloudapp.azure.com)"},
};

std::string lower_host(std::string_view instance) {
  return net::canonical_dns_name(net::host_of(instance));
}

bool is_region(std::string_view s) {
  static const RE2 kRegion(R"([a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d+)");
  return RE2::FullMatch(s, kRegion);
}

struct WindowStats {
  size_t distinct = 0;
  size_t switches = 0;
  size_t back = 0;       // identity: back-switches
  size_t decreases = 0;  // counter
};

WindowStats window_stats(const double* v, size_t n) {
  WindowStats w;
  for (size_t i = 0; i < n; ++i) {
    bool seen = false;
    for (size_t j = 0; j < i; ++j) seen = seen || v[j] == v[i];
    if (!seen) ++w.distinct;
    if (i == 0) continue;
    if (v[i] < v[i - 1]) ++w.decreases;
    if (v[i] == v[i - 1]) continue;
    ++w.switches;
    bool earlier = v[i] < v[i - 1];
    for (size_t j = 0; j + 1 < i && !earlier; ++j) earlier = v[j] == v[i];
    if (earlier) ++w.back;
  }
  return w;
}

}  // namespace

void collect_lb_observations(const LbRules& rules, const proto::Batch& batch,
                             std::vector<LbObservation>& out) {
  if (!rules.enabled) return;
  for (const proto::Series& series : batch.series) {
    const auto labels = batch.labels_of(series);
    const std::string_view name = proto::label_value(labels, "__name__");
    bool identity = false;
    const std::string* metric = nullptr;
    for (const std::string& m : rules.identity_metrics) {
      if (m == name) {
        metric = &m;
        identity = true;
      }
    }
    for (const std::string& m : rules.counter_metrics) {
      if (metric == nullptr && m == name) metric = &m;
    }
    if (metric == nullptr) continue;
    const std::string_view instance = proto::label_value(labels, "instance");
    if (instance.empty()) continue;
    const std::string_view job = proto::label_value(labels, "job");
    const uint64_t hash = proto::hash_labels(labels);
    for (const proto::Sample& s : batch.samples_of(series)) {
      out.push_back(LbObservation{job, instance, hash, *metric, identity, s.value, s.timestamp});
    }
  }
}

const char* lb_action_name(LbAction a) {
  switch (a) {
    case LbAction::kAnnotate:
      return "annotate";
    case LbAction::kDrop:
      return "drop";
    case LbAction::kPass:
      return "pass";
  }
  return "pass";
}

std::string target_key(std::string_view job, std::string_view instance) {
  std::string key;
  key.reserve(job.size() + 1 + instance.size());
  key.append(job);
  key.push_back('\xff');
  key.append(instance);
  return key;
}

std::shared_ptr<const LbNamePatterns> LbNamePatterns::build(const std::vector<std::string>& extra,
                                                            std::string& error) {
  std::shared_ptr<LbNamePatterns> p(new LbNamePatterns());
  auto add = [&](const std::string& pattern, std::string description) {
    std::string why;
    if (p->set_.Add(pattern, &why) < 0) {
      error = "invalid regex \"" + pattern + "\": " + why;
      return false;
    }
    p->descriptions_.push_back(std::move(description));
    return true;
  };
  for (const BuiltIn& b : kBuiltIn) {
    if (!add(b.pattern, b.description)) return nullptr;
  }
  for (const std::string& e : extra) {
    if (!add(e, "the host_patterns entry \"" + e + "\"")) return nullptr;
  }
  if (!p->set_.Compile()) {
    error = "the host patterns do not fit in memory";
    return nullptr;
  }
  return p;
}

int LbNamePatterns::match(std::string_view instance) const {
  const std::string host = lower_host(instance);
  if (host.empty()) return -1;
  std::vector<int> hits;
  if (!set_.Match(host, &hits) || hits.empty()) return -1;
  return *std::min_element(hits.begin(), hits.end());
}

std::string LbNamePatterns::aws_region_of(std::string_view instance) {
  const std::string host = lower_host(instance);
  std::string_view h = host;
  if (h.ends_with(".cn")) h.remove_suffix(3);
  if (!h.ends_with(".amazonaws.com")) return "";
  h.remove_suffix(std::string_view(".amazonaws.com").size());
  // NLB: ….elb.<region>; Classic/ALB: ….<region>.elb
  if (const size_t at = h.rfind(".elb."); at != std::string_view::npos) {
    const std::string_view r = h.substr(at + 5);
    if (is_region(r)) return std::string(r);
  }
  if (h.ends_with(".elb")) {
    h.remove_suffix(4);
    const size_t dot = h.rfind('.');
    if (dot != std::string_view::npos && is_region(h.substr(dot + 1)))
      return std::string(h.substr(dot + 1));
    if (dot == std::string_view::npos) return "";
  }
  return "";
}

LbDetector::LbDetector(const Clock& clock) : clock_(clock) {
  verdicts_.store(std::make_shared<const LbVerdicts>());
}

LbDetector::Target& LbDetector::target(std::string_view job, std::string_view instance,
                                       int64_t now) {
  std::string key = target_key(job, instance);
  if (auto it = targets_.find(key); it != targets_.end()) return it->second;
  if (targets_.size() >= kMaxTargets) {
    // The least recently seen target makes room, an unflagged one if there is any.
    auto victim = targets_.end();
    for (auto it = targets_.begin(); it != targets_.end(); ++it) {
      const bool flagged = it->second.confirmed || !it->second.name_reason.empty();
      const bool victim_flagged = victim != targets_.end() &&
                                  (victim->second.confirmed || !victim->second.name_reason.empty());
      if (victim == targets_.end() || (victim_flagged && !flagged) ||
          (victim_flagged == flagged && it->second.last_seen_ms < victim->second.last_seen_ms)) {
        victim = it;
      }
    }
    if (victim->second.confirmed) verdicts_changed_ = true;
    targets_.erase(victim);
  }
  Target& t = targets_[std::move(key)];
  t.job = std::string(job);
  t.instance = std::string(instance);
  t.first_seen_ms = now;
  return t;
}

bool LbDetector::judge(Target& t) const {
  const bool was_confirmed = t.confirmed;
  WindowStats worst_identity;
  const Watch* worst_watch = nullptr;
  size_t most_decreases = 0;
  const Watch* counter_watch = nullptr;
  bool settled = false;    // an identity window is full and has no switch
  bool unsettled = false;  // an identity window shows a switch
  for (const Watch& w : t.watches) {
    const WindowStats s = window_stats(w.values, w.count);
    if (w.identity) {
      if (worst_watch == nullptr || s.back > worst_identity.back ||
          (s.back == worst_identity.back && s.switches > worst_identity.switches)) {
        worst_identity = s;
        worst_watch = &w;
      }
      if (s.switches > 0) unsettled = true;
      if (w.count == kWindow && s.switches == 0) settled = true;
    } else if (counter_watch == nullptr || s.decreases > most_decreases) {
      most_decreases = s.decreases;
      counter_watch = &w;
    }
  }
  const size_t back = worst_identity.back;
  const bool confirmed_now = back >= 2 || (back >= 1 && most_decreases >= 2);
  // With identity data a counter only supports: its decreases may be restarts, which the
  // identity series shows as forward switches. Without it, decreases can only raise suspicion.
  const bool suspected_now = back >= 1 || (worst_watch == nullptr && most_decreases >= 3);
  if (confirmed_now) {
    t.confirmed = true;
  } else if (t.confirmed && settled && !unsettled) {
    t.confirmed = false;
  }
  t.suspected = !t.confirmed && suspected_now;
  t.reason.clear();
  t.counter_note.clear();
  if (worst_watch != nullptr && worst_identity.switches > 0) {
    t.reason = worst_watch->metric + ": " + std::to_string(worst_identity.distinct) +
               " distinct values in the last " + std::to_string(worst_watch->count) + " scrapes, " +
               std::to_string(worst_identity.switches) + " switches, " + std::to_string(back) +
               " back to an earlier value";
  }
  if (counter_watch != nullptr && most_decreases > 0) {
    t.counter_note =
        counter_watch->metric + " went down " +
        (most_decreases == 1 ? std::string("once") : std::to_string(most_decreases) + " times") +
        " in the last " + std::to_string(counter_watch->count) + " scrapes";
  }
  return t.confirmed != was_confirmed;
}

void LbDetector::expire(int64_t now) {
  if (now - last_expiry_ms_ < 10000) return;
  last_expiry_ms_ = now;
  const int64_t limit = std::chrono::milliseconds(kForgetAfter).count();
  std::erase_if(targets_, [&](const auto& kv) {
    if (now - kv.second.last_seen_ms <= limit) return false;
    if (kv.second.confirmed) verdicts_changed_ = true;
    return true;
  });
}

void LbDetector::observe(std::span<const LbObservation> observations,
                         std::span<const LbFlaggedSeries> flagged) {
  if (observations.empty() && flagged.empty()) return;
  const int64_t now = clock_.wall_ms();
  std::lock_guard lock(mu_);
  for (const LbObservation& o : observations) {
    if (std::isnan(o.value)) {
      // A staleness marker says nothing of the values; it says the scrape has ended.
      if (std::bit_cast<uint64_t>(o.value) == proto::kStaleNaNBits) {
        auto it = targets_.find(target_key(o.job, o.instance));
        if (it != targets_.end()) it->second.ended = true;
      }
      continue;
    }
    Target& t = target(o.job, o.instance, now);
    t.last_seen_ms = now;
    t.ended = false;
    Watch* w = nullptr;
    for (Watch& cand : t.watches) {
      if (cand.series_hash == o.series_hash && cand.metric == o.metric) w = &cand;
    }
    if (w == nullptr) {
      if (t.watches.size() >= kMaxWatchesPerTarget) continue;
      t.watches.push_back(Watch{});
      w = &t.watches.back();
      w->series_hash = o.series_hash;
      w->metric = std::string(o.metric);
      w->identity = o.identity;
    }
    if (o.timestamp_ms <= w->last_ts) continue;
    w->last_ts = o.timestamp_ms;
    if (w->count == kWindow) {
      std::memmove(w->values, w->values + 1, (kWindow - 1) * sizeof(double));
      --w->count;
    }
    w->values[w->count++] = o.value;
    if (judge(t)) verdicts_changed_ = true;
  }
  for (const LbFlaggedSeries& f : flagged) {
    Target& t = target(f.job, f.instance, now);
    t.last_seen_ms = now;
    if (!f.name_reason.empty() && t.name_reason.empty()) t.name_reason = std::string(f.name_reason);
    if (!f.asg.empty()) t.asg = std::string(f.asg);
    if (t.series.size() < kMaxSeriesPerTarget) t.series.insert(f.series_hash);
  }
  expire(now);

  // Publish when the set of confirmed targets changed (rare: one pass over the targets).
  if (!verdicts_changed_) return;
  verdicts_changed_ = false;
  auto next = std::make_shared<LbVerdicts>();
  next->generation = next_generation_++;
  for (const auto& [key, t] : targets_) {
    if (t.confirmed) next->confirmed.insert(key);
  }
  verdicts_.store(std::move(next));
}

std::vector<LbTargetReport> LbDetector::report() const {
  std::vector<LbTargetReport> out;
  std::lock_guard lock(mu_);
  for (const auto& [key, t] : targets_) {
    const bool by_name = !t.name_reason.empty();
    if (t.ended || (!by_name && !t.confirmed && !t.suspected)) continue;
    LbTargetReport r;
    r.job = t.job;
    r.instance = t.instance;
    r.verdict = by_name || t.confirmed ? "confirmed" : "suspected";
    r.evidence = by_name ? "name" : "behaviour";
    if (by_name) {
      r.reasons.push_back("host " + std::string(net::host_of(t.instance)) + " matches " +
                          t.name_reason);
    }
    if (!t.reason.empty()) r.reasons.push_back(t.reason);
    if (!t.counter_note.empty()) r.reasons.push_back(t.counter_note);
    r.first_seen_ms = t.first_seen_ms;
    r.last_seen_ms = t.last_seen_ms;
    r.series = t.series.size();
    r.asg = t.asg;
    out.push_back(std::move(r));
  }
  std::sort(out.begin(), out.end(), [](const LbTargetReport& a, const LbTargetReport& b) {
    return std::tie(a.job, a.instance) < std::tie(b.job, b.instance);
  });
  return out;
}

}  // namespace rwgate::lb
