// libFuzzer target: what POST /api/v1/trace does with a body it did not expect. The body's
// members are read (base/json), its "labels" object becomes a label set, and that label set
// goes through pipeline::trace_series on a config with enrichment, the lb check, tenancy,
// relabel rules and a sink's write_relabel_configs. Never a crash; the JSON out is an object.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "base/json.h"
#include "pipeline/trace.h"

namespace {

using namespace rwgate;

std::vector<relabel::Rule> rules_of(const char* yaml) {
  std::vector<std::string> errors;
  return relabel::parse_rules(YAML::Load(yaml), "rules", errors);
}

struct Setup {
  pipeline::PipelineRules rules;
  pipeline::TenancyConfig tenancy;
  discovery::DiscoverySnapshot fleet;
  pipeline::TraceSetup trace;

  Setup() : fleet(1, {record()}) {
    rules.generation = 1;
    rules.enrich.enabled = true;
    rules.enrich.annotate_miss = true;
    rules.enrich.drop_late = true;
    rules.lb.enabled = true;
    std::string why;
    rules.lb.names = lb::LbNamePatterns::build({}, why);
    rules.global = rules_of(
        "[{source_labels: [asg], target_label: service},"
        " {source_labels: [__name__], regex: 'go_.*', action: drop},"
        " {regex: 'tmp_.*', action: labeldrop}]");
    rules.per_sink = {{}, rules_of("[{source_labels: [job], regex: 'x.*', action: keep}]")};
    tenancy.enabled = true;
    tenancy.labels = {"team"};
    tenancy.label_remove = true;
    tenancy.default_tenant = "shared";
    trace = {&rules, &fleet, nullptr, &tenancy, {"a", "b"}};
  }
  static discovery::InstanceRecord record() {
    discovery::InstanceRecord r;
    r.instance_id = "i-0abc";
    r.asg_name = "web";
    r.private_ip = "10.0.0.1";
    r.lifecycle_state = "InService";
    return r;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const Setup setup;
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  std::vector<std::pair<std::string, std::string_view>> members;
  std::string why;
  if (!parse_object_members(body, members, why)) return 0;
  for (const auto& [name, value] : members) {
    pipeline::TraceLabels labels;
    if (name == "rules") {
      std::string text;
      (void)parse_json_string(value, text, why);
    }
    if (name != "labels" || !parse_label_object(value, labels, why)) continue;
    std::sort(labels.begin(), labels.end());
    const pipeline::SeriesTrace t = pipeline::trace_series(setup.trace, labels);
    const std::string json = pipeline::trace_json(t);
    if (json.empty() || json.front() != '{' || json.back() != '}' || t.sinks.size() != 2)
      std::abort();
  }
  return 0;
}
