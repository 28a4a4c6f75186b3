// libFuzzer target: `rwgate relabel` end to end: a rule file, then JSON label lines.
// Input: YAML rules, a line "---", then the lines for stdin. Any input must give an exit
// code of 0 or 2 and output lines that are `null` or a JSON object; never a crash.
#include <unistd.h>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "proxy/relabel_command.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const size_t sep = input.find("\n---\n");
  const std::string rules = input.substr(0, sep);
  const std::string lines = sep == std::string::npos ? "" : input.substr(sep + 5);
  static const std::string path = "/tmp/rwgate-relabel-fuzz-" + std::to_string(getpid()) + ".yml";
  {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f << rules;
  }
  std::istringstream in(lines);
  std::ostringstream out, err;
  const int rc = rwgate::proxy::run_relabel_command(path, rwgate::relabel::NameValidation::kUtf8,
                                                    in, out, err);
  if (rc != 0 && rc != 2) std::abort();
  std::istringstream produced(out.str());
  for (std::string line; std::getline(produced, line);) {
    if (line != "null" && (line.empty() || line.front() != '{' || line.back() != '}')) std::abort();
  }
  return 0;
}
