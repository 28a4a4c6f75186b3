// rwgate's version: `rwgate --version` and the status page.
#pragma once

#include <string_view>

namespace rwgate::proxy {

inline constexpr std::string_view kVersion = "0.1.0";

}  // namespace rwgate::proxy
