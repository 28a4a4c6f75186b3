// JSON, written and read by hand where a library would be overkill: string literals and
// fields for the admin endpoints, the flat label objects of `rwgate relabel` and `rwgate
// trace` (one object of string values per line), and the members of a request body such as
// POST /api/v1/trace's. In namespace rwgate: the names already say json.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rwgate {

// Parses `{"name": "value", ...}` (strings only, standard escapes including \uXXXX and
// surrogate pairs). Returns false with `why` set on any syntax error or a repeated name.
bool parse_label_object(std::string_view text,
                        std::vector<std::pair<std::string, std::string>>& out, std::string& why);

// Parses a JSON object's members without reading their values: each name with the JSON
// text of its value (a string still quoted, an object with its braces). Refuses a syntax
// error anywhere, a repeated name, and nesting deeper than 64.
bool parse_object_members(std::string_view text,
                          std::vector<std::pair<std::string, std::string_view>>& out,
                          std::string& why);
// The value of the JSON string literal `text` (quotes included).
bool parse_json_string(std::string_view text, std::string& out, std::string& why);

// Appends `s` as a JSON string literal.
void append_json_string(std::string& out, std::string_view s);
// Appends `"name":"value",` (the comma included: the caller closes the object).
void append_json_field(std::string& out, std::string_view name, std::string_view value);
// Appends `["a","b",…]`.
void append_json_strings(std::string& out, std::span<const std::string> values);
// Appends `{"name":"value",…}` from (name, value) pairs of strings, in their order: a label
// set, a map of tags.
template <typename Pairs>
void append_json_object(std::string& out, const Pairs& pairs) {
  out += '{';
  bool first = true;
  for (const auto& [name, value] : pairs) {
    if (!first) out += ',';
    first = false;
    append_json_string(out, name);
    out += ':';
    append_json_string(out, value);
  }
  out += '}';
}

}  // namespace rwgate
