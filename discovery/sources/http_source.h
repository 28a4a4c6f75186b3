// http_sd: polls a Prometheus HTTP service discovery endpoint every refresh_interval.
// A failed poll (network, status, content) keeps the last good list and counts an error.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "discovery/sources/source.h"

namespace rwgate::discovery {

struct HttpSdConfig {
  std::string url;  // as written, for logs
  std::string host;
  std::string port;
  std::string target;
  std::chrono::milliseconds refresh_interval = std::chrono::seconds(60);
  std::chrono::milliseconds timeout = std::chrono::seconds(10);
};

class HttpSource final : public DiscoverySource {
 public:
  HttpSource(std::string name, HttpSdConfig config, DiscoveryCache& cache,
             SourceMetricFamilies& metrics);
  ~HttpSource() override;
  const std::string& name() const override { return name_; }
  void start() override;
  void stop() override;
  // One poll; the error, if any.
  Status refresh();

 private:
  std::string name_;
  HttpSdConfig config_;
  DiscoveryCache& cache_;
  SourceMetrics metrics_;
  RefreshLoop loop_;
};

}  // namespace rwgate::discovery
