#include "discovery/sources/source.h"

#include <glob.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <set>
#include <sstream>

#include "base/log.h"
#include "base/net.h"

namespace rwgate::discovery {

SourceMetricFamilies::SourceMetricFamilies(prometheus::Registry& registry)
    : refreshes(prometheus::BuildCounter()
                    .Name("rwgate_discovery_refreshes_total")
                    .Help("Refreshes of a discovery source.")
                    .Register(registry)),
      refresh_errors(
          prometheus::BuildCounter()
              .Name("rwgate_discovery_refresh_errors_total")
              .Help("Refreshes of a discovery source that failed (the last good list is kept).")
              .Register(registry)),
      refresh_duration(prometheus::BuildHistogram()
                           .Name("rwgate_discovery_refresh_duration_seconds")
                           .Help("Time a discovery source took to refresh.")
                           .Register(registry)),
      instances(prometheus::BuildGauge()
                    .Name("rwgate_discovery_instances")
                    .Help("Instances a discovery source currently lists.")
                    .Register(registry)),
      last_success(prometheus::BuildGauge()
                       .Name("rwgate_discovery_last_success_timestamp_seconds")
                       .Help("When a discovery source last refreshed successfully (Unix time): "
                             "how old the data it contributes is.")
                       .Register(registry)) {}

SourceMetrics::SourceMetrics(SourceMetricFamilies& families, const std::string& source)
    : refreshes(families.refreshes.Add({{"source", source}})),
      errors(families.refresh_errors.Add({{"source", source}})),
      duration(families.refresh_duration.Add(
          {{"source", source}}, prometheus::Histogram::BucketBoundaries{0.001, 0.01, 0.1, 1, 10})),
      instances(families.instances.Add({{"source", source}})),
      last_success(families.last_success.Add({{"source", source}})) {}

void RefreshLoop::start(std::chrono::milliseconds interval, std::function<void()> refresh,
                        First first) {
  if (first == First::kInStart) refresh();
  thread_ = std::thread([this, interval, refresh = std::move(refresh), first] {
    std::unique_lock lock(mu_);
    if (first == First::kOnThread) {
      lock.unlock();
      refresh();
      lock.lock();
    }
    while (!cv_.wait_for(lock, interval, [this] { return stopping_; })) {
      lock.unlock();
      refresh();
      lock.lock();
    }
  });
}

void RefreshLoop::stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void SourceMetrics::refreshed(std::chrono::steady_clock::time_point started, bool failed,
                              int64_t listed) {
  refreshes.Increment();
  if (failed) errors.Increment();
  if (!failed) {
    last_success.Set(
        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count());
  }
  if (listed >= 0) instances.Set(static_cast<double>(listed));
  duration.Observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
}

namespace {

LoadBalancerRecord lb_from_meta_labels(const std::map<std::string, std::string>& labels,
                                       std::string_view target) {
  auto get = [&](const char* k) {
    auto it = labels.find(k);
    return it == labels.end() ? std::string() : it->second;
  };
  LoadBalancerRecord lb;
  lb.name = get("__meta_lb_name");
  lb.type = get("__meta_lb_type");
  lb.dns_name = net::canonical_dns_name(net::host_of(target));
  lb.target_port = get("__meta_lb_target_port");
  const std::string asgs = get("__meta_lb_asgs");
  for (size_t at = 0; at <= asgs.size();) {
    const size_t comma = std::min(asgs.find(',', at), asgs.size());
    if (comma > at) lb.asgs.push_back(asgs.substr(at, comma - at));
    at = comma + 1;
  }
  return lb;
}

}  // namespace

Status parse_sd_targets(const std::string& text, std::vector<InstanceRecord>& out,
                        std::vector<LoadBalancerRecord>* load_balancers) {
  out.clear();
  if (load_balancers != nullptr) load_balancers->clear();
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return Status::error("line " + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  if (root.IsNull()) return {};
  if (!root.IsSequence()) return Status::error("want a list of target groups ({targets, labels})");
  try {
    for (size_t g = 0; g < root.size(); ++g) {
      const YAML::Node group = root[g];
      const std::string where = "group " + std::to_string(g) + ": ";
      if (!group.IsMap()) return Status::error(where + "must be an object");
      std::map<std::string, std::string> labels;
      if (const YAML::Node l = group["labels"]; l.IsDefined() && !l.IsNull()) {
        if (!l.IsMap()) return Status::error(where + "labels must be an object");
        for (const auto& kv : l) {
          if (!kv.second.IsScalar()) return Status::error(where + "label values must be strings");
          labels[kv.first.Scalar()] = kv.second.Scalar();
        }
      }
      const YAML::Node targets = group["targets"];
      if (!targets.IsDefined() || !targets.IsSequence())
        return Status::error(where + "targets must be a list");
      const bool lb = labels.contains("__meta_lb_name");
      for (const auto& t : targets) {
        if (!t.IsScalar()) return Status::error(where + "targets must be strings");
        if (lb) {
          if (load_balancers != nullptr)
            load_balancers->push_back(lb_from_meta_labels(labels, t.Scalar()));
          continue;
        }
        InstanceRecord r = record_from_meta_labels(labels);
        r.addresses.emplace_back(net::host_of(t.Scalar()));
        out.push_back(std::move(r));
      }
    }
  } catch (const YAML::Exception& e) {
    return Status::error(e.msg);
  }
  return {};
}

FileSource::FileSource(std::string name, std::vector<std::string> patterns,
                       std::chrono::milliseconds refresh_interval, DiscoveryCache& cache,
                       SourceMetricFamilies& metrics)
    : name_(std::move(name)),
      patterns_(std::move(patterns)),
      refresh_interval_(refresh_interval),
      cache_(cache),
      metrics_(metrics, name_) {}

FileSource::~FileSource() { stop(); }

void FileSource::refresh() {
  const auto t0 = std::chrono::steady_clock::now();
  std::set<std::string> files;
  for (const std::string& pattern : patterns_) {
    glob_t g{};
    if (::glob(pattern.c_str(), 0, nullptr, &g) == 0) {
      for (size_t i = 0; i < g.gl_pathc; ++i) files.insert(g.gl_pathv[i]);
    }
    globfree(&g);
  }
  std::erase_if(last_good_, [&](const auto& kv) { return !files.contains(kv.first); });
  bool failed = false;
  std::string failure;  // the last file that did not parse, and why
  for (const std::string& file : files) {
    std::ifstream in(file, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    FileContent content;
    Status st = in ? parse_sd_targets(ss.str(), content.records, &content.load_balancers)
                   : Status::error("cannot read the file");
    if (!st) {
      failed = true;
      failure = file + ": " + st.reason();
      log::warn("discovery file is invalid; keeping its last good content",
                {{"source", name_}, {"file", file}, {"error", st.reason()}});
      continue;
    }
    last_good_[file] = std::move(content);
  }
  std::vector<InstanceRecord> all;
  std::vector<LoadBalancerRecord> lbs;
  for (const auto& [file, content] : last_good_) {
    all.insert(all.end(), content.records.begin(), content.records.end());
    lbs.insert(lbs.end(), content.load_balancers.begin(), content.load_balancers.end());
  }
  cache_.replace_source(name_, all);
  cache_.replace_load_balancers(name_, std::move(lbs));
  if (failed) cache_.source_failed(name_, failure);
  metrics_.refreshed(t0, failed, static_cast<int64_t>(all.size()));
}

void FileSource::start() {
  refresh();
  stop_fd_ = ::eventfd(0, EFD_CLOEXEC);
  thread_ = std::thread([this] { run(); });
}

void FileSource::run() {
  const int ino = ::inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  std::set<std::string> dirs;
  for (const std::string& p : patterns_) {
    const size_t slash = p.rfind('/');
    dirs.insert(slash == std::string::npos ? "." : p.substr(0, std::max<size_t>(slash, 1)));
  }
  for (const std::string& d : dirs) {
    if (ino >= 0)
      ::inotify_add_watch(ino, d.c_str(), IN_CLOSE_WRITE | IN_MOVED_TO | IN_DELETE | IN_CREATE);
  }
  auto next = std::chrono::steady_clock::now() + refresh_interval_;
  for (;;) {
    pollfd fds[2] = {{stop_fd_, POLLIN, 0}, {ino, POLLIN, 0}};
    const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(
        next - std::chrono::steady_clock::now());
    const int n =
        ::poll(fds, ino >= 0 ? 2 : 1, static_cast<int>(std::max<int64_t>(0, wait.count())));
    if (n > 0 && (fds[0].revents & POLLIN)) break;
    bool changed = false;
    if (n > 0 && ino >= 0 && (fds[1].revents & POLLIN)) {
      char buf[4096];
      while (::read(ino, buf, sizeof buf) > 0) {
      }
      changed = true;
    }
    if (changed || std::chrono::steady_clock::now() >= next) {
      refresh();
      next = std::chrono::steady_clock::now() + refresh_interval_;
    }
  }
  if (ino >= 0) ::close(ino);
}

void FileSource::stop() {
  if (stop_fd_ < 0) return;
  const uint64_t one = 1;
  (void)!::write(stop_fd_, &one, sizeof one);
  if (thread_.joinable()) thread_.join();
  ::close(stop_fd_);
  stop_fd_ = -1;
}

}  // namespace rwgate::discovery
