#include "pipeline/trace.h"

#include <span>

#include "base/json.h"
#include "lb/evidence.h"
#include "lb/target_check.h"
#include "proto/decode.h"
#include "relabel/label_builder.h"

namespace rwgate::pipeline {

namespace {

TraceLabels owned(std::span<const proto::Label> labels) {
  TraceLabels out;
  out.reserve(labels.size());
  for (const proto::Label& l : labels) out.emplace_back(l.name, l.value);
  return out;
}

std::vector<proto::Label> views(const TraceLabels& labels) {
  std::vector<proto::Label> out;
  out.reserve(labels.size());
  for (const auto& [name, value] : labels) out.push_back(proto::Label{name, value});
  return out;
}

TraceLabels built(const relabel::LabelBuilder& builder) {
  std::vector<proto::Label> labels;
  builder.labels(labels);
  return owned(labels);
}

std::string quoted(std::string_view s) {
  std::string out;
  append_json_string(out, s);
  return out;
}

// Which of the record's names `host` is, for the enrich step's detail.
std::string name_matched(const discovery::InstanceRecord& r, std::string_view host) {
  if (host == r.instance_id) return "instance id";
  if (host == r.private_ip) return "private IP";
  if (host == r.public_ip) return "public IP";
  if (host == r.private_dns) return "private DNS name";
  if (host == r.public_dns) return "public DNS name";
  return "address";
}

std::string enrich_detail(const TraceSetup& setup, std::string_view match_value,
                          const InstanceMatch& m) {
  const EnrichRules& rules = setup.rules->enrich;
  if (!rules.enabled) return "off: no discovery source is configured";
  if (setup.discovery == nullptr) return "no discovery snapshot yet: nothing to look up";
  const std::string label = quoted(rules.match_label);
  if (match_value.empty()) return "the series has no " + label + " label: nothing to look up";
  const std::string_view host = discovery::host_of(match_value);
  if (m.record == nullptr) {
    return "host " + quoted(host) + " (from " + label + ") is none of the " +
           std::to_string(setup.discovery->records().size()) +
           " instances discovery lists (looked up by IP, DNS name, instance id and address)" +
           (rules.annotate_miss ? "; on_miss: annotate" : "");
  }
  const discovery::InstanceRecord& r = *m.record;
  std::string d = "host " + quoted(host) + " (from " + label + ") is the " + name_matched(r, host) +
                  " of " + quoted(r.instance_id.empty() ? r.key() : r.instance_id);
  if (!r.source.empty()) d += ", listed by " + quoted(r.source);
  if (!r.lifecycle_state.empty()) d += ", lifecycle_state " + quoted(r.lifecycle_state);
  if (r.is_gone()) d += "; the instance is gone";
  d += rules.rules.empty() ? "; the default mapping adds what the series does not have"
                           : "; enrich.relabel_configs map it";
  return d;
}

std::string lb_verdict(const PipelineRules& rules, const lb::LbHit& hit) {
  if (!hit.flagged) {
    return "not a load balancer: no name pattern or discovered load balancer matches the "
           "instance host, and there is no behaviour verdict";
  }
  std::string why;
  if (hit.name_pattern >= 0 && rules.lb.names != nullptr) {
    why = "the instance host looks like a load balancer (" +
          rules.lb.names->description(hit.name_pattern) + ")";
  } else if (hit.name_pattern == lb::kLbDiscovered) {
    why = "discovery lists a load balancer with the instance host as its DNS name";
  } else {
    why =
        "its behaviour says so: the identity series switch between backends "
        "(/api/v1/lb-targets has the evidence)";
  }
  return "a load balancer: " + why + "; action " + lb::lb_action_name(hit.action);
}

// The tenant stage on a one-series batch; false when it refuses the series.
bool trace_tenant(const TraceSetup& setup, std::vector<proto::Label>& labels, SeriesTrace& t) {
  proto::Batch batch;
  batch.labels = labels;
  batch.series.push_back(proto::Series{});
  batch.series[0].labels_count = static_cast<uint32_t>(labels.size());
  // Names of their own: a traced tenant must not take one of tenancy.max_tenants.
  sinks::TenantNames names;
  TenantResolver resolver;
  const std::optional<TenantRefusal> refused =
      resolver.resolve(*setup.tenancy, names, setup.sender, batch);
  if (refused) {
    t.steps.push_back({"tenant", "refused: " + refused->message, owned(labels)});
    return false;
  }
  t.tenant = names.name(batch.series[0].tenant);
  std::string from = "tenancy.default";
  for (const std::string& name : setup.tenancy->labels) {
    if (!proto::label_value(labels, name).empty()) {
      from = "label " + quoted(name) + (setup.tenancy->label_remove ? ", taken off" : "");
      break;
    }
  }
  if (from == "tenancy.default" && setup.tenancy->from_sender && !setup.sender.empty() &&
      setup.tenancy->senders.contains(std::string(setup.sender)))
    from = "the sender " + quoted(setup.sender);
  const std::span<const proto::Label> after = batch.labels_of(batch.series[0]);
  labels.assign(after.begin(), after.end());
  t.steps.push_back({"tenant", "tenant " + quoted(t.tenant) + " from " + from, owned(labels)});
  return true;
}

// `rules` in order on `builder`, a step each; the name of the rule that dropped the
// series, or empty.
std::string trace_rules(std::span<const relabel::Rule> rules, std::string_view stage,
                        std::string_view list, relabel::LabelBuilder& builder,
                        relabel::RelabelScratch& scratch, std::vector<TraceStep>& steps) {
  for (size_t i = 0; i < rules.size(); ++i) {
    const std::string name = std::string(list) + "[" + std::to_string(i) + "]";
    const bool kept = relabel::process(rules.subspan(i, 1), builder, scratch);
    steps.push_back({std::string(stage),
                     name + ": " + describe_rule(rules[i]) + (kept ? "" : ": dropped"),
                     kept ? built(builder) : TraceLabels{}});
    if (!kept) return name;
  }
  return {};
}

SeriesTrace dropped(SeriesTrace t, const std::string& by) {
  for (SinkTrace& s : t.sinks) s.dropped_by = by;
  return t;
}

}  // namespace

SeriesTrace trace_series(const TraceSetup& setup, const TraceLabels& input) {
  const PipelineRules& rules = *setup.rules;
  SeriesTrace t;
  t.input = input;
  for (const std::string& name : setup.sink_names) t.sinks.push_back(SinkTrace{name, {}, {}, {}});

  std::vector<proto::Label> labels = views(input);
  uint32_t count = static_cast<uint32_t>(labels.size());
  if (const Status st = proto::normalize_series_labels(labels.data(), count); !st) {
    t.steps.push_back({"validate", "refused (400): " + st.reason(), {}});
    return dropped(std::move(t), "validate");
  }
  labels.resize(count);
  t.steps.push_back({"validate", "valid: sorted by name, empty values dropped", owned(labels)});
  if (setup.tenancy != nullptr && setup.tenancy->enabled && !trace_tenant(setup, labels, t))
    return dropped(std::move(t), "tenant");

  // As LabelPipeline::run_global: the lb verdict on the input, enrichment, the late rule,
  // the lb action, then the rules.
  relabel::LabelBuilder builder;
  relabel::RelabelScratch scratch;
  builder.reset(labels);
  lb::TargetCheck lb_check;
  lb_check.begin_request(rules.generation, rules.lb.enabled ? setup.verdicts : nullptr,
                         setup.discovery);
  const lb::LbHit lb = lb_check.check(rules.lb, labels);
  const std::string_view match_value = proto::label_value(labels, rules.enrich.match_label);
  const InstanceMatch m = match_instance(rules.enrich, setup.discovery, match_value);
  const std::string detail = enrich_detail(setup, match_value, m);
  if (m.late) {
    t.steps.push_back({"enrich", detail, owned(labels)});
    t.steps.push_back(
        {"late", "dropped: the instance is gone and staleness.drop_late_samples is on", {}});
    return dropped(std::move(t), "late");
  }
  Enricher enricher;
  if (!enricher.apply(rules.enrich, m, builder, scratch)) {
    t.steps.push_back({"enrich", detail + ": the enrich rules dropped it", {}});
    return dropped(std::move(t), "enrich");
  }
  t.steps.push_back({"enrich", detail, built(builder)});
  if (rules.lb.enabled) {
    std::string d = lb_verdict(rules, lb);
    if (lb.flagged && lb.action == lb::LbAction::kDrop) {
      t.steps.push_back({"lb", d + ": dropped", {}});
      return dropped(std::move(t), "lb");
    }
    if (lb.flagged && lb.action == lb::LbAction::kAnnotate) {
      if (builder.get(rules.lb.label).empty()) {
        builder.set(rules.lb.label, lb::kLbLabelValue);
        d += ": adds " + rules.lb.label + "=" + std::string(lb::kLbLabelValue);
      } else {
        d += ": the series' own " + quoted(rules.lb.label) + " stays";
      }
    }
    t.steps.push_back({"lb", d, built(builder)});
  }
  const bool trial = setup.trial_rules != nullptr;
  const std::string by =
      trace_rules(trial ? *setup.trial_rules : rules.global, "relabel",
                  trial ? "pasted rules" : "relabel_configs", builder, scratch, t.steps);
  if (!by.empty()) return dropped(std::move(t), by);

  const TraceLabels global = built(builder);
  const std::vector<proto::Label> global_views = views(global);
  for (size_t s = 0; s < t.sinks.size() && s < rules.per_sink.size(); ++s) {
    SinkTrace& sink = t.sinks[s];
    builder.reset(global_views);
    sink.dropped_by = trace_rules(rules.per_sink[s], "write_relabel", "write_relabel_configs",
                                  builder, scratch, sink.steps);
    if (sink.dropped_by.empty()) sink.labels = built(builder);
  }
  return t;
}

std::string describe_rule(const relabel::Rule& rule) {
  using relabel::Action;
  std::string d = "action=" + std::string(relabel::action_name(rule.action));
  if (!rule.source_labels.empty()) {
    d += " source_labels=[";
    for (size_t i = 0; i < rule.source_labels.size(); ++i)
      d += (i > 0 ? "," : "") + rule.source_labels[i];
    d += "]";
    if (rule.separator != ";") d += " separator=" + quoted(rule.separator);
  }
  const bool uses_regex = rule.action != Action::kLowercase && rule.action != Action::kUppercase &&
                          rule.action != Action::kHashMod && rule.action != Action::kKeepEqual &&
                          rule.action != Action::kDropEqual;
  if (uses_regex) d += " regex=" + quoted(rule.regex_text);
  if (rule.action == Action::kHashMod) d += " modulus=" + std::to_string(rule.modulus);
  if (!rule.target_label.empty()) d += " target_label=" + rule.target_label;
  if (rule.action == Action::kReplace || rule.action == Action::kLabelMap)
    d += " replacement=" + quoted(rule.replacement);
  return d;
}

namespace {

void append_steps(std::string& out, const std::vector<TraceStep>& steps) {
  out += '[';
  for (size_t i = 0; i < steps.size(); ++i) {
    if (i > 0) out += ',';
    out += '{';
    append_json_field(out, "stage", steps[i].stage);
    append_json_field(out, "detail", steps[i].detail);
    out += "\"labels\":";
    append_json_object(out, steps[i].labels);
    out += '}';
  }
  out += ']';
}

}  // namespace

std::string trace_json(const SeriesTrace& t) {
  std::string out = "{\"input\":";
  append_json_object(out, t.input);
  out += ",\"steps\":";
  append_steps(out, t.steps);
  out += ",\"tenant\":";
  append_json_string(out, t.tenant);
  out += ",\"sinks\":{";
  for (size_t i = 0; i < t.sinks.size(); ++i) {
    const SinkTrace& s = t.sinks[i];
    if (i > 0) out += ',';
    append_json_string(out, s.name);
    out += ":{";
    if (s.dropped_by.empty()) {
      out += "\"labels\":";
      append_json_object(out, s.labels);
    } else {
      out += "\"dropped_by\":";
      append_json_string(out, s.dropped_by);
    }
    out += ",\"steps\":";
    append_steps(out, s.steps);
    out += '}';
  }
  out += "}}";
  return out;
}

}  // namespace rwgate::pipeline
