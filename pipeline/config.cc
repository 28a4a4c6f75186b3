#include "pipeline/config.h"

#include <yaml-cpp/yaml.h>

#include "base/yaml_reader.h"

namespace rwgate::pipeline {

void read_enrich(yaml::Reader& r, const YAML::Node& node, relabel::NameValidation names,
                 EnrichConfig& out) {
  const std::string path = "enrich";
  if (!r.map(node, path, {"match_label", "relabel_configs", "on_miss"})) return;
  r.string(node, path, "match_label", out.match_label);
  if (!relabel::is_valid_label_name(out.match_label, relabel::NameValidation::kLegacy)) {
    r.error("enrich.match_label", node["match_label"],
            "\"" + out.match_label + "\" is not a valid label name");
  }
  out.relabel_configs =
      relabel::parse_rules(node["relabel_configs"], "enrich.relabel_configs", r.errors(), names);
  std::string on_miss = "pass";
  r.string(node, path, "on_miss", on_miss);
  if (on_miss == "annotate") {
    out.annotate_miss = true;
  } else if (on_miss != "pass") {
    r.error("enrich.on_miss", node["on_miss"], "must be pass or annotate, not \"" + on_miss + "\"");
  }
}

}  // namespace rwgate::pipeline
