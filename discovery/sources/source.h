// The DiscoverySource seam, its refresh loop and metrics, and the file_sd source.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/status.h"
#include "discovery/cache.h"

namespace rwgate::discovery {

/// A producer of instance records. Sources are built from config by the factory list in
/// sources.cc, started once, and stopped before the cache goes away.
class DiscoverySource {
 public:
  virtual ~DiscoverySource() = default;
  /// The name used as the record source and in metric labels (e.g. "file[0]").
  virtual const std::string& name() const = 0;
  virtual void start() = 0;
  virtual void stop() = 0;
};

// Runs a source's refresh every interval on a thread of its own, until stop(). `first`:
// the first refresh runs in start() itself (the caller waits for it), or on the thread.
class RefreshLoop {
 public:
  enum class First { kInStart, kOnThread };
  ~RefreshLoop() { stop(); }
  void start(std::chrono::milliseconds interval, std::function<void()> refresh, First first);
  void stop();

 private:
  std::mutex mu_;  // guards stopping_
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

// Metrics every source reports under its name.
struct SourceMetricFamilies {
  explicit SourceMetricFamilies(prometheus::Registry& registry);
  prometheus::Family<prometheus::Counter>& refreshes;
  prometheus::Family<prometheus::Counter>& refresh_errors;
  prometheus::Family<prometheus::Histogram>& refresh_duration;
  prometheus::Family<prometheus::Gauge>& instances;
  prometheus::Family<prometheus::Gauge>& last_success;
};

// One source's metric handles, resolved once.
struct SourceMetrics {
  SourceMetrics(SourceMetricFamilies& families, const std::string& source);
  // Records one refresh: its duration, whether it failed, and the instances listed after it
  // (negative: unchanged).
  void refreshed(std::chrono::steady_clock::time_point started, bool failed, int64_t instances);
  prometheus::Counter& refreshes;
  prometheus::Counter& errors;
  prometheus::Histogram& duration;
  prometheus::Gauge& instances;
  prometheus::Gauge& last_success;
};

// Parses Prometheus file_sd/http_sd content (JSON or YAML: a list of {targets, labels}).
// Each target becomes a record from its __meta_ec2_*/__meta_asg_* labels, findable by the
// target's host as well.
//
// A group with a __meta_lb_name label describes load balancers instead (an nginx or
// HAProxy of the operator's, which no cloud API lists): each target's host is the DNS name
// or address of one, `__meta_lb_type` says what it is, and `__meta_lb_asgs` (comma
// separated) names the Auto Scaling groups behind it, `__meta_lb_target_port` the port it
// forwards to. Those go to `load_balancers`
// (ignored when null), never to `out`.
Status parse_sd_targets(const std::string& text, std::vector<InstanceRecord>& out,
                        std::vector<LoadBalancerRecord>* load_balancers = nullptr);

// file_sd: re-reads its files when they change (inotify on their directories) and every
// refresh_interval. A file that fails to parse keeps its last good content.
class FileSource final : public DiscoverySource {
 public:
  FileSource(std::string name, std::vector<std::string> patterns,
             std::chrono::milliseconds refresh_interval, DiscoveryCache& cache,
             SourceMetricFamilies& metrics);
  ~FileSource() override;
  const std::string& name() const override { return name_; }
  void start() override;
  void stop() override;
  void refresh();  // one read of every file

 private:
  void run();
  std::string name_;
  std::vector<std::string> patterns_;
  std::chrono::milliseconds refresh_interval_;
  DiscoveryCache& cache_;
  SourceMetrics metrics_;
  struct FileContent {
    std::vector<InstanceRecord> records;
    std::vector<LoadBalancerRecord> load_balancers;
  };
  std::map<std::string, FileContent> last_good_;  // by file; sink thread only
  int stop_fd_ = -1;
  std::thread thread_;
};

}  // namespace rwgate::discovery
