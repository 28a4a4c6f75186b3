// Label sets as text, for one-line refusal reasons (declared in proto/batch.h).
#include <string>

#include "proto/batch.h"

namespace rwgate::proto {

std::string quote(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (u < 0x20 || u == 0x7f) {
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 15];
    } else {
      out += c;  // UTF-8 passes as it is
    }
  }
  out += '"';
  return out;
}

std::string format_labels(std::span<const Label> labels) {
  std::string out = "{";
  for (size_t i = 0; i < labels.size(); ++i) {
    if (out.size() > 1000) {
      out += ", ...";
      break;
    }
    if (i > 0) out += ", ";
    out.append(labels[i].name).append("=").append(quote(labels[i].value));
  }
  out += '}';
  return out;
}

}  // namespace rwgate::proto
