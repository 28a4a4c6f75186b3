// `rwgate relabel --rules FILE`: try relabel rules on label sets before deploying them.
#pragma once

#include <istream>
#include <ostream>
#include <string>

#include "relabel/rule.h"

namespace rwgate::proxy {

// Reads JSON label objects from `in`, one a line, and writes each result (sorted keys) or
// `null` to `out`; errors go to `err`. Returns the exit code: 2 for an invalid rule file.
// `names`: the name validation scheme the rules are checked and applied with.
int run_relabel_command(const std::string& rules_file, relabel::NameValidation names,
                        std::istream& in, std::ostream& out, std::ostream& err);

}  // namespace rwgate::proxy
