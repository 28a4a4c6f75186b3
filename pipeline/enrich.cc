#include "pipeline/enrich.h"

#include "staleness/late_samples.h"

namespace rwgate::pipeline {

InstanceMatch match_instance(const EnrichRules& rules,
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

size_t default_enrichment(const discovery::InstanceRecord& rec, proto::Label* out) {
  size_t n = 0;
  for (const DefaultEnrichmentLabel& d : kDefaultEnrichment) {
    const std::string& value = rec.*d.field;
    if (!value.empty()) out[n++] = proto::Label{d.label, value};
  }
  return n;
}

bool Enricher::apply(const EnrichRules& rules, const InstanceMatch& m,
                     relabel::LabelBuilder& builder, relabel::RelabelScratch& scratch) {
  if (m.outcome == EnrichOutcome::kOff) return true;
  if (m.record == nullptr) {
    if (rules.annotate_miss && builder.get(kMissLabel).empty()) builder.set(kMissLabel, kMissValue);
    return true;
  }
  if (rules.rules.empty()) {
    for (const DefaultEnrichmentLabel& d : kDefaultEnrichment) {
      if (builder.get(d.label).empty()) builder.set(d.label, m.record->*d.field);
    }
    return true;
  }
  // Custom rules see the record as meta labels, then every __meta_* label goes.
  for (const auto& [name, value] : m.record->meta_labels()) builder.set(name, value);
  if (!relabel::process(rules.rules, builder, scratch)) return false;
  builder.visible(visible_);
  meta_names_.clear();
  for (const proto::Label& l : visible_) {
    if (l.name.starts_with("__meta_")) meta_names_.emplace_back(l.name);
  }
  for (const std::string& name : meta_names_) builder.del(name);
  return true;
}

bool enrichment_differs(const EnrichRules& rules, const discovery::InstanceRecord& a,
                        const discovery::InstanceRecord& b) {
  if (!rules.rules.empty()) return a.meta_labels() != b.meta_labels();
  for (const DefaultEnrichmentLabel& d : kDefaultEnrichment) {
    if (a.*d.field != b.*d.field) return true;
  }
  return false;
}

}  // namespace rwgate::pipeline
