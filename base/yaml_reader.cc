#include "base/yaml_reader.h"

#include <cstdio>

#include <algorithm>

namespace rwgate::yaml {

std::string one_line(std::string_view text) {
  std::string line;
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", u);
      line += buf;
    } else {
      line.push_back(c);
    }
  }
  return line;
}

void Reader::error(const std::string& path, const YAML::Node& node, const std::string& why) {
  std::string where = path.empty() ? "(top level)" : path;
  if (node.IsDefined() && node.Mark().line >= 0)
    where += " (line " + std::to_string(node.Mark().line + 1) + ")";
  errors_.push_back(one_line(where + ": " + why));
}

bool Reader::map(const YAML::Node& node, const std::string& path,
                 std::initializer_list<std::string_view> known) {
  if (!node.IsDefined() || node.IsNull()) return false;
  if (!node.IsMap()) {
    error(path, node, "must be a mapping");
    return false;
  }
  for (const auto& kv : node) {
    const std::string key = kv.first.Scalar();
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      error(join(path, key), kv.first, "unknown key");
    }
  }
  return true;
}

bool Reader::scalar(const YAML::Node& node, const std::string& path, std::string& out) {
  if (!node.IsScalar()) {
    error(path, node, "must be a scalar");
    return false;
  }
  out = node.Scalar();
  return true;
}

void Reader::string(const YAML::Node& parent, const std::string& path, const char* key,
                    std::string& out) {
  const YAML::Node n = parent[key];
  if (!n.IsDefined() || n.IsNull()) return;
  scalar(n, join(path, key), out);
}

void Reader::boolean(const YAML::Node& parent, const std::string& path, const char* key,
                     bool& out) {
  const YAML::Node n = parent[key];
  if (!n.IsDefined() || n.IsNull()) return;
  std::string s;
  if (!scalar(n, join(path, key), s)) return;
  if (s == "true") {
    out = true;
  } else if (s == "false") {
    out = false;
  } else {
    error(join(path, key), n, "must be true or false, not \"" + s + "\"");
  }
}

void Reader::duration(const YAML::Node& parent, const std::string& path, const char* key,
                      Duration& out) {
  const YAML::Node n = parent[key];
  if (!n.IsDefined() || n.IsNull()) return;
  std::string s;
  if (!scalar(n, join(path, key), s)) return;
  if (auto d = parse_duration(s)) {
    out = *d;
  } else {
    error(join(path, key), n, "not a valid duration \"" + s + "\" (examples: 30s, 5m, 1h30m)");
  }
}

void Reader::string_list(const YAML::Node& parent, const std::string& path, const char* key,
                         std::vector<std::string>& out) {
  const YAML::Node n = parent[key];
  if (!n.IsDefined() || n.IsNull()) return;
  const std::string p = join(path, key);
  if (!n.IsSequence()) {
    error(p, n, "must be a list");
    return;
  }
  out.clear();
  for (size_t i = 0; i < n.size(); ++i) {
    std::string v;
    if (scalar(n[i], p + "[" + std::to_string(i) + "]", v)) out.push_back(v);
  }
}

}  // namespace rwgate::yaml
