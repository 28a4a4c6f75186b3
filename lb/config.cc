#include "lb/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <optional>
#include <string>
#include <string_view>

#include "base/yaml_reader.h"
#include "relabel/rule.h"

namespace rwgate::lb {

using yaml::Reader;

LbRules default_lb_rules() {
  LbRules rules;
  rules.enabled = true;
  std::string why;
  rules.names = LbNamePatterns::build({}, why);
  return rules;
}

namespace {

std::optional<LbAction> lb_action_of(std::string_view s) {
  if (s == "annotate") return LbAction::kAnnotate;
  if (s == "drop") return LbAction::kDrop;
  if (s == "pass") return LbAction::kPass;
  return std::nullopt;
}

// host_patterns: each checked alone (for the error's index), then built together.
void read_host_patterns(Reader& r, const YAML::Node& node, const std::string& path, LbRules& out) {
  std::vector<std::string> patterns;
  r.string_list(node, path, "host_patterns", patterns);
  for (size_t i = 0; i < patterns.size(); ++i) {
    std::string why;
    if (!LbNamePatterns::build({patterns[i]}, why)) {
      r.error(path + ".host_patterns[" + std::to_string(i) + "]", node["host_patterns"][i], why);
    }
  }
  std::string why;
  out.names = LbNamePatterns::build(patterns, why);
}

void read_metric_names(Reader& r, const YAML::Node& node, const std::string& path, const char* key,
                       std::vector<std::string>& list) {
  r.string_list(node, path, key, list);
  for (size_t i = 0; i < list.size(); ++i) {
    std::string as_label = list[i];  // metric names may also hold colons
    std::replace(as_label.begin(), as_label.end(), ':', '_');
    if (!relabel::is_valid_label_name(as_label, relabel::NameValidation::kLegacy)) {
      r.error(path + "." + key + "[" + std::to_string(i) + "]", node[key][i],
              "\"" + list[i] + "\" is not a valid metric name");
    }
  }
}

void read_jobs(Reader& r, const YAML::Node& jobs, const std::string& path, LbRules& out) {
  if (!jobs.IsDefined() || jobs.IsNull()) return;
  if (!jobs.IsMap()) {
    r.error(path + ".jobs", jobs, "must be a mapping of job name to annotate, drop or pass");
    return;
  }
  for (const auto& kv : jobs) {
    const std::string job = kv.first.Scalar();
    std::string v;
    if (!r.scalar(kv.second, path + ".jobs." + job, v)) continue;
    if (auto a = lb_action_of(v)) {
      out.jobs[job] = *a;
    } else {
      r.error(path + ".jobs." + job, kv.second,
              "must be annotate, drop or pass, not \"" + v + "\"");
    }
  }
}

}  // namespace

void read_load_balancer_detection(Reader& r, const YAML::Node& node, LbRules& out) {
  const std::string path = "load_balancer_detection";
  if (!r.map(node, path,
             {"action", "label", "host_patterns", "identity_metrics", "counter_metrics", "jobs"}))
    return;
  std::string action = "annotate";
  r.string(node, path, "action", action);
  if (auto a = lb_action_of(action)) {
    out.action = *a;
  } else {
    r.error(path + ".action", node["action"],
            "must be annotate, drop or pass, not \"" + action + "\"");
  }
  r.string(node, path, "label", out.label);
  if (!relabel::is_valid_label_name(out.label, relabel::NameValidation::kLegacy) ||
      out.label.starts_with("__")) {
    r.error(path + ".label", node["label"],
            "\"" + out.label + "\" is not a valid label name (and may not start with __)");
  }
  read_host_patterns(r, node, path, out);
  read_metric_names(r, node, path, "identity_metrics", out.identity_metrics);
  read_metric_names(r, node, path, "counter_metrics", out.counter_metrics);
  read_jobs(r, node["jobs"], path, out);
}

}  // namespace rwgate::lb
