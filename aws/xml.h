// A small DOM over expat, for the AWS Query APIs' XML answers (untrusted bytes: fuzzed).
//
// Element names lose their namespace prefix; text is the concatenated character data of
// an element (entities and CDATA resolved by expat). Depth and node count are bounded.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace rwgate::aws {

struct XmlNode {
  std::string name;
  std::string text;
  std::vector<XmlNode> children;

  // The first child named `name`, or null.
  const XmlNode* child(std::string_view name) const;
  // The text of the first child named `name` (empty when there is none).
  std::string_view child_text(std::string_view name) const;
  // A path of child names: find({"a", "b"}) is child("a")->child("b").
  const XmlNode* find(std::initializer_list<std::string_view> path) const;
  // The children named `name` (AWS lists: <member>, <item>).
  std::vector<const XmlNode*> all(std::string_view name) const;
};

// Parses a whole document; null with `error` set when it is not well-formed XML or goes
// over the bounds (depth 64, 2 million elements).
std::unique_ptr<XmlNode> parse_xml(std::string_view text, std::string& error);

}  // namespace rwgate::aws
