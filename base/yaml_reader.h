// Reading a config section from YAML without stopping at the first problem.
//
// Every folder reads its own section of the config file (discovery/config.h,
// sinks/config.h, ...) with one Reader, which collects each error as
// "path (line N): reason", the path in the file's own terms ("sinks[0].remote_write.url").
// The readers never throw on a value of the wrong shape; parse_config catches what
// yaml-cpp itself throws.
#pragma once

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "base/duration.h"

namespace rwgate::yaml {

// `text` with control bytes escaped (\x0a): keys, values and parser messages from a file
// may hold them, and every error is one line.
std::string one_line(std::string_view text);

class Reader {
 public:
  explicit Reader(std::vector<std::string>& errors) : errors_(errors) {}
  std::vector<std::string>& errors() { return errors_; }

  // Records "path (line N): why", the line of `node` when it has one.
  void error(const std::string& path, const YAML::Node& node, const std::string& why);

  // True when `node` is a map (false when absent/null); reports keys not in `known`.
  bool map(const YAML::Node& node, const std::string& path,
           std::initializer_list<std::string_view> known);

  static std::string join(const std::string& path, std::string_view key) {
    return path.empty() ? std::string(key) : path + "." + std::string(key);
  }

  // The readers below leave `out` as it is when the key is absent or null.
  bool scalar(const YAML::Node& node, const std::string& path, std::string& out);
  void string(const YAML::Node& parent, const std::string& path, const char* key, std::string& out);
  void boolean(const YAML::Node& parent, const std::string& path, const char* key, bool& out);
  void duration(const YAML::Node& parent, const std::string& path, const char* key, Duration& out);
  // A list of scalars; replaces `out` when present.
  void string_list(const YAML::Node& parent, const std::string& path, const char* key,
                   std::vector<std::string>& out);

  template <typename Int>
  void integer(const YAML::Node& parent, const std::string& path, const char* key, Int& out,
               Int min, Int max) {
    const YAML::Node n = parent[key];
    if (!n.IsDefined() || n.IsNull()) return;
    std::string s;
    if (!scalar(n, join(path, key), s)) return;
    Int v{};
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size()) {
      error(join(path, key), n, "must be an integer, not \"" + s + "\"");
      return;
    }
    if (v < min || v > max) {
      error(join(path, key), n,
            "must be between " + std::to_string(min) + " and " + std::to_string(max));
      return;
    }
    out = v;
  }

 private:
  std::vector<std::string>& errors_;
};

}  // namespace rwgate::yaml
