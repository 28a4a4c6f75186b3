#include "sinks/tenant_sinks.h"

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
                         std::shared_ptr<const TenantNames> names, SinkMetricFamilies& metrics)
    : base_(std::move(base)),
      header_(std::move(header)),
      names_(std::move(names)),
      metrics_(metrics) {}

TenantSinks::~TenantSinks() { stop(std::chrono::steady_clock::now()); }

std::shared_ptr<RemoteWriteSink> TenantSinks::sink_of(uint32_t tenant) {
  std::lock_guard lock(mu_);
  if (stopped_ || tenant == 0) return nullptr;
  if (tenant < by_tenant_.size() && by_tenant_[tenant] != nullptr) return by_tenant_[tenant];
  const std::string name = names_->name(tenant);
  if (name.empty()) return nullptr;
  RemoteWriteOptions o = base_;
  o.tenant = name;
  o.target = tenant_target(base_.target, name);
  if (!header_.empty()) o.headers.emplace_back(header_, name);
  // Tenant names are valid file names (pipeline/tenancy.h: no '/', never "." or "..").
  if (o.disk) o.disk->path += "/" + name;
  auto sink = std::make_shared<RemoteWriteSink>(std::move(o), metrics_);
  if (!sink->open_error().empty()) {
    log::error("tenant's sink buffer cannot be opened; its data is refused (503) until fixed",
               {{"sink", base_.name}, {"tenant", name}, {"error", sink->open_error()}});
  }
  sink->start();
  log::info("tenant's sink started", {{"sink", base_.name}, {"tenant", name}});
  if (by_tenant_.size() <= tenant) by_tenant_.resize(tenant + 1);
  by_tenant_[tenant] = sink;
  return sink;
}

template <typename F>
void TenantSinks::for_each_run(const proto::Batch& batch, std::span<const proto::SeriesOut> series,
                               size_t bytes, F&& f) {
  const size_t total = series.size();
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

bool TenantSinks::try_reserve(const proto::Batch& batch, std::span<const proto::SeriesOut> series,
                              size_t bytes) {
  std::vector<std::pair<std::shared_ptr<RemoteWriteSink>, size_t>> reserved;
  bool ok = true;
  for_each_run(batch, series, bytes, [&](const Run& run) {
    if (run.tenant == 0) return true;  // enqueue() skips it
    std::shared_ptr<RemoteWriteSink> sink = sink_of(run.tenant);
    if (sink == nullptr || !sink->try_reserve(run.bytes)) return ok = false;
    reserved.emplace_back(std::move(sink), run.bytes);
    return true;
  });
  if (!ok) {
    for (auto& [sink, n] : reserved) sink->cancel_reservation(n);
  }
  return ok;
}

void TenantSinks::cancel_reservation(const proto::Batch& batch,
                                     std::span<const proto::SeriesOut> series, size_t bytes) {
  for_each_run(batch, series, bytes, [&](const Run& run) {
    if (auto sink = sink_of(run.tenant)) sink->cancel_reservation(run.bytes);
    return true;
  });
}

Status TenantSinks::enqueue(const proto::Batch& batch, std::span<const proto::SeriesOut> series,
                            size_t reserved_bytes) {
  Status result;
  for_each_run(batch, series, reserved_bytes, [&](const Run& run) {
    // Tenant 0 only comes from a stale marker of a series tracked before tenancy was on:
    // no store path of this sink can take it.
    if (run.tenant == 0) return true;
    std::shared_ptr<RemoteWriteSink> sink = sink_of(run.tenant);
    if (sink == nullptr) {
      result = Status::error("sink is stopping");
    } else if (result) {
      result = sink->enqueue(batch, run.series, run.bytes);
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

}  // namespace rwgate::sinks
