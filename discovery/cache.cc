#include "discovery/cache.h"

#include <algorithm>
#include <set>

namespace rwgate::discovery {

DiscoveryCache::DiscoveryCache(std::chrono::milliseconds missing_after, const Clock& clock,
                               std::shared_ptr<InstanceActivities> activities)
    : missing_after_(missing_after),
      clock_(clock),
      activities_(activities != nullptr ? std::move(activities)
                                        : std::make_shared<InstanceActivities>()) {
  snapshot_.store(std::make_shared<const DiscoverySnapshot>(0, std::vector<InstanceRecord>{}));
}

void DiscoveryCache::replace_source(const std::string& source,
                                    const std::vector<InstanceRecord>& records) {
  std::lock_guard lock(mu_);
  const auto wall = clock_.wall();
  const auto now = clock_.steady();
  last_report_[source] = wall;
  failures_.erase(source);
  auto& mine = by_source_[source];
  // One target group may list an instance under several hosts (or twice): merge them.
  std::map<std::string, InstanceRecord> incoming;
  for (const InstanceRecord& r : records) {
    const std::string key = r.key();
    if (key.empty()) continue;
    auto [it, added] = incoming.emplace(key, r);
    if (!added) it->second.merge_from(r);
  }
  for (auto& [key, rep] : mine) {
    if (!incoming.contains(key) && rep.listed) {
      rep.listed = false;
      rep.dropped_at = now;
    }
  }
  for (const auto& [key, r] : incoming) {
    InstanceRecord rec = r;
    rec.source = source;
    auto it = mine.find(key);
    if (it == mine.end()) {
      rec.last_reported = wall;
      mine.emplace(key, Reported{std::move(rec), now, true, {}, false});
      continue;
    }
    Reported& rep = it->second;
    rec.last_reported = wall;
    InstanceRecord comparable = rep.record;
    comparable.last_reported = wall;
    if (!(comparable == rec)) rep.changed_at = now;  // unchanged lists keep their old rank
    rep.record = std::move(rec);
    rep.listed = true;
  }
  rebuild();
}

void DiscoveryCache::replace_load_balancers(const std::string& source,
                                            std::vector<LoadBalancerRecord> lbs) {
  std::lock_guard lock(mu_);
  for (LoadBalancerRecord& lb : lbs) lb.source = source;
  auto& mine = load_balancers_[source];
  if (mine == lbs) return;
  mine = std::move(lbs);
  rebuild(/*force=*/true);
}

void DiscoveryCache::upsert(const std::string& source, const InstanceRecord& record, bool event) {
  const std::string key = record.key();
  if (key.empty()) return;
  std::lock_guard lock(mu_);
  const auto wall = clock_.wall();
  const auto now = clock_.steady();
  last_report_[source] = wall;
  auto& mine = by_source_[source];
  InstanceRecord rec = record;
  rec.source = source;
  rec.last_reported = wall;
  auto it = mine.find(key);
  if (it == mine.end()) {
    mine.emplace(key, Reported{std::move(rec), now, true, {}, event});
  } else {
    it->second.record.merge_from(rec);
    it->second.changed_at = now;
    it->second.listed = true;
    it->second.event = event;
  }
  rebuild();
}

void DiscoveryCache::remove(const std::string& source, const std::string& key) {
  std::lock_guard lock(mu_);
  auto sit = by_source_.find(source);
  if (sit == by_source_.end()) return;
  auto it = sit->second.find(key);
  if (it == sit->second.end() || !it->second.listed) return;
  it->second.listed = false;
  it->second.dropped_at = clock_.steady();
  rebuild();
}

void DiscoveryCache::expire() {
  std::lock_guard lock(mu_);
  const auto cutoff = clock_.steady() - missing_after_;
  // Keys some list-keeping source (not an event source) lists right now.
  std::set<std::string> listed;
  for (const auto& [source, mine] : by_source_) {
    for (const auto& [key, rep] : mine) {
      if (rep.listed && !rep.event) listed.insert(key);
    }
  }
  bool any = false;
  for (auto& [source, mine] : by_source_) {
    any |= std::erase_if(mine, [&](const auto& kv) {
             const Reported& rep = kv.second;
             if (!rep.listed) return rep.dropped_at <= cutoff;
             // An event (EventBridge) only says something about an instance at one moment:
             // it lives while another source lists the instance, or for missing_after.
             if (rep.event) return !listed.contains(kv.first) && rep.changed_at <= cutoff;
             return false;
           }) > 0;
  }
  const auto gone_cutoff = clock_.steady() - kGoneRetention;
  const bool pruned =
      std::erase_if(gone_, [&](const auto& kv) { return kv.second.at <= gone_cutoff; }) > 0;
  if (any || pruned) rebuild(pruned);
}

void DiscoveryCache::rebuild(bool force) {
  // Overlay every source's record of an instance in order of change time.
  std::map<std::string, std::vector<const Reported*>> reports;
  for (const auto& [source, mine] : by_source_) {
    for (const auto& [key, rep] : mine) reports[key].push_back(&rep);
  }
  std::map<std::string, InstanceRecord> merged;
  for (auto& [key, reps] : reports) {
    std::stable_sort(reps.begin(), reps.end(), [](const Reported* a, const Reported* b) {
      return a->changed_at < b->changed_at;
    });
    InstanceRecord m;
    for (const Reported* r : reps) m.merge_from(r->record);
    merged.emplace(key, std::move(m));
  }
  std::vector<ChangeEvent> events;
  for (const auto& [key, rec] : merged) {
    auto it = merged_.find(key);
    if (it == merged_.end()) {
      events.push_back({ChangeEvent::Kind::kAdded, {}, rec});
    } else {
      InstanceRecord a = it->second, b = rec;
      a.last_reported = b.last_reported = {};
      a.source = b.source = {};
      if (!(a == b)) events.push_back({ChangeEvent::Kind::kChanged, it->second, rec});
    }
  }
  const auto now = clock_.steady();
  for (const auto& [key, rec] : merged_) {
    if (merged.contains(key)) continue;
    events.push_back({ChangeEvent::Kind::kGone, rec, {}});
    gone_[key] = Gone{rec, now};
  }
  for (const auto& [key, rec] : merged) gone_.erase(key);  // back again
  while (gone_.size() > kMaxGone) {
    auto oldest = std::min_element(gone_.begin(), gone_.end(), [](const auto& a, const auto& b) {
      return a.second.at < b.second.at;
    });
    gone_.erase(oldest);
  }
  merged_ = std::move(merged);
  if (events.empty() && !force) return;
  std::vector<InstanceRecord> records;
  std::vector<std::string> keys;
  records.reserve(merged_.size());
  keys.reserve(merged_.size());
  for (const auto& [key, rec] : merged_) {
    records.push_back(rec);
    keys.push_back(key);
  }
  std::vector<std::shared_ptr<InstanceActivity>> activity = activities_->bind(
      keys,
      std::chrono::duration_cast<std::chrono::seconds>(clock_.wall().time_since_epoch()).count());
  std::vector<InstanceRecord> gone;
  gone.reserve(gone_.size());
  for (const auto& [key, g] : gone_) gone.push_back(g.record);
  std::vector<LoadBalancerRecord> lbs;
  for (const auto& [source, list] : load_balancers_)
    lbs.insert(lbs.end(), list.begin(), list.end());
  snapshot_.store(std::make_shared<const DiscoverySnapshot>(
      ++generation_, std::move(records), std::move(gone), std::move(lbs), std::move(activity)));
  for (const auto& [id, listener] : listeners_) listener(events, generation_);
}

uint64_t DiscoveryCache::subscribe(Listener listener) {
  std::lock_guard lock(mu_);
  listeners_.emplace(next_listener_, std::move(listener));
  return next_listener_++;
}

void DiscoveryCache::unsubscribe(uint64_t id) {
  std::lock_guard lock(mu_);
  listeners_.erase(id);
}

void DiscoveryCache::source_failed(const std::string& source, std::string error) {
  std::lock_guard lock(mu_);
  failures_[source] = SourceFailure{std::move(error), clock_.wall()};
}

std::map<std::string, DiscoveryCache::SourceFailure> DiscoveryCache::failures_per_source() const {
  std::lock_guard lock(mu_);
  return failures_;
}

std::map<std::string, Clock::WallTime> DiscoveryCache::last_report_per_source() const {
  std::lock_guard lock(mu_);
  return last_report_;
}

std::map<std::string, size_t> DiscoveryCache::listed_per_source() const {
  std::lock_guard lock(mu_);
  std::map<std::string, size_t> out;
  for (const auto& [source, mine] : by_source_) {
    out[source] = static_cast<size_t>(
        std::count_if(mine.begin(), mine.end(), [](const auto& kv) { return kv.second.listed; }));
  }
  return out;
}

}  // namespace rwgate::discovery
