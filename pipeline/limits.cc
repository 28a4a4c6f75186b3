#include "pipeline/limits.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "base/json.h"
#include "base/yaml_reader.h"
#include "pipeline/tenancy.h"
#include "proto/hash.h"

namespace rwgate::pipeline {

namespace {

constexpr const char* kReasonNames[] = {"rate_limited", "max_series", "max_label_names_per_series",
                                        "max_label_value_length"};
static_assert(std::size(kReasonNames) == static_cast<size_t>(LimitReason::kCount));

void read_tenant_limits(yaml::Reader& r, const YAML::Node& node, const std::string& path,
                        TenantLimits& out) {
  if (!r.map(node, path,
             {"ingestion_rate", "ingestion_burst", "max_series", "max_label_names_per_series",
              "max_label_value_length"}))
    return;
  uint64_t rate = static_cast<uint64_t>(out.ingestion_rate);
  r.integer<uint64_t>(node, path, "ingestion_rate", rate, 0, 1ULL << 40);
  out.ingestion_rate = static_cast<double>(rate);
  r.integer<uint64_t>(node, path, "ingestion_burst", out.ingestion_burst, 0, 1ULL << 40);
  r.integer<uint64_t>(node, path, "max_series", out.max_series, 0, 1ULL << 32);
  r.integer<uint32_t>(node, path, "max_label_names_per_series", out.max_label_names_per_series, 0,
                      1 << 20);
  r.integer<uint32_t>(node, path, "max_label_value_length", out.max_label_value_length, 0, 1 << 30);
}

// The bucket's size: ingestion_burst, or one second of ingestion_rate.
double burst_of(const TenantLimits& l) {
  return l.ingestion_burst > 0 ? static_cast<double>(l.ingestion_burst) : l.ingestion_rate;
}

// "tenant \"a\": " (nothing without tenancy, where the one tenant is "").
std::string who(const std::string& tenant) {
  return tenant.empty() ? std::string() : "tenant " + proto::quote(tenant) + ": ";
}

}  // namespace

void read_limits(yaml::Reader& r, const YAML::Node& node, bool tenancy, LimitsConfig& out) {
  const std::string path = "limits";
  if (!r.map(node, path, {"default", "tenants", "series_idle_timeout"})) return;
  out.enabled = true;
  read_tenant_limits(r, node["default"], path + ".default", out.defaults);
  r.duration(node, path, "series_idle_timeout", out.series_idle_timeout);
  if (out.series_idle_timeout < std::chrono::seconds(1)) {
    r.error(path + ".series_idle_timeout", node["series_idle_timeout"], "must be at least 1s");
  }
  const YAML::Node tenants = node["tenants"];
  if (!tenants.IsDefined() || tenants.IsNull()) return;
  if (!tenants.IsMap()) {
    r.error(path + ".tenants", tenants, "must be a mapping of tenant name to limits");
    return;
  }
  if (!tenancy) r.error(path + ".tenants", tenants, "needs a tenancy section");
  for (const auto& kv : tenants) {
    const std::string name = kv.first.Scalar();
    const std::string tp = path + ".tenants." + name;
    if (std::string why = tenant_name_problem(name); !why.empty()) r.error(tp, kv.first, why);
    TenantLimits limits = out.defaults;
    read_tenant_limits(r, kv.second, tp, limits);
    out.tenants.emplace(name, limits);
  }
}

struct LimitsState::Tenant {
  std::mutex mu;  // guards everything below
  std::string name;
  uint64_t generation = UINT64_MAX;  // of the limits below
  TenantLimits limits;
  uint32_t idle_s = 900;
  // The bucket: `tokens` as of `refilled`.
  double tokens = 0;
  Clock::SteadyTime refilled{};
  bool bucket_started = false;
  // max_series: hash of each active series' labels -> when last seen (steady seconds).
  std::unordered_map<uint64_t, uint32_t> active;
  uint32_t swept_s = 0;
  // Accepted samples: the total, and the rate over the last window of ~10 s.
  uint64_t samples_total = 0;
  uint64_t window_samples = 0;
  Clock::SteadyTime window_start{};
  double rate = 0;
  std::array<uint64_t, static_cast<size_t>(LimitReason::kCount)> refused{};
  std::array<prometheus::Counter*, static_cast<size_t>(LimitReason::kCount)> counters{};
};

LimitsState::LimitsState(prometheus::Registry& registry,
                         std::shared_ptr<const sinks::TenantNames> names, const Clock& clock)
    : discarded_(prometheus::BuildCounter()
                     .Name("rwgate_discarded_samples_total")
                     .Help("Samples refused by a tenant's limits (limits:), by tenant and reason.")
                     .Register(registry)),
      names_(std::move(names)),
      clock_(clock) {}

LimitsState::~LimitsState() = default;

void LimitsState::configure(std::shared_ptr<const LimitsConfig> config) {
  std::lock_guard lock(config_mu_);
  config_ = std::move(config);
  generation_.fetch_add(1, std::memory_order_release);
}

LimitsState::Tenant& LimitsState::tenant(uint32_t id) {
  {
    std::shared_lock lock(tenants_mu_);
    if (id < tenants_.size() && tenants_[id] != nullptr) return *tenants_[id];
  }
  std::unique_lock lock(tenants_mu_);
  if (tenants_.size() <= id) tenants_.resize(id + 1);
  if (tenants_[id] == nullptr) {
    tenants_[id] = std::make_unique<Tenant>();
    tenants_[id]->name = names_->name(id);
  }
  return *tenants_[id];
}

const TenantLimits& LimitsState::limits_of(Tenant& t) {
  // Checked without the config lock: it changes only on a reload.
  if (t.generation == generation_.load(std::memory_order_acquire)) return t.limits;
  std::lock_guard lock(config_mu_);
  if (t.generation != generation_ && config_ != nullptr) {
    auto it = config_->tenants.find(t.name);
    t.limits = it != config_->tenants.end() ? it->second : config_->defaults;
    t.idle_s = static_cast<uint32_t>(
        std::chrono::duration_cast<std::chrono::seconds>(config_->series_idle_timeout).count());
    if (t.limits.max_series == 0) t.active = {};  // nothing to count against any more
    t.generation = generation_;
  }
  return t.limits;
}

void LimitsState::refuse(Tenant& t, LimitReason reason, uint64_t samples) {
  const auto r = static_cast<size_t>(reason);
  t.refused[r] += samples;
  if (t.counters[r] == nullptr)
    t.counters[r] = &discarded_.Add({{"tenant", t.name}, {"reason", kReasonNames[r]}});
  t.counters[r]->Increment(static_cast<double>(samples));
}

namespace {

uint64_t samples_of(const proto::Series& s) { return s.samples_count + s.histograms_count; }

}  // namespace

// One request's tenants (one, mostly), each with its limits as of now, and per series its
// tenant's entry and whether it is refused. Thread-local: reused by the thread's requests.
struct LimitsState::Scratch {
  struct Entry {
    uint32_t id;
    Tenant* t;
    TenantLimits limits;
    uint64_t samples = 0;  // of its series that are not refused
    std::array<uint64_t, static_cast<size_t>(LimitReason::kCount)> refused{};
  };
  std::vector<Entry> entries;
  std::vector<uint32_t> index_of;  // by tenant id: its entry + 1; 0 between requests
  std::vector<uint32_t> entry_of;
  std::vector<uint8_t> drop;
  LimitsOutcome* outcome = nullptr;

  void refuse_series(size_t i, const proto::Series& s, LimitReason reason, std::string why) {
    Entry& e = entries[entry_of[i]];
    drop[i] = 1;
    e.refused[static_cast<size_t>(reason)] += samples_of(s);
    if (!outcome->refused) outcome->refused = who(e.t->name) + why;
  }
};

LimitsOutcome LimitsState::apply(proto::Batch& batch) {
  LimitsOutcome outcome;
  thread_local Scratch scratch;
  scratch.entries.clear();
  scratch.entry_of.assign(batch.series.size(), 0);
  scratch.drop.assign(batch.series.size(), 0);
  scratch.outcome = &outcome;
  check_labels(batch, scratch);
  for (const Scratch::Entry& e : scratch.entries) scratch.index_of[e.id] = 0;  // for the next
  if (!take_tokens(scratch)) return outcome;
  check_active_series(batch, scratch);
  for (Scratch::Entry& e : scratch.entries) {
    outcome.accepted.emplace_back(e.id, e.samples);
    if (std::all_of(e.refused.begin(), e.refused.end(), [](uint64_t n) { return n == 0; }))
      continue;
    std::lock_guard lock(e.t->mu);
    for (size_t r = 0; r < e.refused.size(); ++r) {
      if (e.refused[r] > 0) refuse(*e.t, static_cast<LimitReason>(r), e.refused[r]);
    }
  }
  if (outcome.refused) {
    size_t kept = 0;
    for (size_t i = 0; i < batch.series.size(); ++i) {
      if (!scratch.drop[i]) batch.series[kept++] = batch.series[i];
    }
    batch.series.resize(kept);
  }
  return outcome;
}

// 1. Each series' tenant entry, and its label counts and lengths.
void LimitsState::check_labels(const proto::Batch& batch, Scratch& scratch) {
  auto& entries = scratch.entries;
  for (size_t i = 0; i < batch.series.size(); ++i) {
    const proto::Series& s = batch.series[i];
    // The series' entry, found by tenant id (ids are small and dense).
    if (scratch.index_of.size() <= s.tenant) scratch.index_of.resize(s.tenant + 1, 0);
    if (scratch.index_of[s.tenant] == 0) {
      Tenant& t = tenant(s.tenant);
      std::lock_guard lock(t.mu);
      entries.push_back({s.tenant, &t, limits_of(t)});
      scratch.index_of[s.tenant] = static_cast<uint32_t>(entries.size());
    }
    const size_t ei = scratch.index_of[s.tenant] - 1;
    scratch.entry_of[i] = static_cast<uint32_t>(ei);
    Scratch::Entry& e = entries[ei];
    const auto labels = batch.labels_of(s);
    if (e.limits.max_label_names_per_series > 0 &&
        labels.size() > e.limits.max_label_names_per_series) {
      scratch.refuse_series(i, s, LimitReason::kLabelNames,
                            "series " + proto::format_labels(labels) + " has " +
                                std::to_string(labels.size()) +
                                " labels, more than limits.max_label_names_per_series (" +
                                std::to_string(e.limits.max_label_names_per_series) + ")");
      continue;
    }
    if (e.limits.max_label_value_length > 0) {
      auto long_value = std::find_if(labels.begin(), labels.end(), [&](const proto::Label& l) {
        return l.value.size() > e.limits.max_label_value_length;
      });
      if (long_value != labels.end()) {
        scratch.refuse_series(i, s, LimitReason::kLabelValueLength,
                              "the value of label " + proto::quote(long_value->name) + " is " +
                                  std::to_string(long_value->value.size()) +
                                  " bytes, longer than limits.max_label_value_length (" +
                                  std::to_string(e.limits.max_label_value_length) + "): series " +
                                  proto::format_labels(labels));
        continue;
      }
    }
    e.samples += samples_of(s);
  }
}

// 2. Each tenant's samples from its bucket: all of them, or (false) none, the request
// refused whole with 429.
bool LimitsState::take_tokens(Scratch& scratch) {
  const Clock::SteadyTime now = clock_.steady();
  LimitsOutcome& outcome = *scratch.outcome;
  size_t taken = 0;
  for (; taken < scratch.entries.size(); ++taken) {
    Scratch::Entry& e = scratch.entries[taken];
    if (e.limits.ingestion_rate <= 0) continue;
    Tenant& t = *e.t;
    std::lock_guard lock(t.mu);
    const double rate = e.limits.ingestion_rate;
    const double burst = burst_of(e.limits);
    // Another thread may have refilled with a later `now`: time never runs backwards here.
    if (!t.bucket_started) {
      t.tokens = burst;  // a new bucket starts full
      t.refilled = now;
      t.bucket_started = true;
    } else if (now > t.refilled) {
      t.tokens = std::min(
          burst, t.tokens + std::chrono::duration<double>(now - t.refilled).count() * rate);
      t.refilled = now;
    }
    const auto want = static_cast<double>(e.samples);
    if (want <= t.tokens) {
      t.tokens -= want;
      continue;
    }
    refuse(t, LimitReason::kRate, e.samples);
    const std::string limit = "ingestion rate limit (" +
                              std::to_string(static_cast<uint64_t>(rate)) + " samples/s, burst " +
                              std::to_string(static_cast<uint64_t>(burst)) + ")";
    if (want > burst) {
      // It would never pass: a 429 would have the sender resend it for ever.
      outcome.too_large = who(t.name) + "a request of " + std::to_string(e.samples) +
                          " samples is larger than the " + limit +
                          " can ever take; send smaller requests or raise ingestion_burst";
    } else {
      outcome.retry_after_s = std::max(1, static_cast<int>(std::ceil((want - t.tokens) / rate)));
      outcome.throttled =
          who(t.name) + limit + " exceeded while adding " + std::to_string(e.samples) + " samples";
    }
    break;
  }
  if (!outcome.throttled && !outcome.too_large) return true;
  for (size_t k = 0; k < taken; ++k) {  // the request is refused whole: give them back
    Scratch::Entry& e = scratch.entries[k];
    if (e.limits.ingestion_rate <= 0) continue;
    std::lock_guard lock(e.t->mu);
    give_back(*e.t, e.limits, e.samples);
  }
  return false;
}

void LimitsState::give_back(Tenant& t, const TenantLimits& limits, uint64_t samples) {
  t.tokens = std::min(burst_of(limits), t.tokens + static_cast<double>(samples));
}

void LimitsState::refund(const LimitsOutcome& outcome) {
  for (const auto& [id, n] : outcome.accepted) {
    Tenant& t = tenant(id);
    std::lock_guard lock(t.mu);
    if (t.limits.ingestion_rate > 0) give_back(t, t.limits, n);
  }
}

// 3. Active series, per tenant with a max_series; the tenant's lock is held over a run of
// its series.
void LimitsState::check_active_series(const proto::Batch& batch, Scratch& scratch) {
  const uint32_t now_s = clock_.steady_seconds();
  // One tenant at a time, holding only its lock: two requests that name the same tenants
  // in different orders can never wait on each other.
  for (uint32_t ei = 0; ei < scratch.entries.size(); ++ei) {
    Scratch::Entry& e = scratch.entries[ei];
    if (e.limits.max_series == 0) continue;
    Tenant& t = *e.t;
    std::lock_guard lock(t.mu);
    if (now_s - t.swept_s >= std::max<uint32_t>(1, t.idle_s / 4)) {
      std::erase_if(t.active, [&](const auto& kv) { return now_s - kv.second > t.idle_s; });
      t.swept_s = now_s;
    }
    uint64_t refused = 0;
    for (size_t i = 0; i < batch.series.size(); ++i) {
      if (scratch.entry_of[i] != ei || scratch.drop[i]) continue;
      const proto::Series& s = batch.series[i];
      const auto labels = batch.labels_of(s);
      const uint64_t h = proto::hash_labels(labels);
      if (auto it = t.active.find(h); it != t.active.end()) {
        it->second = now_s;
      } else if (t.active.size() < e.limits.max_series) {
        t.active.emplace(h, now_s);
      } else {
        refused += samples_of(s);
        scratch.refuse_series(i, s, LimitReason::kMaxSeries,
                              "series " + proto::format_labels(labels) +
                                  " is new, and the tenant has limits.max_series (" +
                                  std::to_string(e.limits.max_series) + ") active series");
      }
    }
    e.samples -= refused;
    // Their tokens were taken in step 2: they are given back.
    if (e.limits.ingestion_rate > 0 && refused > 0) give_back(t, e.limits, refused);
  }
}

void LimitsState::count_accepted(std::span<const std::pair<uint32_t, uint64_t>> accepted) {
  const Clock::SteadyTime now = clock_.steady();
  for (const auto& [id, n] : accepted) {
    Tenant& t = tenant(id);
    std::lock_guard lock(t.mu);
    t.samples_total += n;
    const double window = std::chrono::duration<double>(now - t.window_start).count();
    if (window >= 10) {
      t.rate = window < 30 ? static_cast<double>(t.window_samples) / window : 0;
      t.window_samples = 0;
      t.window_start = now;
    }
    t.window_samples += n;
  }
}

std::vector<TenantReport> LimitsState::report() const {
  std::vector<Tenant*> tenants;
  {
    std::shared_lock lock(tenants_mu_);
    for (const auto& t : tenants_) {
      if (t != nullptr) tenants.push_back(t.get());
    }
  }
  const Clock::SteadyTime now = clock_.steady();
  std::vector<TenantReport> out;
  for (Tenant* t : tenants) {
    std::lock_guard lock(t->mu);
    const double window = std::chrono::duration<double>(now - t->window_start).count();
    // A window gone by without a request since: its own rate, then nothing.
    const double rate = window < 10   ? t->rate
                        : window < 30 ? static_cast<double>(t->window_samples) / window
                                      : 0;
    out.push_back(
        {t->name, rate, t->samples_total,
         t->limits.max_series > 0 ? std::optional<uint64_t>(t->active.size()) : std::nullopt,
         t->limits, t->refused});
  }
  std::sort(out.begin(), out.end(),
            [](const TenantReport& a, const TenantReport& b) { return a.tenant < b.tenant; });
  return out;
}

std::string LimitsState::report_json() const {
  std::string out = "{\"tenants\":[";
  bool first = true;
  auto number = [](std::string& o, const char* key, uint64_t v, bool comma = true) {
    o.append("\"").append(key).append("\":").append(std::to_string(v)).append(comma ? "," : "");
  };
  for (const TenantReport& t : report()) {
    out += first ? "{" : ",{";
    first = false;
    append_json_field(out, "tenant", t.tenant);
    char rate[32];
    std::snprintf(rate, sizeof rate, "%.1f", t.samples_per_second);
    out.append("\"samples_per_second\":").append(rate).append(",");
    number(out, "samples_total", t.samples_total);
    out += "\"active_series\":" +
           (t.active_series ? std::to_string(*t.active_series) : std::string("null")) + ",";
    out += "\"limits\":{";
    number(out, "ingestion_rate", static_cast<uint64_t>(t.limits.ingestion_rate));
    number(out, "ingestion_burst", t.limits.ingestion_burst);
    number(out, "max_series", t.limits.max_series);
    number(out, "max_label_names_per_series", t.limits.max_label_names_per_series);
    number(out, "max_label_value_length", t.limits.max_label_value_length, false);
    out += "},\"refused_samples\":{";
    for (size_t r = 0; r < t.refused.size(); ++r)
      number(out, kReasonNames[r], t.refused[r], r + 1 < t.refused.size());
    out += "}}";
  }
  out += "]}\n";
  return out;
}

}  // namespace rwgate::pipeline
