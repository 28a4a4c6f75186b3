#include "base/secret_file.h"

#include <fstream>
#include <sstream>

namespace rwgate {

std::string_view trim_space(std::string_view s) {
  constexpr std::string_view kSpace = " \t\n\v\f\r";
  const size_t begin = s.find_first_not_of(kSpace);
  if (begin == std::string_view::npos) return {};
  return s.substr(begin, s.find_last_not_of(kSpace) - begin + 1);
}

Status read_secret_file(const std::string& path, std::string& out) {
  out.clear();
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::error("cannot open \"" + path + "\"");
  std::stringstream text;
  text << in.rdbuf();
  if (in.bad()) return Status::error("cannot read \"" + path + "\"");
  out = std::string(trim_space(text.str()));
  if (out.empty()) return Status::error("\"" + path + "\" is empty");
  return Status();
}

}  // namespace rwgate
