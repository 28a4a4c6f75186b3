// The tenant stage: which tenant each series belongs to.
//
// It runs first, with HA deduplication, on the series as the sender sent them (an HA
// pair is decided per tenant, so the tenant must be known before): the tenant of a series
// is, in this order,
//   1. the value of the first of `label_list` (or `label`) the series has, after `prefix`;
//      with `label_remove` that label is taken off the series;
//   2. with `from_sender`, the authenticated sender's (its basic-auth user, else the subject
//      of its client certificate): `senders[identity]`; a sender without an entry gets
//      none (an identity is not a tenant name until the config says so);
//   3. `default`.
// A series with none of them, or whose tenant is not a valid name, refuses its request
// (400, with the series' labels): rwgate never guesses a tenant.
//
// A tenant is a small id on the series (proto::Series::tenant), interned once in the
// process-wide sinks::TenantNames. Each worker keeps the names it has already interned, and
// a request from one sender usually names one tenant, so the cost per series is a label
// lookup and a comparison with the previous series' value.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/string_hash.h"
#include "proto/batch.h"
#include "sinks/tenant_names.h"

namespace YAML {
class Node;
}
namespace rwgate::yaml {
class Reader;
}

namespace rwgate::pipeline {

// The top-level `tenancy` section; present = on.
struct TenancyConfig {
  bool enabled = false;
  std::vector<std::string> labels;  // `label`, or `label_list`: the first one present wins
  bool label_remove = false;
  std::string prefix;
  bool from_sender = false;
  std::map<std::string, std::string> senders;  // sender identity -> tenant; others: none
  std::string default_tenant;                  // `default`; empty: none
  size_t max_tenants = 100;                    // tenants the process keeps apart
};

void read_tenancy(yaml::Reader& r, const YAML::Node& node, TenancyConfig& out);

using sinks::tenant_name_problem;  // the name rule

// A request refused by the tenant stage.
struct TenantRefusal {
  enum class Kind : uint8_t { kMissing, kInvalid, kTooMany } kind;
  std::string message;  // one line
};

// Groups a sink's series by tenant, as sinks with tenants take them (sinks/tenant_sinks.h),
// keeping each tenant's series in their order. One per ingest worker: the state is scratch.
struct TenantGrouping {
  void group(const proto::Batch& batch, std::vector<proto::SeriesOut>& series);

  std::vector<std::pair<uint32_t, uint32_t>> tenants;  // tenant, count (then run start)
  std::vector<uint32_t> index_of;  // by tenant id: its index in tenants + 1; 0 between calls
  std::vector<uint32_t> slot;      // per series: its index in tenants
  std::vector<proto::SeriesOut> grouped;
};

// One per ingest worker: no locks but the registry's, once per new tenant name.
class TenantResolver {
 public:
  // Sets every series' tenant (and takes the tenant label off with label_remove), or
  // refuses the request at its first series without a valid tenant. `sender`: the
  // request's authenticated identity (empty: none).
  std::optional<TenantRefusal> resolve(const TenancyConfig& config, sinks::TenantNames& names,
                                       std::string_view sender, proto::Batch& batch);

 private:
  // The id of `name`, interned when new; a refusal when it is invalid or one too many.
  // `from` and `from_label` say where the name came from, for the refusal.
  std::optional<TenantRefusal> id_of(const TenancyConfig& config, sinks::TenantNames& names,
                                     const std::string& name, std::string_view from,
                                     std::string_view from_label, uint32_t& id);

  std::unordered_map<std::string, uint32_t, StringHash, std::equal_to<>> known_;
  std::string name_;  // scratch: prefix + label value
};

}  // namespace rwgate::pipeline
