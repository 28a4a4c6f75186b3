#include "staleness/stale_marker_sender.h"

#include <algorithm>
#include <span>
#include <unordered_map>

#include "base/log.h"
#include "proto/encode.h"
#include "proto/hash.h"
#include "proto/sample_batch.h"

namespace rwgate::staleness {

namespace {

constexpr auto kGoneKept = std::chrono::hours(1);
constexpr auto kRelabeledKept = std::chrono::seconds(30);
constexpr auto kGaugesEvery = std::chrono::seconds(10);
constexpr size_t kMaxPending = 1'000'000;
constexpr size_t kMarkersPerRequest = 2000;

}  // namespace

StaleMarkerSender::StaleMarkerSender(std::vector<SeriesTracker*> trackers,
                                     prometheus::Registry& registry, const Clock& clock)
    : trackers_(std::move(trackers)),
      clock_(clock),
      markers_(prometheus::BuildCounter()
                   .Name("rwgate_staleness_markers_total")
                   .Help("Staleness markers queued to sinks for series of instances that went "
                         "away or whose enrichment labels changed.")
                   .Register(registry)
                   .Add({})),
      markers_dropped_(prometheus::BuildCounter()
                           .Name("rwgate_staleness_markers_dropped_total")
                           .Help("Staleness markers given up: their sink is gone after a reload, "
                                 "or more than 1M were waiting for full queues.")
                           .Register(registry)
                           .Add({})),
      forgotten_(prometheus::BuildCounter()
                     .Name("rwgate_staleness_forgotten_series_total")
                     .Help("Tracked series forgotten after series_idle_timeout without a sample.")
                     .Register(registry)
                     .Add({})),
      collisions_(prometheus::BuildCounter()
                      .Name("rwgate_staleness_hash_collisions_total")
                      .Help("Series not tracked because another series had the same hash.")
                      .Register(registry)
                      .Add({})),
      tracked_series_(prometheus::BuildGauge()
                          .Name("rwgate_staleness_tracked_series")
                          .Help("Series tracked for stale-target cleanup (per sink, all ingest "
                                "threads; a series seen by two threads counts twice).")
                          .Register(registry)
                          .Add({})),
      tracked_instances_(prometheus::BuildGauge()
                             .Name("rwgate_staleness_tracked_instances")
                             .Help("Instances with tracked series (summed over ingest threads).")
                             .Register(registry)
                             .Add({})),
      ending_instances_(prometheus::BuildGauge()
                            .Name("rwgate_staleness_gone_instances")
                            .Help("Instances that went away in the last hour, whose late series "
                                  "are ended (and dropped with drop_late_samples).")
                            .Register(registry)
                            .Add({})),
      last_idle_sweep_(clock_.steady()) {}

StaleMarkerSender::~StaleMarkerSender() { stop(); }

void StaleMarkerSender::configure(std::shared_ptr<discovery::Discovery> discovery,
                                  const StalenessConfig& config,
                                  EnrichmentDiffers enrichment_differs,
                                  std::vector<MarkerSink> sinks) {
  std::lock_guard lock(mu_);
  config_ = config;
  enrichment_differs_ = std::move(enrichment_differs);
  sinks_ = std::move(sinks);
  if (discovery == discovery_) return;
  if (discovery_) discovery_->cache().unsubscribe(subscription_);
  discovery_ = std::move(discovery);
  subscription_ = 0;
  if (discovery_) {
    subscription_ = discovery_->cache().subscribe(
        [this](const std::vector<discovery::ChangeEvent>& events, uint64_t generation) {
          on_events(events, generation);
        });
  }
}

void StaleMarkerSender::on_events(const std::vector<discovery::ChangeEvent>& events,
                                  uint64_t generation) {
  // Under the cache's lock: queue and return.
  std::lock_guard lock(mu_);
  for (const discovery::ChangeEvent& e : events) {
    using K = discovery::ChangeEvent::Kind;
    const discovery::InstanceRecord& rec = e.kind == K::kGone ? e.before : e.after;
    const std::string key = rec.key();
    if (e.kind == K::kGone) {
      if (!e.before.is_gone()) queued_.push_back({Event::Kind::kGone, key, generation});
    } else if (e.kind == K::kAdded) {
      queued_.push_back({rec.is_gone() ? Event::Kind::kGone : Event::Kind::kBack, key, generation});
    } else if (e.after.is_gone() && !e.before.is_gone()) {
      queued_.push_back({Event::Kind::kGone, key, generation});
    } else if (!e.after.is_gone() && e.before.is_gone()) {
      queued_.push_back({Event::Kind::kBack, key, generation});
    } else if (!e.after.is_gone() && enrichment_differs_ &&
               enrichment_differs_(e.before, e.after)) {
      queued_.push_back({Event::Kind::kRelabeled, key, generation});
    }
  }
  if (!queued_.empty()) cv_.notify_one();
}

void StaleMarkerSender::start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
}

void StaleMarkerSender::stop() {
  {
    std::lock_guard lock(mu_);
    if (!thread_.joinable()) return;
    stopping_ = true;
    cv_.notify_one();
  }
  thread_.join();
  sweep();  // what the last events asked for, before the sinks drain
  std::lock_guard lock(mu_);
  if (discovery_) discovery_->cache().unsubscribe(subscription_);
  discovery_.reset();
}

void StaleMarkerSender::run() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, std::chrono::seconds(1), [&] { return stopping_ || !queued_.empty(); });
    if (stopping_) break;
    lock.unlock();
    sweep();
    lock.lock();
  }
}

void StaleMarkerSender::sweep() {
  const Clock::SteadyTime now = clock_.steady();
  std::vector<std::pair<std::string, uint64_t>> to_take;  // instance, before generation
  StalenessConfig config;
  bool idle_sweep = false;
  bool gauges = false;
  std::vector<EndedSeries> ended;
  {
    std::lock_guard lock(mu_);
    for (Event& e : queued_) {
      switch (e.kind) {
        case Event::Kind::kGone:
          gone_[e.instance] = now;
          relabeled_.erase(e.instance);
          log::info("instance gone: ending its series", {{"instance", e.instance}});
          break;
        case Event::Kind::kBack:
          gone_.erase(e.instance);
          break;
        case Event::Kind::kRelabeled:
          relabeled_[e.instance] = {e.generation, now};
          break;
      }
    }
    queued_.clear();
    std::erase_if(gone_, [&](const auto& kv) { return now - kv.second > kGoneKept; });
    std::erase_if(relabeled_,
                  [&](const auto& kv) { return now - kv.second.second > kRelabeledKept; });
    config = config_;
    if (config.on_terminate) {
      for (const auto& [key, since] : gone_) to_take.emplace_back(key, UINT64_MAX);
      for (const auto& [key, gs] : relabeled_) to_take.emplace_back(key, gs.first);
    }
    // Forgetting idle series is a pass over every tracked series (in slices, each under
    // its tracker's lock): a quarter of the idle timeout apart is often enough, and at
    // most a minute.
    const auto forget_every = std::clamp<Clock::SteadyTime::duration>(
        config.series_idle_timeout / 4, std::chrono::seconds(1), std::chrono::seconds(60));
    if (now - last_idle_sweep_ >= forget_every) {
      idle_sweep = true;
      last_idle_sweep_ = now;
    }
    if (now - last_gauges_ >= kGaugesEvery) {
      gauges = true;
      last_gauges_ = now;
    }
    ended = std::move(pending_);
    pending_.clear();
    ending_instances_.Set(static_cast<double>(gone_.size()));
  }
  const std::vector<SeriesTracker*>& trackers = trackers_;
  for (SeriesTracker* t : trackers) {
    for (const auto& [key, before] : to_take) t->take(key, before, ended);
  }
  if (idle_sweep) {
    const auto idle_s =
        std::chrono::duration_cast<std::chrono::seconds>(config.series_idle_timeout);
    const uint32_t now_s = clock_.steady_seconds();
    const uint32_t cutoff =
        now_s > idle_s.count() ? now_s - static_cast<uint32_t>(idle_s.count()) : 0;
    size_t forgotten = 0;
    for (SeriesTracker* t : trackers) forgotten += t->forget_idle(cutoff);
    forgotten_.Increment(static_cast<double>(forgotten));
  }
  if (gauges) {
    size_t series = 0, instances = 0;
    uint64_t collisions = 0;
    for (SeriesTracker* t : trackers) {
      series += t->series();
      instances += t->instances();
      collisions += t->collisions();
    }
    tracked_series_.Set(static_cast<double>(series));
    tracked_instances_.Set(static_cast<double>(instances));
    if (collisions > collisions_seen_) {
      collisions_.Increment(static_cast<double>(collisions - collisions_seen_));
      collisions_seen_ = collisions;
    }
  }
  if (!ended.empty()) send(std::move(ended));
}

namespace {

// A series two trackers held (a sender that reconnected to another worker) is ended once,
// after the later of its timestamps.
std::vector<EndedSeries> unique_series(std::vector<EndedSeries> ended) {
  // sink id + tenant + labels -> index in `unique`
  std::unordered_map<std::string, size_t> first;
  std::vector<EndedSeries> unique;
  for (EndedSeries& e : ended) {
    std::string id(reinterpret_cast<const char*>(&e.sink_id), sizeof e.sink_id);
    id.append(reinterpret_cast<const char*>(&e.tenant), sizeof e.tenant);
    id += e.labels;
    auto [it, added] = first.emplace(std::move(id), unique.size());
    if (added) {
      unique.push_back(std::move(e));
    } else if (e.last_timestamp_ms > unique[it->second].last_timestamp_ms) {
      unique[it->second].last_timestamp_ms = e.last_timestamp_ms;
    }
  }
  return unique;
}

// One request of markers: a series per ended series, one staleness NaN each, 1 ms after its
// last sample. The labels are views into `series`' strings, which outlive the enqueue.
struct MarkerBatch : proto::OneSampleBatch {
  std::vector<EndedSeries*> included;  // by marker series
  uint64_t unreadable = 0;             // cannot happen: the tracker wrote the labels

  explicit MarkerBatch(std::span<EndedSeries* const> series) {
    std::vector<proto::Label> decoded;
    for (EndedSeries* e : series) {
      if (!proto::read_labels_v1(e->labels, decoded)) {
        ++unreadable;
        continue;
      }
      // With the tenant: a sink with tenants sends it to that tenant's store.
      add(decoded, proto::stale_nan(), e->last_timestamp_ms + 1, e->tenant, e->labels);
      included.push_back(e);
    }
    finish();
  }
};

}  // namespace

void StaleMarkerSender::send(std::vector<EndedSeries> ended) {
  std::vector<EndedSeries> unique = unique_series(std::move(ended));
  std::vector<MarkerSink> sinks;
  {
    std::lock_guard lock(mu_);
    sinks = sinks_;
  }
  std::map<uint32_t, std::vector<EndedSeries*>> by_sink;
  for (EndedSeries& e : unique) by_sink[e.sink_id].push_back(&e);
  // A tenant's markers together: a sink with tenants takes each tenant's run as one.
  for (auto& [id, series] : by_sink) {
    std::stable_sort(series.begin(), series.end(), [](const EndedSeries* a, const EndedSeries* b) {
      return a->tenant < b->tenant;
    });
  }
  std::vector<EndedSeries> retry;  // a full queue did not take them
  uint64_t sent = 0, dropped = 0;
  for (const auto& [sink_id, series] : by_sink) {
    sinks::Sink* sink = nullptr;
    for (const MarkerSink& s : sinks) {
      if (s.id == sink_id) sink = s.sink.get();
    }
    if (sink == nullptr) {  // removed by a reload
      dropped += series.size();
      continue;
    }
    for (size_t from = 0; from < series.size(); from += kMarkersPerRequest) {
      const size_t n = std::min(series.size() - from, kMarkersPerRequest);
      const MarkerBatch m(std::span<EndedSeries* const>(series).subspan(from, n));
      dropped += m.unreadable;
      if (!sink->try_reserve(m.batch, m.outs, m.bytes) ||
          !sink->enqueue(m.batch, m.outs, m.bytes)) {
        for (EndedSeries* e : m.included) retry.push_back(std::move(*e));
        continue;
      }
      sent += m.outs.size();
    }
  }
  markers_.Increment(static_cast<double>(sent));
  {
    std::lock_guard lock(mu_);
    for (EndedSeries& e : retry) {
      if (pending_.size() >= kMaxPending) {
        ++dropped;
        continue;
      }
      pending_.push_back(std::move(e));
    }
  }
  if (dropped > 0) markers_dropped_.Increment(static_cast<double>(dropped));
}

}  // namespace rwgate::staleness
