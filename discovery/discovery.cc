#include "discovery/discovery.h"

#include "discovery/sources/grpc_source.h"

namespace rwgate::discovery {

Discovery::Discovery(const DiscoveryConfig& config, SourceMetricFamilies& metrics,
                     std::shared_ptr<InstanceActivities> activities)
    : cache_(config.missing_after, Clock::system(), std::move(activities)) {
  // The factory list: one entry per source type.
  for (size_t i = 0; i < config.file.size(); ++i) {
    sources_.push_back(
        std::make_unique<FileSource>("file[" + std::to_string(i) + "]", config.file[i].files,
                                     config.file[i].refresh_interval, cache_, metrics));
  }
  for (size_t i = 0; i < config.http.size(); ++i) {
    sources_.push_back(std::make_unique<HttpSource>("http[" + std::to_string(i) + "]",
                                                    config.http[i], cache_, metrics));
  }
  for (size_t i = 0; i < config.aws.size(); ++i) {
    sources_.push_back(std::make_unique<AwsSource>("aws[" + std::to_string(i) + "]", config.aws[i],
                                                   cache_, metrics));
  }
  for (const auto& source : sources_) listing_sources_.push_back(source->name());
  if (!config.grpc_listen_address.empty()) {
    sources_.push_back(
        std::make_unique<GrpcPushSource>(config.grpc_listen_address, config.grpc_tls, cache_));
  }
}

Discovery::~Discovery() { stop(); }

bool Discovery::listed_once() const {
  const auto reported = cache_.last_report_per_source();
  for (const std::string& name : listing_sources_)
    if (!reported.contains(name)) return false;
  return true;
}

void Discovery::start() {
  for (auto& s : sources_) s->start();
  expiry_ = std::thread([this] {
    std::unique_lock lock(mu_);
    while (!cv_.wait_for(lock, std::chrono::seconds(1), [this] { return stopping_; })) {
      lock.unlock();
      cache_.expire();
      lock.lock();
    }
  });
}

void Discovery::stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (expiry_.joinable()) expiry_.join();
  for (auto& s : sources_) s->stop();
}

}  // namespace rwgate::discovery
