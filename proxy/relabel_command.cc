#include "proxy/relabel_command.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <vector>

#include "base/json.h"
#include "relabel/rule.h"

namespace rwgate::proxy {

int run_relabel_command(const std::string& rules_file, relabel::NameValidation names,
                        std::istream& in, std::ostream& out, std::ostream& err) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(rules_file);
  } catch (const YAML::BadFile&) {
    err << rules_file << ": cannot read the file\n";
    return 2;
  } catch (const YAML::Exception& e) {
    err << rules_file << ": (line " << e.mark.line + 1 << "): " << e.msg << "\n";
    return 2;
  }
  std::vector<std::string> errors;
  std::vector<relabel::Rule> rules;
  try {
    if (!root.IsNull()) rules = relabel::parse_rules(root, "rules", errors, names);
  } catch (const YAML::Exception& e) {
    errors.push_back("(line " + std::to_string(e.mark.line + 1) + "): " + e.msg);
  }
  if (!errors.empty()) {
    for (const std::string& e : errors) err << rules_file << ": " << e << "\n";
    return 2;
  }

  std::string line;
  std::vector<std::pair<std::string, std::string>> parsed;
  std::vector<proto::Label> labels;
  std::vector<proto::Label> result;
  relabel::LabelBuilder builder;
  relabel::RelabelScratch scratch;
  std::string text;
  for (size_t n = 1; std::getline(in, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    std::string why;
    if (!parse_label_object(line, parsed, why)) {
      err << "line " << n << ": " << why << "\n";
      continue;
    }
    labels.clear();
    for (const auto& [k, v] : parsed) {
      if (!v.empty()) labels.push_back(proto::Label{k, v});  // empty is the same as absent
    }
    std::sort(labels.begin(), labels.end(),
              [](const auto& a, const auto& b) { return a.name < b.name; });
    builder.reset(labels);
    if (!relabel::process(rules, builder, scratch)) {
      out << "null\n";
      continue;
    }
    builder.labels(result);
    text = "{";
    for (size_t i = 0; i < result.size(); ++i) {
      if (i > 0) text += ",";
      append_json_string(text, result[i].name);
      text += ":";
      append_json_string(text, result[i].value);
    }
    text += "}\n";
    out << text;
    out.flush();
  }
  return 0;
}

}  // namespace rwgate::proxy
