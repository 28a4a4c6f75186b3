#include "relabel/rule.h"

#include <openssl/evp.h>

#include <yaml-cpp/yaml.h>
#include <memory>

#include <algorithm>
#include <charconv>
#include <clocale>
#include <cwctype>

#include "base/utf8.h"

namespace rwgate::relabel {

namespace {

constexpr std::string_view kActionNames[] = {"replace",   "keep",      "drop",     "keepequal",
                                             "dropequal", "hashmod",   "labelmap", "labeldrop",
                                             "labelkeep", "lowercase", "uppercase"};

// Prometheus's relabelTarget: ^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$
const RE2& relabel_target_re() {
  static const RE2 re(R"(^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$)");
  return re;
}

// Go accepts (?<name>...) for a named group (Go 1.22); this RE2 only (?P<name>...). The
// rewrite skips escaped characters and character classes, where "(?<" is not a group.
std::string with_go_named_groups(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  bool in_class = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\\' && i + 1 < text.size()) {
      out.push_back(c);
      out.push_back(text[++i]);
      continue;
    }
    if (in_class) {
      in_class = c != ']';
    } else if (c == '[') {
      in_class = true;
      out.push_back(c);
      // A ']' right after '[' or '[^' is a literal, not the end of the class.
      if (i + 1 < text.size() && text[i + 1] == '^') out.push_back(text[++i]);
      if (i + 1 < text.size() && text[i + 1] == ']') out.push_back(text[++i]);
      continue;
    } else if (c == '(' && text.compare(i, 3, "(?<") == 0 && i + 3 < text.size() &&
               text[i + 3] != '=' && text[i + 3] != '!') {
      out += "(?P<";
      i += 2;
      continue;
    }
    out.push_back(c);
  }
  return out;
}

std::shared_ptr<const RE2> compile(const std::string& text, std::string& error) {
  RE2::Options options;
  options.set_log_errors(false);
  // (?s: as Prometheus 3 compiles it: `.` matches a newline too.
  auto re = std::make_shared<RE2>("^(?s:" + with_go_named_groups(text) + ")$", options);
  if (!re->ok()) {
    error = "error parsing regexp: " + re->error();
    return nullptr;
  }
  return re;
}

bool full_match(const RE2& re, std::string_view text) {
  return re.Match(re2::StringPiece(text.data(), text.size()), 0, text.size(), RE2::ANCHOR_BOTH,
                  nullptr, 0);
}

// --- UTF-8 and Go's unicode predicates ------------------------------------------------

// Unicode case mapping comes from glibc's C.UTF-8 locale, loaded once.
locale_t unicode_locale() {
  static const locale_t loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(nullptr));
  return loc;
}

// Go's strings.ToLower/ToUpper: ASCII fast path; otherwise rune by rune, with invalid
// UTF-8 bytes becoming U+FFFD.
std::string change_case(std::string_view s, bool upper) {
  std::string out;
  out.reserve(s.size());
  const bool ascii =
      std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
  if (ascii) {
    for (char c : s) {
      if (upper && c >= 'a' && c <= 'z') c = static_cast<char>(c - 32);
      if (!upper && c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
      out.push_back(c);
    }
    return out;
  }
  const locale_t loc = unicode_locale();
  for (size_t i = 0; i < s.size();) {
    size_t w = 0;
    char32_t r = utf8::decode_rune(s, i, w);
    if (loc != static_cast<locale_t>(nullptr)) {
      r = static_cast<char32_t>(upper ? towupper_l(static_cast<wint_t>(r), loc)
                                      : towlower_l(static_cast<wint_t>(r), loc));
    }
    utf8::encode_rune(r, out);
    i += w;
  }
  return out;
}

bool is_name_rune(char32_t r) {
  if (r < 0x80)
    return (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') || r == '_';
  const locale_t loc = unicode_locale();
  return loc != static_cast<locale_t>(nullptr) &&
         (iswalpha_l(static_cast<wint_t>(r), loc) || iswdigit_l(static_cast<wint_t>(r), loc));
}

// --- Go's Regexp.Expand ---------------------------------------------------------------

// Go's extract(): a name after '$', braced or not. num is the group index, or -1 if the
// name is not a number (or has a leading zero).
bool extract(std::string_view str, std::string_view& name, int& num, std::string_view& rest) {
  if (str.empty()) return false;
  bool brace = false;
  if (str[0] == '{') {
    brace = true;
    str.remove_prefix(1);
  }
  size_t i = 0;
  while (i < str.size()) {
    size_t w = 0;
    const char32_t r = utf8::decode_rune(str, i, w);
    if (!is_name_rune(r)) break;
    i += w;
  }
  if (i == 0) return false;
  name = str.substr(0, i);
  if (brace) {
    if (i >= str.size() || str[i] != '}') return false;
    ++i;
  }
  num = 0;
  for (char c : name) {
    if (c < '0' || c > '9' || num >= 100000000) {
      num = -1;
      break;
    }
    num = num * 10 + (c - '0');
  }
  if (name[0] == '0' && name.size() > 1) num = -1;
  rest = str.substr(i);
  return true;
}

// groups[k] is capture group k (0 = whole match); data() == nullptr when it did not take part.
void expand(const RE2& re, std::string_view tmpl, std::span<const re2::StringPiece> groups,
            std::string& out) {
  out.clear();
  while (!tmpl.empty()) {
    const size_t dollar = tmpl.find('$');
    if (dollar == std::string_view::npos) break;
    out.append(tmpl.substr(0, dollar));
    tmpl.remove_prefix(dollar + 1);
    if (!tmpl.empty() && tmpl[0] == '$') {
      out.push_back('$');
      tmpl.remove_prefix(1);
      continue;
    }
    std::string_view name, rest;
    int num = -1;
    if (!extract(tmpl, name, num, rest)) {
      out.push_back('$');  // malformed: the $ is plain text
      continue;
    }
    tmpl = rest;
    if (num >= 0) {
      if (static_cast<size_t>(num) < groups.size() && groups[num].data() != nullptr) {
        out.append(groups[num].data(), groups[num].size());
      }
    } else {
      const auto& named = re.NamedCapturingGroups();
      if (auto it = named.find(std::string(name));
          it != named.end() && static_cast<size_t>(it->second) < groups.size() &&
          groups[it->second].data() != nullptr) {
        out.append(groups[it->second].data(), groups[it->second].size());
      }
    }
  }
  out.append(tmpl);
}

// Matches `text` fully and fills `groups`; false when it does not match.
bool match_groups(const RE2& re, std::string_view text, std::vector<re2::StringPiece>& groups,
                  int needed) {
  groups.assign(static_cast<size_t>(needed), re2::StringPiece());
  return re.Match(re2::StringPiece(text.data(), text.size()), 0, text.size(), RE2::ANCHOR_BOTH,
                  groups.data(), static_cast<int>(groups.size()));
}

// Go's ReplaceAllString for a fully anchored regex: the match is the whole string (or no
// match and the input stays).
std::string replace_all(const RE2& re, std::string_view text, std::string_view tmpl) {
  std::vector<re2::StringPiece> groups;
  if (!match_groups(re, text, groups, re.NumberOfCapturingGroups() + 1)) return std::string(text);
  std::string out;
  expand(re, tmpl, groups, out);
  return out;
}

uint64_t md5_tail(std::string_view s, EVP_MD_CTX* ctx) {
  // One fetched MD5 for the process and one context per scratch: EVP_md5() would look the
  // algorithm up (under a lock) on every call.
  static EVP_MD* const md5 = EVP_MD_fetch(nullptr, "MD5", nullptr);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestInit_ex(ctx, md5, nullptr);
  EVP_DigestUpdate(ctx, s.data(), s.size());
  EVP_DigestFinal_ex(ctx, digest, &len);
  uint64_t v = 0;
  for (int i = 8; i < 16; ++i) v = (v << 8) | digest[i];  // big-endian, last 8 bytes
  return v;
}

// How many capture groups expanding `tmpl` can read (1 + the highest group used), so a
// match asks RE2 for no more submatches than it needs: none lets it use its fastest engine.
int groups_needed(const RE2& re, std::string_view tmpl) {
  int needed = 0;
  while (!tmpl.empty()) {
    const size_t dollar = tmpl.find('$');
    if (dollar == std::string_view::npos) break;
    tmpl.remove_prefix(dollar + 1);
    if (!tmpl.empty() && tmpl[0] == '$') {
      tmpl.remove_prefix(1);
      continue;
    }
    std::string_view name, rest;
    int num = -1;
    if (!extract(tmpl, name, num, rest)) continue;
    tmpl = rest;
    if (num < 0) {
      const auto& named = re.NamedCapturingGroups();
      if (auto it = named.find(std::string(name)); it != named.end()) num = it->second;
    }
    if (num >= 0) needed = std::max(needed, std::min(num, re.NumberOfCapturingGroups()) + 1);
  }
  return needed;
}

}  // namespace

std::string_view action_name(Action a) { return kActionNames[static_cast<size_t>(a)]; }

void FullMatcher::init(const std::string& pattern, std::shared_ptr<const RE2> re) {
  re_ = std::move(re);
  kind_ = Kind::kRe2;
  literals_.clear();
  if (pattern == ".*") {
    kind_ = Kind::kAny;  // with (?s), '.' is any character
    return;
  }
  if (pattern == ".+") {
    kind_ = Kind::kNonEmpty;
    return;
  }
  auto plain = [](std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '_' || c == '-' || c == ':' || c == '/' || c == ' ' || c == '=' || c == ',' ||
             c == '@' || c == '#' || c == '%';
    });
  };
  if (pattern.size() > 2 && pattern.ends_with(".*") &&
      plain(std::string_view(pattern).substr(0, pattern.size() - 2))) {
    kind_ = Kind::kPrefix;
    literals_.push_back(pattern.substr(0, pattern.size() - 2));
    return;
  }
  std::vector<std::string> parts;
  size_t start = 0;
  for (;;) {
    const size_t bar = pattern.find('|', start);
    parts.push_back(
        pattern.substr(start, bar == std::string::npos ? std::string::npos : bar - start));
    if (bar == std::string::npos) break;
    start = bar + 1;
  }
  if (std::all_of(parts.begin(), parts.end(), [&](const std::string& p) { return plain(p); })) {
    kind_ = Kind::kLiterals;
    literals_ = std::move(parts);
  }
}

bool FullMatcher::matches(std::string_view text) const {
  switch (kind_) {
    case Kind::kAny:
      return true;
    case Kind::kNonEmpty:
      return !text.empty();
    case Kind::kLiterals:
      return std::any_of(literals_.begin(), literals_.end(),
                         [&](const std::string& l) { return same_name(l, text); });
    case Kind::kPrefix:
      return text.starts_with(literals_[0]);
    case Kind::kRe2:
      break;
  }
  return full_match(*re_, text);
}

bool parse_name_validation(std::string_view text, NameValidation& out) {
  if (text == "utf8") {
    out = NameValidation::kUtf8;
  } else if (text == "legacy") {
    out = NameValidation::kLegacy;
  } else {
    return false;
  }
  return true;
}

bool is_valid_label_name(std::string_view name, NameValidation names) {
  if (name.empty()) return false;
  if (names == NameValidation::kUtf8) return utf8::valid(name);
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                    (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

std::vector<Rule> parse_rules(const YAML::Node& list, const std::string& path,
                              std::vector<std::string>& errors, NameValidation names) {
  std::vector<Rule> rules;
  if (!list.IsDefined() || list.IsNull()) return rules;
  auto where = [&](size_t i, const YAML::Node& n) {
    std::string w = path + "[" + std::to_string(i) + "]";
    if (n.IsDefined() && n.Mark().line >= 0)
      w += " (line " + std::to_string(n.Mark().line + 1) + ")";
    return w;
  };
  if (!list.IsSequence()) {
    std::string w = path;
    if (list.Mark().line >= 0) w += " (line " + std::to_string(list.Mark().line + 1) + ")";
    errors.push_back(w + ": must be a list of relabel_config entries");
    return rules;
  }
  for (size_t i = 0; i < list.size(); ++i) {
    const YAML::Node n = list[i];
    auto fail = [&](const std::string& msg) { errors.push_back(where(i, n) + ": " + msg); };
    if (!n.IsMap()) {
      fail("must be a mapping (a relabel_config)");
      continue;
    }
    Rule rule;
    bool has_source = false, has_regex = false, has_replacement = false, has_separator = false,
         has_modulus = false;
    bool has_target = false;
    bool bad = false;
    std::string action_text = "replace";
    for (const auto& kv : n) {
      const std::string key = kv.first.Scalar();
      const YAML::Node& v = kv.second;
      auto scalar = [&](std::string& out) {
        if (v.IsNull()) return false;
        if (!v.IsScalar()) {
          fail("field " + key + " must be a string");
          bad = true;
          return false;
        }
        out = v.Scalar();
        return true;
      };
      if (key == "source_labels") {
        has_source = !v.IsNull();
        if (v.IsNull()) continue;
        if (!v.IsSequence()) {
          fail("source_labels must be a list of label names");
          bad = true;
          continue;
        }
        for (const auto& s : v) {
          // Names as read: valid UTF-8 whatever the scheme, as Prometheus reads them.
          if (!s.IsScalar() || !is_valid_label_name(s.Scalar(), NameValidation::kUtf8)) {
            fail("\"" + (s.IsScalar() ? s.Scalar() : std::string("?")) +
                 "\" is not a valid label name");
            bad = true;
            continue;
          }
          rule.source_labels.push_back(s.Scalar());
        }
      } else if (key == "separator") {
        // A null value is the empty string, not the default (Prometheus 3.14).
        if (v.IsNull()) rule.separator.clear();
        has_separator = scalar(rule.separator) || v.IsNull() || has_separator;
      } else if (key == "regex") {
        if (v.IsNull()) rule.regex_text.clear();  // the empty regex: matches only ""
        if (v.IsNull() || scalar(rule.regex_text)) has_regex = true;
      } else if (key == "modulus") {
        std::string m;
        if (!scalar(m)) continue;
        auto [p, ec] = std::from_chars(m.data(), m.data() + m.size(), rule.modulus);
        if (ec != std::errc() || p != m.data() + m.size()) {
          fail("modulus must be an unsigned integer, not \"" + m + "\"");
          bad = true;
        }
        has_modulus = rule.modulus != 0;
      } else if (key == "target_label") {
        has_target = scalar(rule.target_label);
      } else if (key == "replacement") {
        if (v.IsNull()) rule.replacement.clear();
        has_replacement = scalar(rule.replacement) || v.IsNull() || has_replacement;
      } else if (key == "action") {
        std::string a;
        if (v.IsNull()) {
          fail("relabel action cannot be empty");
          bad = true;
        } else if (scalar(a)) {
          std::transform(a.begin(), a.end(), a.begin(),
                         [](unsigned char c) { return std::tolower(c); });
          action_text = a;
        }
      } else {
        fail("field " + key + " not found in type relabel.plain");
        bad = true;
      }
    }
    (void)has_target;
    const auto it = std::find(std::begin(kActionNames), std::end(kActionNames), action_text);
    if (it == std::end(kActionNames)) {
      fail("unknown relabel action \"" + action_text + "\"");
      continue;
    }
    rule.action = static_cast<Action>(it - std::begin(kActionNames));
    std::string regex_error;
    rule.regex = compile(rule.regex_text, regex_error);
    if (!rule.regex) {
      fail(regex_error);
      continue;
    }
    if (bad) continue;

    // Validation, in Prometheus's order and wording.
    const Action a = rule.action;
    const std::string an(action_name(a));
    const bool needs_target = a == Action::kReplace || a == Action::kHashMod ||
                              a == Action::kLowercase || a == Action::kUppercase ||
                              a == Action::kKeepEqual || a == Action::kDropEqual;
    const bool is_case_or_equal = a == Action::kLowercase || a == Action::kUppercase ||
                                  a == Action::kKeepEqual || a == Action::kDropEqual;
    const bool target_has_var = rule.target_label.find('$') != std::string::npos;
    // A name that may hold $ references: any UTF-8 under utf8 (a $ is a valid character
    // there), Prometheus's relabelTarget pattern under legacy.
    auto valid_with_vars = [&](const std::string& v) {
      return names == NameValidation::kUtf8 ? is_valid_label_name(v, names)
                                            : RE2::FullMatch(v, relabel_target_re());
    };
    std::string err;
    if (rule.modulus == 0 && a == Action::kHashMod) {
      err = "relabel configuration for hashmod requires non-zero modulus";
    } else if (needs_target && rule.target_label.empty()) {
      err = "relabel configuration for " + an + " action requires 'target_label' value";
    } else if (a == Action::kReplace && !target_has_var &&
               !is_valid_label_name(rule.target_label, names)) {
      err = "\"" + rule.target_label + "\" is invalid 'target_label' for " + an + " action";
    } else if (a == Action::kReplace && target_has_var && !valid_with_vars(rule.target_label)) {
      err = "\"" + rule.target_label + "\" is invalid 'target_label' for " + an + " action";
    } else if (is_case_or_equal && !is_valid_label_name(rule.target_label, names)) {
      err = "\"" + rule.target_label + "\" is invalid 'target_label' for " + an + " action";
    } else if (is_case_or_equal && rule.replacement != "$1") {
      err = "'replacement' can not be set for " + an + " action";
    } else if (a == Action::kLabelMap && !valid_with_vars(rule.replacement)) {
      err = "\"" + rule.replacement + "\" is invalid 'replacement' for " + an + " action";
    } else if (a == Action::kHashMod && !is_valid_label_name(rule.target_label, names)) {
      err = "\"" + rule.target_label + "\" is invalid 'target_label' for " + an + " action";
    } else if ((a == Action::kKeepEqual || a == Action::kDropEqual) &&
               (has_regex || has_modulus || rule.separator != ";" || rule.replacement != "$1")) {
      err = an + " action requires only 'source_labels' and `target_label`, and no other fields";
    } else if ((a == Action::kLabelDrop || a == Action::kLabelKeep) &&
               (has_source || !rule.target_label.empty() || has_modulus || rule.separator != ";" ||
                rule.replacement != "$1")) {
      err = an + " action requires only 'regex', and no other fields";
    }
    (void)has_replacement;
    (void)has_separator;
    if (!err.empty()) {
      fail(err);
      continue;
    }
    rule.groups_needed = std::max(groups_needed(*rule.regex, rule.target_label),
                                  groups_needed(*rule.regex, rule.replacement));
    rule.matcher.init(rule.regex_text, rule.regex);
    rule.names = names;
    rules.push_back(std::move(rule));
  }
  return rules;
}

RelabelScratch::RelabelScratch() : md5(EVP_MD_CTX_new()) {}
RelabelScratch::~RelabelScratch() { EVP_MD_CTX_free(md5); }

bool process(std::span<const Rule> rules, LabelBuilder& lb) {
  RelabelScratch scratch;
  return process(rules, lb, scratch);
}

bool process(std::span<const Rule> rules, LabelBuilder& lb, RelabelScratch& scratch) {
  std::string& val = scratch.val;
  std::string& target = scratch.target;
  std::string& res = scratch.res;
  std::vector<re2::StringPiece>& groups = scratch.groups;
  std::vector<proto::Label>& visible = scratch.visible;
  std::vector<std::pair<std::string, std::string>>& changes = scratch.changes;
  for (const Rule& rule : rules) {
    val.clear();
    for (size_t i = 0; i < rule.source_labels.size(); ++i) {
      if (i > 0) val += rule.separator;
      val += lb.get(rule.source_labels[i]);
    }
    const RE2& re = *rule.regex;
    switch (rule.action) {
      case Action::kDrop:
        if (rule.matcher.matches(val)) return false;
        break;
      case Action::kKeep:
        if (!rule.matcher.matches(val)) return false;
        break;
      case Action::kDropEqual:
        if (lb.get(rule.target_label) == val) return false;
        break;
      case Action::kKeepEqual:
        if (lb.get(rule.target_label) != val) return false;
        break;
      case Action::kReplace: {
        // No match: no replacement.
        if (!match_groups(re, val, groups, rule.groups_needed)) break;
        expand(re, rule.target_label, groups, target);
        if (!is_valid_label_name(target, rule.names)) break;
        expand(re, rule.replacement, groups, res);
        if (res.empty()) {
          lb.del(target);
        } else {
          lb.set(target, res);
        }
        break;
      }
      case Action::kLowercase:
        lb.set(rule.target_label, change_case(val, false));
        break;
      case Action::kUppercase:
        lb.set(rule.target_label, change_case(val, true));
        break;
      case Action::kHashMod:
        lb.set(rule.target_label, std::to_string(md5_tail(val, scratch.md5) % rule.modulus));
        break;
      case Action::kLabelMap:
      case Action::kLabelDrop:
      case Action::kLabelKeep: {
        // Decide on a snapshot of the labels first, then modify: the same outcome as
        // Prometheus's Builder.Range, which also iterates over the labels as they were.
        lb.visible(visible);
        changes.clear();
        for (const proto::Label& l : visible) {
          const bool m = rule.matcher.matches(l.name);
          if (rule.action == Action::kLabelMap && m) {
            changes.emplace_back(replace_all(re, l.name, rule.replacement), std::string(l.value));
          } else if ((rule.action == Action::kLabelDrop && m) ||
                     (rule.action == Action::kLabelKeep && !m)) {
            changes.emplace_back(std::string(l.name), std::string());
          }
        }
        for (const auto& [name, value] : changes) {
          if (rule.action == Action::kLabelMap) {
            lb.set(name, value);
          } else {
            lb.del(name);
          }
        }
        break;
      }
    }
  }
  return true;
}

}  // namespace rwgate::relabel
