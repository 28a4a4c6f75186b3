#include "sinks/tenant_sinks.h"

#include <filesystem>
#include <thread>

#include "base/log.h"

namespace rwgate::sinks {

std::string tenant_target(std::string_view target, std::string_view tenant) {
  static constexpr std::string_view kPlaceholder = "{tenant}";
  std::string out;
  size_t from = 0;
  for (size_t at; (at = target.find(kPlaceholder, from)) != std::string_view::npos;
       from = at + kPlaceholder.size()) {
    out.append(target.substr(from, at - from)).append(tenant);
  }
  return out.append(target.substr(from));
}

TenantSinks::TenantSinks(RemoteWriteOptions base, std::string header,
                         std::shared_ptr<TenantNames> names, size_t max_tenants,
                         SinkMetricFamilies& metrics)
    : base_(std::move(base)),
      header_(std::move(header)),
      names_(std::move(names)),
      metrics_(metrics) {
  if (base_.disk) open_buffered_tenants(max_tenants);
}

TenantSinks::~TenantSinks() { stop(std::chrono::steady_clock::now()); }

void TenantSinks::open_buffered_tenants(size_t max_tenants) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(base_.disk->path, ec)) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_directory(ec) || !tenant_name_problem(name).empty()) continue;
    const std::optional<uint32_t> id = names_->intern(name, max_tenants);
    if (!id) {
      log::error("tenant's buffer left unread: one tenant more than tenancy.max_tenants",
                 {{"sink", base_.name}, {"tenant", name}});
      continue;
    }
    sink_of(*id, true);  // replays what it holds
  }
}

std::shared_ptr<RemoteWriteSink> TenantSinks::sink_of(uint32_t tenant, bool create) {
  {
    std::lock_guard lock(mu_);
    if (tenant < by_tenant_.size() && by_tenant_[tenant] != nullptr) return by_tenant_[tenant];
    // Being made by another thread: this request is refused (503) and retried.
    if (stopped_ || !create || tenant == 0 || creating_.contains(tenant)) return nullptr;
    creating_.insert(tenant);
  }
  const std::string name = names_->name(tenant);
  if (name.empty()) {
    std::lock_guard lock(mu_);
    creating_.erase(tenant);
    return nullptr;
  }
  RemoteWriteOptions o = base_;
  o.tenant = name;
  o.target = tenant_target(base_.target, name);
  if (!header_.empty()) o.headers.emplace_back(header_, name);
  // Tenant names are valid file names (sinks/tenant_names.h: no '/', never "." or "..").
  if (o.disk) o.disk->path += "/" + name;
  auto sink = std::make_shared<RemoteWriteSink>(std::move(o), metrics_);
  {
    std::lock_guard lock(mu_);
    creating_.erase(tenant);
    if (stopped_) return nullptr;  // never started: it goes with the last reference
    if (!sink->open_error().empty()) {
      log::error("tenant's sink buffer cannot be opened; its data is refused (503) until fixed",
                 {{"sink", base_.name}, {"tenant", name}, {"error", sink->open_error()}});
    }
    sink->start();
    if (by_tenant_.size() <= tenant) by_tenant_.resize(tenant + 1);
    by_tenant_[tenant] = sink;
  }
  log::info("tenant's sink started", {{"sink", base_.name}, {"tenant", name}});
  return sink;
}

template <typename F>
void TenantSinks::for_each_run(const proto::Batch& batch, std::span<const proto::SeriesOut> series,
                               size_t bytes, F&& f) {
  const size_t total = series.size();
  if (total == 0) {
    // Metadata alone: one run for its tenant.
    if (!batch.metadata.empty()) f(Run{batch.metadata_tenant, series, bytes});
    return;
  }
  for (size_t b = 0; b < total;) {
    const uint32_t tenant = batch.series[series[b].index].tenant;
    size_t e = b + 1;
    while (e < total && batch.series[series[e].index].tenant == tenant) ++e;
    // The estimate shared by series count; enqueue settles each share against what it
    // really encoded, so the split only has to be the same in every call.
    const size_t share = e - b == total ? bytes : bytes / total * (e - b) + 1;
    if (!f(Run{tenant, series.subspan(b, e - b), share})) return;
    b = e;
  }
}

void TenantSinks::metadata_of(const proto::Batch& batch, const Run& run,
                              std::vector<proto::FamilyMetadata>& out) {
  out.clear();
  if (batch.metadata.empty()) return;
  if (run.series.empty()) {
    out.assign(batch.metadata.begin(), batch.metadata.end());
    return;
  }
  // Each entry once, when a series of the run is of its family.
  std::vector<bool> taken(batch.metadata.size(), false);
  for (const proto::SeriesOut& o : run.series) {
    const std::string_view name = proto::label_value(o.labels, "__name__");
    if (const proto::FamilyMetadata* md = proto::find_family_metadata(batch.metadata, name)) {
      const auto at = static_cast<size_t>(md - batch.metadata.data());
      if (!taken[at]) out.push_back(*md);
      taken[at] = true;
    }
  }
}

bool TenantSinks::try_reserve(const proto::Batch& batch, std::span<const proto::SeriesOut> series,
                              size_t bytes) {
  // Reused by the thread's requests: no allocation per request.
  thread_local std::vector<std::pair<std::shared_ptr<RemoteWriteSink>, size_t>> reserved;
  reserved.clear();
  bool ok = true;
  for_each_run(batch, series, bytes, [&](const Run& run) {
    if (run.tenant == 0) return true;  // enqueue() skips it
    std::shared_ptr<RemoteWriteSink> sink = sink_of(run.tenant, true);
    if (sink == nullptr || !sink->try_reserve(run.bytes)) return ok = false;
    reserved.emplace_back(std::move(sink), run.bytes);
    return true;
  });
  if (!ok) {
    for (auto& [sink, n] : reserved) sink->cancel_reservation(n);
  }
  reserved.clear();  // holds no sink past the call
  return ok;
}

void TenantSinks::cancel_reservation(const proto::Batch& batch,
                                     std::span<const proto::SeriesOut> series, size_t bytes) {
  for_each_run(batch, series, bytes, [&](const Run& run) {
    if (auto sink = sink_of(run.tenant, false)) sink->cancel_reservation(run.bytes);
    return true;
  });
}

Status TenantSinks::enqueue(const proto::Batch& batch, std::span<const proto::SeriesOut> series,
                            size_t reserved_bytes) {
  Status result;
  thread_local std::vector<proto::FamilyMetadata> metadata;
  for_each_run(batch, series, reserved_bytes, [&](const Run& run) {
    // Tenant 0 only comes from a stale marker of a series tracked before tenancy was on,
    // or metadata without a tenant: no store path of this sink can take it.
    if (run.tenant == 0) return true;
    // It reserved (try_reserve made it): found even if the sink is stopping meanwhile.
    std::shared_ptr<RemoteWriteSink> sink = sink_of(run.tenant, false);
    if (sink == nullptr) {
      result = Status::error("tenant " + names_->name(run.tenant) + " has no sink");
    } else if (result) {
      metadata_of(batch, run, metadata);
      result = sink->enqueue(batch, run.series, run.bytes, metadata);
    } else {
      sink->cancel_reservation(run.bytes);  // an earlier tenant failed: release the rest
    }
    return true;
  });
  return result;
}

void TenantSinks::stop(std::chrono::steady_clock::time_point deadline) {
  std::vector<std::shared_ptr<RemoteWriteSink>> sinks;
  {
    std::lock_guard lock(mu_);
    if (stopped_) return;
    stopped_ = true;
    for (auto& s : by_tenant_) {
      if (s != nullptr) sinks.push_back(s);
    }
  }
  // Together: each drains its own queue until the same deadline.
  std::vector<std::thread> stopping;
  for (auto& s : sinks) stopping.emplace_back([&s, deadline] { s->stop(deadline); });
  for (std::thread& t : stopping) t.join();
}

size_t TenantSinks::tenants() const {
  std::lock_guard lock(mu_);
  size_t n = 0;
  for (const auto& s : by_tenant_) n += s != nullptr ? 1 : 0;
  return n;
}

void TenantSinks::status(std::vector<SinkStatus>& out) const {
  std::vector<std::shared_ptr<RemoteWriteSink>> sinks;
  {
    std::lock_guard lock(mu_);
    sinks = by_tenant_;
  }
  for (const auto& sink : sinks) {
    if (sink != nullptr) sink->status(out);
  }
}

}  // namespace rwgate::sinks
