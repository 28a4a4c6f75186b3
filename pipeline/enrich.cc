#include "pipeline/enrich.h"

namespace rwgate::pipeline {

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
