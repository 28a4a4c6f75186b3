#include "aws/xml.h"

#include <expat.h>

namespace rwgate::aws {

namespace {

constexpr size_t kMaxDepth = 64;
constexpr size_t kMaxNodes = 2'000'000;

struct Builder {
  XmlNode root;
  std::vector<XmlNode*> stack;
  size_t nodes = 0;
  std::string error;
  XML_Parser parser = nullptr;

  void fail(std::string why) {
    if (error.empty()) error = std::move(why);
    XML_StopParser(parser, XML_FALSE);
  }
};

void on_start(void* data, const XML_Char* name, const XML_Char** /*attrs*/) {
  auto* b = static_cast<Builder*>(data);
  if (b->stack.size() >= kMaxDepth) return b->fail("XML nested deeper than 64 elements");
  if (++b->nodes > kMaxNodes) return b->fail("XML has more than 2 million elements");
  std::string_view n(name);
  if (const size_t colon = n.rfind(':'); colon != std::string_view::npos)
    n.remove_prefix(colon + 1);
  XmlNode* parent = b->stack.back();
  parent->children.push_back(XmlNode{std::string(n), {}, {}});
  b->stack.push_back(&parent->children.back());
}

void on_end(void* data, const XML_Char* /*name*/) {
  auto* b = static_cast<Builder*>(data);
  if (b->stack.size() > 1) b->stack.pop_back();
}

void on_text(void* data, const XML_Char* s, int len) {
  auto* b = static_cast<Builder*>(data);
  b->stack.back()->text.append(s, static_cast<size_t>(len));
}

}  // namespace

const XmlNode* XmlNode::child(std::string_view n) const {
  for (const XmlNode& c : children) {
    if (c.name == n) return &c;
  }
  return nullptr;
}

std::string_view XmlNode::child_text(std::string_view n) const {
  const XmlNode* c = child(n);
  return c == nullptr ? std::string_view() : std::string_view(c->text);
}

const XmlNode* XmlNode::find(std::initializer_list<std::string_view> path) const {
  const XmlNode* at = this;
  for (std::string_view p : path) {
    at = at->child(p);
    if (at == nullptr) return nullptr;
  }
  return at;
}

std::vector<const XmlNode*> XmlNode::all(std::string_view n) const {
  std::vector<const XmlNode*> out;
  for (const XmlNode& c : children) {
    if (c.name == n) out.push_back(&c);
  }
  return out;
}

std::unique_ptr<XmlNode> parse_xml(std::string_view text, std::string& error) {
  Builder b;
  b.stack.push_back(&b.root);
  b.parser = XML_ParserCreate(nullptr);
  if (b.parser == nullptr) {
    error = "out of memory";
    return nullptr;
  }
  XML_SetUserData(b.parser, &b);
  XML_SetElementHandler(b.parser, on_start, on_end);
  XML_SetCharacterDataHandler(b.parser, on_text);
  // The stack points into `children` vectors: safe, as an element only gains children
  // while it is on top, so no vector holding an open element ever grows.
  if (text.size() > (1u << 30)) {
    XML_ParserFree(b.parser);
    error = "XML document over 1 GiB";
    return nullptr;
  }
  const bool ok =
      XML_Parse(b.parser, text.data(), static_cast<int>(text.size()), XML_TRUE) == XML_STATUS_OK;
  if (!ok && b.error.empty()) {
    b.error = std::string("malformed XML at line ") +
              std::to_string(XML_GetCurrentLineNumber(b.parser)) + ": " +
              XML_ErrorString(XML_GetErrorCode(b.parser));
  }
  XML_ParserFree(b.parser);
  if (!b.error.empty()) {
    error = b.error;
    return nullptr;
  }
  if (b.root.children.size() != 1) {
    error = "XML document has no root element";
    return nullptr;
  }
  return std::make_unique<XmlNode>(std::move(b.root.children.front()));
}

}  // namespace rwgate::aws
