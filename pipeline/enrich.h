// The enrichment stage: fleet context from the discovery snapshot.
//
// A series' instance is found by the host of its match label (`instance` by default,
// port stripped) among every name discovery knows (IP addresses, DNS names, instance id).
// With no enrich.relabel_configs, the default mapping below adds the fleet labels; with
// rules, the rules see the instance as __meta_* labels, and every __meta_* label is
// dropped afterwards. Either way a label the series already has is the sender's word and
// stays, unless a rule says otherwise.
#pragma once

#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "discovery/instance.h"
#include "proto/batch.h"
#include "relabel/label_builder.h"
#include "relabel/rule.h"
#include "staleness/late_samples.h"

namespace rwgate::pipeline {

struct EnrichRules {
  bool enabled = false;                  // a discovery source is configured
  std::string match_label = "instance";  // its host (port stripped) is looked up
  std::vector<relabel::Rule> rules;      // empty: the default mapping (kDefaultEnrichment)
  bool annotate_miss = false;            // on_miss: annotate adds enrichment="miss"
  // staleness.drop_late_samples: series of an instance that is gone are dropped.
  bool drop_late = false;
};

// The default mapping, in label-name order: the one table that says which fleet labels
// enrichment adds and from which record field (the direct path, the rules path and the
// stale-marker sender's "did the labels change" all read it).
struct DefaultEnrichmentLabel {
  std::string_view label;
  std::string discovery::InstanceRecord::*field;
};
inline constexpr DefaultEnrichmentLabel kDefaultEnrichment[] = {
    {"asg", &discovery::InstanceRecord::asg_name},
    {"availability_zone", &discovery::InstanceRecord::availability_zone},
    {"instance_id", &discovery::InstanceRecord::instance_id},
    {"lifecycle_state", &discovery::InstanceRecord::lifecycle_state},
};
inline constexpr std::string_view kMissLabel = "enrichment";  // on_miss: annotate
inline constexpr std::string_view kMissValue = "miss";
// Labels the default mapping can add to one series (the miss label only without a match).
inline constexpr size_t kMaxDefaultLabels = std::size(kDefaultEnrichment);

enum class EnrichOutcome : uint8_t {
  kOff,      // enrichment is off, or there is no discovery snapshot
  kMatched,  // the instance was found
  kMissed,   // it was not
};

// What discovery knows of one series' instance.
struct InstanceMatch {
  EnrichOutcome outcome = EnrichOutcome::kOff;
  const discovery::InstanceRecord* record = nullptr;  // found (may be gone)
  bool late = false;  // drop_late and the instance is gone: the series is dropped
  // The live instance (null when none, or gone), for the series tracker.
  const discovery::InstanceRecord* live() const {
    return record != nullptr && !record->is_gone() ? record : nullptr;
  }
};
// Inline, as is default_enrichment(): the direct path calls both for every series.
inline InstanceMatch match_instance(const EnrichRules& rules,
                                    const discovery::DiscoverySnapshot* discovery,
                                    std::string_view match_label_value) {
  InstanceMatch m;
  if (!rules.enabled || discovery == nullptr) return m;
  const std::string_view host = discovery::host_of(match_label_value);
  m.record = host.empty() ? nullptr : discovery->lookup(host);
  m.late = rules.drop_late && staleness::is_late(*discovery, m.record, host);
  m.outcome = m.record != nullptr ? EnrichOutcome::kMatched : EnrichOutcome::kMissed;
  return m;
}

// The default mapping's labels for `rec`, in name order, skipping empty values; returns
// how many were written to `out` (at most kMaxDefaultLabels).
inline size_t default_enrichment(const discovery::InstanceRecord& rec, proto::Label* out) {
  size_t n = 0;
  for (const DefaultEnrichmentLabel& d : kDefaultEnrichment) {
    const std::string& value = rec.*d.field;
    if (!value.empty()) out[n++] = proto::Label{d.label, value};
  }
  return n;
}

// The rules path: adds the fleet context of `m` to `builder`. Returns false when the
// enrich rules dropped the series. Keeps scratch space between calls.
class Enricher {
 public:
  bool apply(const EnrichRules& rules, const InstanceMatch& m, relabel::LabelBuilder& builder,
             relabel::RelabelScratch& scratch);

 private:
  std::vector<proto::Label> visible_;
  std::vector<std::string> meta_names_;
};

// Whether the labels enrichment derives from two versions of a record can differ.
bool enrichment_differs(const EnrichRules& rules, const discovery::InstanceRecord& a,
                        const discovery::InstanceRecord& b);

}  // namespace rwgate::pipeline
