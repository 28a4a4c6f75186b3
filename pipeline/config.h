// The `enrich` section of the config file. The running form is EnrichRules
// (pipeline/enrich.h), which the gateway builds from this and the other sections.
#pragma once

#include <string>
#include <vector>

#include "relabel/rule.h"

namespace YAML {
class Node;
}
namespace rwgate::yaml {
class Reader;
}

namespace rwgate::pipeline {

struct EnrichConfig {
  std::string match_label = "instance";
  std::vector<relabel::Rule> relabel_configs;  // empty: the default mapping
  bool annotate_miss = false;                  // on_miss: annotate
};

// `names`: the name_validation_scheme its relabel_configs are checked with.
void read_enrich(yaml::Reader& r, const YAML::Node& node, relabel::NameValidation names,
                 EnrichConfig& out);

}  // namespace rwgate::pipeline
