// Tenant names and their ids: what proto::Series::tenant means.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "base/string_hash.h"

namespace rwgate::sinks {

// Why `name` is not a tenant name (empty: it is one). The rule is Mimir's: at most 150
// characters of [A-Za-z0-9] and !-_.*'(), and neither "." nor "..". So a tenant name is
// also a safe directory name (sinks/tenant_sinks.h keeps a disk buffer per tenant).
std::string tenant_name_problem(std::string_view name);

// The tenants the process has seen, each with a small id for the series that carry it
// (proto::Series::tenant; 0 is "no tenant"). Ids are never reused, so a queued series and a
// series tracker entry keep meaning the same tenant; the number is bounded.
// Shared by the ingest threads, the stale-marker sender and the sinks.
class TenantNames {
 public:
  // The id of `name`, adding it when it is new; nullopt when `max` tenants are known and
  // `name` is not one of them. The name must be valid (pipeline/tenancy.h).
  std::optional<uint32_t> intern(std::string_view name, size_t max);
  // The name of `id` (empty for 0 or an id never handed out).
  std::string name(uint32_t id) const;
  size_t size() const;

 private:
  mutable std::mutex mu_;
  std::deque<std::string> names_;  // id - 1 -> name
  std::unordered_map<std::string, uint32_t, StringHash, std::equal_to<>> ids_;
};

}  // namespace rwgate::sinks
