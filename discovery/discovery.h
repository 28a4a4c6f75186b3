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
#include "discovery/sources/aws_source.h"
#include "discovery/sources/http_source.h"
#include "discovery/sources/source.h"

namespace rwgate::discovery {

struct FileSdConfig {
  std::vector<std::string> files;  // glob patterns
  std::chrono::milliseconds refresh_interval = std::chrono::minutes(5);
};

struct DiscoveryConfig {
  std::vector<FileSdConfig> file;
  std::vector<HttpSdConfig> http;
  std::vector<AwsSdConfig> aws;
  bool eventbridge_enabled = false;
  std::string eventbridge_api_key;  // read from api_key_file; empty: no key required
  std::chrono::milliseconds missing_after = std::chrono::minutes(2);
  std::string grpc_listen_address;  // empty: the push API is off

  bool any() const {
    return !file.empty() || !http.empty() || !aws.empty() || eventbridge_enabled ||
           !grpc_listen_address.empty();
  }
};

// The cache, its sources and the expiry loop, for one configuration.
class Discovery {
 public:
  Discovery(const DiscoveryConfig& config, SourceMetricFamilies& metrics);
  ~Discovery();
  void start();
  void stop();
  DiscoveryCache& cache() { return cache_; }
  const DiscoveryCache& cache() const { return cache_; }

 private:
  DiscoveryCache cache_;
  std::vector<std::unique_ptr<DiscoverySource>> sources_;
  std::mutex mu_;  // guards stopping_
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread expiry_;
};

}  // namespace rwgate::discovery
