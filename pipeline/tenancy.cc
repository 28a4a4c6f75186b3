#include "pipeline/tenancy.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <utility>

#include "base/utf8.h"
#include "base/yaml_reader.h"

namespace rwgate::pipeline {

void read_tenancy(yaml::Reader& r, const YAML::Node& node, TenancyConfig& out) {
  const std::string path = "tenancy";
  if (!r.map(node, path,
             {"label", "label_list", "label_remove", "prefix", "from_sender", "senders", "default",
              "max_tenants"}))
    return;
  out.enabled = true;
  std::string label;
  r.string(node, path, "label", label);
  r.string_list(node, path, "label_list", out.labels);
  if (!label.empty() && !out.labels.empty()) {
    r.error(path + ".label_list", node["label_list"], "set label or label_list, not both");
  }
  if (!label.empty()) out.labels = {label};
  for (size_t i = 0; i < out.labels.size(); ++i) {
    const std::string& l = out.labels[i];
    if (l.empty() || !utf8::valid(l) || l == "__name__") {
      r.error(label.empty() ? path + ".label_list[" + std::to_string(i) + "]" : path + ".label",
              node[label.empty() ? "label_list" : "label"],
              "must be a label name other than __name__");
    }
  }
  r.boolean(node, path, "label_remove", out.label_remove);
  r.string(node, path, "prefix", out.prefix);
  r.boolean(node, path, "from_sender", out.from_sender);
  r.string(node, path, "default", out.default_tenant);
  r.integer<size_t>(node, path, "max_tenants", out.max_tenants, 1, 100000);
  const YAML::Node senders = node["senders"];
  if (senders.IsDefined() && !senders.IsNull()) {
    if (!senders.IsMap()) {
      r.error(path + ".senders", senders, "must be a mapping of sender identity to tenant");
    } else {
      for (const auto& kv : senders) {
        const std::string sp = path + ".senders." + kv.first.Scalar();
        std::string tenant;
        if (!r.scalar(kv.second, sp, tenant)) continue;
        if (std::string why = tenant_name_problem(tenant); !why.empty())
          r.error(sp, kv.second, why);
        out.senders.emplace(kv.first.Scalar(), tenant);
      }
    }
  }
  if (!out.senders.empty() && !out.from_sender) {
    r.error(path + ".senders", senders, "takes effect only with from_sender: true");
  }
  if (out.from_sender && out.senders.empty()) {
    r.error(path + ".from_sender", node["from_sender"],
            "needs senders: the map of sender identities to tenants");
  }
  if (!out.default_tenant.empty()) {
    if (std::string why = tenant_name_problem(out.default_tenant); !why.empty())
      r.error(path + ".default", node["default"], why);
  }
  if (out.labels.empty() && !out.from_sender && out.default_tenant.empty()) {
    r.error(path, node, "names no tenant source: set label, label_list, from_sender or default");
  }
}

std::optional<TenantRefusal> TenantResolver::id_of(const TenancyConfig& config,
                                                   sinks::TenantNames& names,
                                                   const std::string& name, std::string_view from,
                                                   std::string_view from_label, uint32_t& id) {
  if (auto it = known_.find(name); it != known_.end()) {
    id = it->second;
    return std::nullopt;
  }
  if (std::string why = tenant_name_problem(name); !why.empty())
    return TenantRefusal{TenantRefusal::Kind::kInvalid,
                         why + " (from " + std::string(from) + std::string(from_label) + ")"};
  const std::optional<uint32_t> interned = names.intern(name, config.max_tenants);
  if (!interned) {
    return TenantRefusal{TenantRefusal::Kind::kTooMany,
                         "tenant \"" + name + "\" would be one more than tenancy.max_tenants (" +
                             std::to_string(config.max_tenants) + ")"};
  }
  id = *interned;
  known_.emplace(name, id);
  return std::nullopt;
}

std::optional<TenantRefusal> TenantResolver::resolve(const TenancyConfig& config,
                                                     sinks::TenantNames& names,
                                                     std::string_view sender, proto::Batch& batch) {
  // The fallback (sender, else default) is the same for every series: found at most once.
  std::optional<uint32_t> fallback;
  auto fallback_id = [&](uint32_t& id) -> std::optional<TenantRefusal> {
    if (fallback) {
      id = *fallback;
      return std::nullopt;
    }
    std::string name = config.default_tenant, from = "tenancy.default";
    if (config.from_sender && !sender.empty()) {
      if (auto it = config.senders.find(std::string(sender)); it != config.senders.end()) {
        name = it->second;  // valid: checked with the config
        from = "tenancy.senders." + proto::quote(sender);
      }
    }
    if (name.empty()) return TenantRefusal{TenantRefusal::Kind::kMissing, ""};
    if (auto refusal = id_of(config, names, name, from, "", id)) return refusal;
    fallback = id;
    return std::nullopt;
  };
  batch.metadata_tenant = 0;
  if (!batch.metadata.empty()) {
    uint32_t id = 0;
    if (!fallback_id(id)) batch.metadata_tenant = id;  // none: the metadata has no tenant
  }
  // The label values seen last and their tenants: a request names few, and this saves the
  // name and its lookup for almost every series.
  struct Seen {
    std::string_view value;
    uint32_t id = 0;
  };
  std::array<Seen, 4> seen{};
  size_t seen_next = 0;
  for (proto::Series& s : batch.series) {
    proto::Label* labels = batch.labels.data() + s.labels_begin;
    proto::Label* const end = labels + s.labels_count;
    proto::Label* found = nullptr;
    for (const std::string& want : config.labels) {
      found = std::find_if(labels, end, [&](const proto::Label& l) { return l.name == want; });
      if (found != end && !found->value.empty()) break;
      found = nullptr;
    }
    std::optional<TenantRefusal> refusal;
    const Seen* hit = nullptr;
    if (found != nullptr) {
      for (const Seen& e : seen) {
        if (e.id != 0 && e.value == found->value) hit = &e;
      }
    }
    if (found == nullptr) {
      refusal = fallback_id(s.tenant);
    } else if (hit != nullptr) {
      s.tenant = hit->id;
    } else {
      name_.assign(config.prefix).append(found->value);
      refusal = id_of(config, names, name_, "label ", found->name, s.tenant);
      if (!refusal) {
        seen[seen_next] = {found->value, s.tenant};
        seen_next = (seen_next + 1) % seen.size();
      }
    }
    if (refusal) {
      const std::string labels_text = proto::format_labels(batch.labels_of(s));
      if (refusal->kind == TenantRefusal::Kind::kMissing) {
        refusal->message = "series " + labels_text + " has no tenant: no tenant label, " +
                           (config.from_sender ? "no tenancy.senders entry for its sender, " : "") +
                           "no tenancy.default";
      } else {
        refusal->message += ": series " + labels_text;
      }
      return refusal;
    }
    if (found != nullptr && config.label_remove) {
      std::copy(found + 1, end, found);  // the series' labels close up within their range
      --s.labels_count;
      s.raw_labels = {};  // the received bytes still hold the label
    }
  }
  return std::nullopt;
}

void TenantGrouping::group(const proto::Batch& batch, std::vector<proto::SeriesOut>& series) {
  TenantGrouping& scratch = *this;
  auto tenant = [&](const proto::SeriesOut& o) { return batch.series[o.index].tenant; };
  // The request's tenants in order of first appearance, with their counts, found by id
  // (ids are small and dense: at most tenancy.max_tenants).
  auto& tenants = scratch.tenants;
  auto& index_of = scratch.index_of;  // tenant id -> its place in `tenants` + 1
  tenants.clear();
  scratch.slot.resize(series.size());
  for (size_t i = 0; i < series.size(); ++i) {
    const uint32_t t = tenant(series[i]);
    if (index_of.size() <= t) index_of.resize(t + 1, 0);
    if (index_of[t] == 0) {
      tenants.emplace_back(t, 0);
      index_of[t] = static_cast<uint32_t>(tenants.size());
    }
    ++tenants[index_of[t] - 1].second;
    scratch.slot[i] = index_of[t] - 1;
  }
  for (const auto& [t, n] : tenants) index_of[t] = 0;  // clean for the next call
  if (tenants.size() < 2) return;
  // Each tenant's run starts after the runs of the tenants seen before it; the series keep
  // their order within it, and so their samples' order per shard.
  uint32_t at = 0;
  for (auto& [t, n] : tenants) at += std::exchange(n, at);
  scratch.grouped.resize(series.size());
  for (size_t i = 0; i < series.size(); ++i)
    scratch.grouped[tenants[scratch.slot[i]].second++] = series[i];
  series.swap(scratch.grouped);
}

}  // namespace rwgate::pipeline
