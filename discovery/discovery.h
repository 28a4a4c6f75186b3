// Builds the configured discovery sources (one explicit factory list) and runs the
// cache's missing_after expiry.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "discovery/cache.h"
#include "discovery/config.h"
#include "discovery/sources/aws_source.h"
#include "discovery/sources/http_source.h"
#include "discovery/sources/source.h"

namespace rwgate::discovery {

// The cache, its sources and the expiry loop, for one configuration.
class Discovery {
 public:
  // `activities`: the instances' activity, kept across Discovery objects (null: its own).
  Discovery(const DiscoveryConfig& config, SourceMetricFamilies& metrics,
            std::shared_ptr<InstanceActivities> activities = nullptr);
  ~Discovery();
  void start();
  void stop();
  DiscoveryCache& cache() { return cache_; }
  const DiscoveryCache& cache() const { return cache_; }
  // Every source that reports full lists (file, http, aws) has listed at least once:
  // until then the cache is not yet the fleet, and /api/v1/sd answers 503 so that
  // Prometheus keeps the targets it has.
  bool listed_once() const;

 private:
  DiscoveryCache cache_;
  std::vector<std::unique_ptr<DiscoverySource>> sources_;
  std::vector<std::string> listing_sources_;  // names of the full-list sources
  std::mutex mu_;                             // guards stopping_
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread expiry_;
};

}  // namespace rwgate::discovery
