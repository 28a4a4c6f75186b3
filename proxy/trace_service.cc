#include "proxy/trace_service.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <chrono>
#include <istream>
#include <ostream>
#include <thread>

#include "base/json.h"
#include "proxy/config.h"

namespace rwgate::proxy {

bool parse_trace_labels(std::string_view json, pipeline::TraceLabels& labels, std::string& why) {
  labels.clear();
  if (!parse_label_object(json, labels, why)) return false;
  std::sort(labels.begin(), labels.end());
  return true;
}

bool parse_trace_rules(std::string_view yaml, relabel::NameValidation names,
                       std::vector<relabel::Rule>& rules, std::string& why) {
  std::vector<std::string> errors;
  try {
    const YAML::Node root = YAML::Load(std::string(yaml));
    if (!root.IsNull() && !root.IsSequence()) {
      why = "rules: not a list of relabel_config entries";
      return false;
    }
    if (root.IsSequence()) rules = relabel::parse_rules(root, "rules", errors, names);
  } catch (const YAML::Exception& e) {
    errors.push_back("rules (line " + std::to_string(e.mark.line + 1) + "): " + e.msg);
  }
  why.clear();
  for (const std::string& e : errors) why += (why.empty() ? "" : "; ") + e;
  return errors.empty();
}

bool parse_trace_query(std::string_view body, relabel::NameValidation names, TraceQuery& query,
                       std::string& why) {
  std::vector<std::pair<std::string, std::string_view>> members;
  if (!parse_object_members(body, members, why)) {
    why = "the body is not a JSON object: " + why;
    return false;
  }
  const auto member = [&members](std::string_view name) -> std::optional<std::string_view> {
    for (const auto& [n, v] : members) {
      if (n == name) return v;
    }
    return std::nullopt;
  };
  const std::optional<std::string_view> labels = member("labels");
  if (!labels || !labels->starts_with('{')) {
    why = R"(the body must be {"labels": {"name": "value", ...}})";
    return false;
  }
  if (!parse_trace_labels(*labels, query.labels, why)) {
    why = "labels: " + why;
    return false;
  }
  query.rules.reset();
  if (const std::optional<std::string_view> rules = member("rules"); rules && *rules != "null") {
    std::string yaml;
    if (!parse_json_string(*rules, yaml, why)) {
      why = "rules: must be a string of YAML (a list of relabel_config entries)";
      return false;
    }
    query.rules.emplace();
    if (!parse_trace_rules(yaml, names, *query.rules, why)) return false;
  }
  return true;
}

pipeline::SeriesTrace run_trace(const IngestSnapshot& snapshot, const TraceQuery& query,
                                std::string_view sender) {
  std::shared_ptr<const discovery::DiscoverySnapshot> fleet;
  if (snapshot.discovery != nullptr) fleet = snapshot.discovery->cache().snapshot();
  std::shared_ptr<const lb::LbVerdicts> verdicts;
  if (snapshot.lb != nullptr) verdicts = snapshot.lb->verdicts();
  pipeline::TraceSetup setup;
  setup.rules = &snapshot.rules;
  setup.discovery = fleet.get();
  setup.verdicts = verdicts.get();
  setup.tenancy = snapshot.tenancy.enabled ? &snapshot.tenancy : nullptr;
  setup.sink_names = snapshot.sink_names;
  setup.trial_rules = query.rules ? &*query.rules : nullptr;
  setup.sender = sender;
  return pipeline::trace_series(setup, query.labels);
}

namespace {

// Starts the pull sources of `config` and waits (at most 10 s) until each has reported.
std::shared_ptr<discovery::Discovery> pull_discovery(const discovery::DiscoveryConfig& config,
                                                     std::ostream& err) {
  discovery::DiscoveryConfig pull = config;
  pull.eventbridge_enabled = false;
  pull.grpc_listen_address.clear();
  const size_t sources = pull.file.size() + pull.http.size() + pull.aws.size();
  if (!config.any()) return nullptr;
  static prometheus::Registry registry;  // the sources' counters; nobody reads them here
  static discovery::SourceMetricFamilies metrics(registry);
  auto d = std::make_shared<discovery::Discovery>(pull, metrics);
  d->start();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (d->cache().last_report_per_source().size() < sources) {
    if (std::chrono::steady_clock::now() > deadline) {
      err << "rwgate trace: not every discovery source answered within 10s; tracing with what "
             "the others listed\n";
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return d;
}

}  // namespace

int run_trace_command(const std::string& config_file, std::istream& in, std::ostream& out,
                      std::ostream& err) {
  ConfigResult loaded = load_config_file(config_file);
  if (!loaded.config) {
    for (const std::string& e : loaded.errors) err << e << "\n";
    return 2;
  }
  const Config& config = *loaded.config;
  IngestSnapshot snapshot;
  snapshot.discovery = pull_discovery(config.discovery, err);
  snapshot.rules = pipeline_rules(config, config.discovery.any());
  snapshot.rules.generation = 1;
  snapshot.tenancy = config.tenancy;
  snapshot.names = config.name_validation;
  for (const SinkConfig& sc : config.sinks) snapshot.sink_names.push_back(sc.name);

  std::string line;
  TraceQuery query;
  for (size_t n = 1; std::getline(in, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    std::string why;
    if (!parse_trace_labels(line, query.labels, why)) {
      std::string e = "{\"error\":";
      append_json_string(e, "line " + std::to_string(n) + ": " + why);
      out << e << "}\n";
      continue;
    }
    out << pipeline::trace_json(run_trace(snapshot, query)) << "\n";
    out.flush();
  }
  return 0;
}

}  // namespace rwgate::proxy
