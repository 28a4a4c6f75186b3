// Prometheus relabel_config rules: parsing, validation and application.
//
// The behaviour follows Prometheus 3's model/relabel package rule for rule, so that a rule
// that works in a Prometheus config does exactly the same here:
//   - regexes are RE2 (Go's regexp is RE2), anchored as ^(?s:regex)$: `.` matches a
//     newline too (Prometheus 3.0); Go's named groups (?<name>...) are taken as well as
//     (?P<name>...);
//   - $1, ${1}, $name, ${name} expand as Go's Regexp.Expand does ($1x names group "1x",
//     $$ is a literal $, a malformed $ stays as text);
//   - an empty label value is the same as an absent label;
//   - label names are checked by the name validation scheme: `utf8` (Prometheus 3's
//     default: any non-empty valid UTF-8) or `legacy` (Prometheus 2's
//     [a-zA-Z_][a-zA-Z0-9_]*, and the target of a replace with $ references must match
//     Prometheus's relabelTarget pattern). It applies to source_labels, target_label (as
//     written, and after expansion for replace), and labelmap's replacement;
//   - lowercase and uppercase write to their target_label as written (no expansion).
#pragma once

#include <re2/re2.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "relabel/label_builder.h"

struct evp_md_ctx_st;  // OpenSSL's EVP_MD_CTX

namespace YAML {
class Node;
}

namespace rwgate::relabel {

enum class Action : uint8_t {
  kReplace,
  kKeep,
  kDrop,
  kKeepEqual,
  kDropEqual,
  kHashMod,
  kLabelMap,
  kLabelDrop,
  kLabelKeep,
  kLowercase,
  kUppercase,
};

std::string_view action_name(Action a);

// Which label names are valid: the top-level `name_validation_scheme`.
enum class NameValidation : uint8_t { kUtf8, kLegacy };
// "utf8" | "legacy"; false for anything else.
bool parse_name_validation(std::string_view text, NameValidation& out);

// Full-match test with fast paths for the regexes relabel rules use most: `.*`, literal
// alternations (`a|b|c`), literal prefixes (`__tmp_.*`) and `.+`. Anything else goes to
// RE2. The fast paths are taken only when the pattern has no metacharacters besides the
// ones they understand, so the answer is always RE2's.
class FullMatcher {
 public:
  void init(const std::string& pattern, std::shared_ptr<const RE2> re);
  bool matches(std::string_view text) const;

 private:
  enum class Kind : uint8_t { kRe2, kAny, kNonEmpty, kLiterals, kPrefix };
  Kind kind_ = Kind::kRe2;
  std::vector<std::string> literals_;  // kLiterals: any of them; kPrefix: literals_[0]
  std::shared_ptr<const RE2> re_;
};

struct Rule {
  std::vector<std::string> source_labels;
  std::string separator = ";";
  std::shared_ptr<const RE2> regex;  // anchored; never null after parsing
  std::string regex_text = "(.*)";
  uint64_t modulus = 0;
  std::string target_label;
  std::string replacement = "$1";
  Action action = Action::kReplace;
  int groups_needed = 1;  // submatches `replace` must ask for (set by parse_rules)
  NameValidation names = NameValidation::kUtf8;  // checks replace's expanded target
  FullMatcher matcher;                           // regex as a full-match test
};

// Parses a YAML list of relabel_config entries. Problems are appended to `errors` as
// "PATH[i] (line N): message" with Prometheus's wording; rules with errors are left out.
std::vector<Rule> parse_rules(const YAML::Node& list, const std::string& path,
                              std::vector<std::string>& errors,
                              NameValidation names = NameValidation::kUtf8);

// Applies the rules in order; false means the label set was dropped.
// Working space of process(), reused across calls by its owner (one per ingest worker, in
// the label pipeline), so applying rules allocates nothing in the steady state.
struct RelabelScratch {
  RelabelScratch();
  ~RelabelScratch();
  RelabelScratch(const RelabelScratch&) = delete;
  RelabelScratch& operator=(const RelabelScratch&) = delete;
  std::string val, target, res;
  std::vector<re2::StringPiece> groups;
  std::vector<proto::Label> visible;
  std::vector<std::pair<std::string, std::string>> changes;
  ::evp_md_ctx_st* md5 = nullptr;  // hashmod's MD5 context
};

bool process(std::span<const Rule> rules, LabelBuilder& labels, RelabelScratch& scratch);
// The same with scratch space of its own (tools and tests).
bool process(std::span<const Rule> rules, LabelBuilder& labels);

bool is_valid_label_name(std::string_view name, NameValidation names);

}  // namespace rwgate::relabel
