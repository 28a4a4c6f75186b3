#include "base/json.h"

#include <algorithm>
#include <cstdio>

#include "base/utf8.h"

namespace rwgate {

namespace {

class Parser {
 public:
  explicit Parser(std::string_view s) : s_(s) {}

  void ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\r' || s_[i_] == '\n'))
      ++i_;
  }
  bool eat(char c) {
    ws();
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  bool at_end() {
    ws();
    return i_ == s_.size();
  }
  size_t pos() const { return i_; }

  bool hex4(uint32_t& v) {
    if (s_.size() - i_ < 4) return false;
    v = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = s_[i_++];
      v <<= 4;
      if (c >= '0' && c <= '9') {
        v |= static_cast<uint32_t>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        v |= static_cast<uint32_t>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        v |= static_cast<uint32_t>(c - 'A' + 10);
      } else {
        return false;
      }
    }
    return true;
  }

  bool string(std::string& out, std::string& why) {
    ws();
    if (i_ >= s_.size() || s_[i_] != '"') {
      why = "expected a string at offset " + std::to_string(i_);
      return false;
    }
    ++i_;
    out.clear();
    while (i_ < s_.size()) {
      const char c = s_[i_++];
      if (c == '"') return true;
      if (static_cast<unsigned char>(c) < 0x20) {
        why = "control character in a string at offset " + std::to_string(i_ - 1);
        return false;
      }
      if (c != '\\') {
        out.push_back(c);
        continue;
      }
      if (i_ >= s_.size()) break;
      const char e = s_[i_++];
      switch (e) {
        case '"':
          out.push_back('"');
          break;
        case '\\':
          out.push_back('\\');
          break;
        case '/':
          out.push_back('/');
          break;
        case 'b':
          out.push_back('\b');
          break;
        case 'f':
          out.push_back('\f');
          break;
        case 'n':
          out.push_back('\n');
          break;
        case 'r':
          out.push_back('\r');
          break;
        case 't':
          out.push_back('\t');
          break;
        case 'u': {
          uint32_t cp = 0;
          if (!hex4(cp)) {
            why = "bad \\u escape at offset " + std::to_string(i_);
            return false;
          }
          if (cp >= 0xd800 && cp <= 0xdbff) {
            uint32_t lo = 0;
            if (s_.substr(i_, 2) != "\\u" || (i_ += 2, !hex4(lo)) || lo < 0xdc00 || lo > 0xdfff) {
              why = "unpaired surrogate in a \\u escape";
              return false;
            }
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
          } else if (cp >= 0xdc00 && cp <= 0xdfff) {
            why = "unpaired surrogate in a \\u escape";
            return false;
          }
          utf8::encode_rune(static_cast<char32_t>(cp), out);
          break;
        }
        default:
          why = std::string("bad escape \\") + e;
          return false;
      }
    }
    why = "unterminated string";
    return false;
  }

  // Skips one value of any kind (nested at most kMaxDepth deep); false with `why`.
  bool skip_value(std::string& why, int depth = 0) {
    static constexpr int kMaxDepth = 64;
    ws();
    if (i_ >= s_.size()) {
      why = "expected a value at offset " + std::to_string(i_);
      return false;
    }
    const char c = s_[i_];
    if (c == '"') {
      std::string ignored;
      return string(ignored, why);
    }
    if (c != '{' && c != '[') {  // a number, true, false or null
      const size_t from = i_;
      while (i_ < s_.size() &&
             std::string_view(",}] \t\r\n").find(s_[i_]) == std::string_view::npos)
        ++i_;
      const std::string_view word = s_.substr(from, i_ - from);
      if (word.empty() || (word != "true" && word != "false" && word != "null" &&
                           word.find_first_not_of("0123456789+-.eE") != std::string_view::npos)) {
        why = "bad value at offset " + std::to_string(from);
        return false;
      }
      return true;
    }
    if (depth >= kMaxDepth) {
      why = "nested too deep";
      return false;
    }
    const char close = c == '{' ? '}' : ']';
    ++i_;
    if (eat(close)) return true;
    for (;;) {
      if (c == '{') {
        std::string name;
        if (!string(name, why)) return false;
        if (!eat(':')) {
          why = "expected ':' at offset " + std::to_string(i_);
          return false;
        }
      }
      if (!skip_value(why, depth + 1)) return false;
      if (eat(close)) return true;
      if (!eat(',')) {
        why = "expected ',' or '" + std::string(1, close) + "' at offset " + std::to_string(i_);
        return false;
      }
    }
  }

 private:
  std::string_view s_;
  size_t i_ = 0;
};

}  // namespace

namespace {

// Walks `{"name": <value>, ...}`: `value(p, name, why)` reads each member's value from `p`;
// a repeated name is refused with `repeated(name)`. Nothing may follow the object.
template <class ReadValue, class Repeated>
bool read_members(std::string_view text, const char* not_an_object, ReadValue value,
                  Repeated repeated, std::string& why) {
  Parser p(text);
  if (!p.eat('{')) {
    why = not_an_object;
    return false;
  }
  std::vector<std::string> seen;
  if (!p.eat('}')) {
    for (;;) {
      std::string name;
      if (!p.string(name, why)) return false;
      if (!p.eat(':')) {
        why = "expected ':' after \"" + name + "\"";
        return false;
      }
      if (!value(p, name, why)) return false;
      if (std::find(seen.begin(), seen.end(), name) != seen.end()) {
        why = repeated(name);
        return false;
      }
      seen.push_back(std::move(name));
      if (p.eat('}')) break;
      if (!p.eat(',')) {
        why = "expected ',' or '}' at offset " + std::to_string(p.pos());
        return false;
      }
    }
  }
  if (!p.at_end()) {
    why = "unexpected text after the object";
    return false;
  }
  return true;
}

}  // namespace

bool parse_label_object(std::string_view text,
                        std::vector<std::pair<std::string, std::string>>& out, std::string& why) {
  out.clear();
  return read_members(
      text, "expected a JSON object of label names to string values",
      [&out](Parser& p, const std::string& name, std::string& why) {
        std::string value;
        if (!p.string(value, why)) {
          why = "the value of \"" + name + "\" must be a string (" + why + ")";
          return false;
        }
        out.emplace_back(name, std::move(value));
        return true;
      },
      [](const std::string& name) { return "label \"" + name + "\" appears twice"; }, why);
}

bool parse_object_members(std::string_view text,
                          std::vector<std::pair<std::string, std::string_view>>& out,
                          std::string& why) {
  out.clear();
  return read_members(
      text, "expected a JSON object",
      [&out, text](Parser& p, const std::string& name, std::string& why) {
        p.ws();
        const size_t from = p.pos();
        if (!p.skip_value(why)) return false;
        out.emplace_back(name, text.substr(from, p.pos() - from));
        return true;
      },
      [](const std::string& name) { return "\"" + name + "\" appears twice"; }, why);
}

bool parse_json_string(std::string_view text, std::string& out, std::string& why) {
  Parser p(text);
  if (!p.string(out, why)) return false;
  if (!p.at_end()) {
    why = "unexpected text after the string";
    return false;
  }
  return true;
}

void append_json_string(std::string& out, std::string_view s) {
  out.push_back('"');
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
          out += buf;
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

}  // namespace rwgate

namespace rwgate {

void append_json_field(std::string& out, std::string_view name, std::string_view value) {
  append_json_string(out, name);
  out += ":";
  append_json_string(out, value);
  out += ",";
}

void append_json_strings(std::string& out, std::span<const std::string> values) {
  out += "[";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ",";
    append_json_string(out, values[i]);
  }
  out += "]";
}

}  // namespace rwgate
