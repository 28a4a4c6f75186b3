// rwgate's version and build: `rwgate --version`, rwgate_build_info and the status page.
// The values come from CMake (the project version) and git at build time
// (cmake/build_info.cmake writes build_info.cc).
#pragma once

#include <string>
#include <string_view>

namespace rwgate::proxy {

struct BuildInfo {
  std::string_view version;   // the project version: 0.1.0
  std::string_view revision;  // the git commit, or "unknown" outside a git checkout
  std::string_view branch;
  std::string_view build_date;  // YYYYMMDD-HH:MM:SS, UTC, as Prometheus prints it
  std::string_view build_user;  // user@host
  std::string_view compiler;    // "GNU 12.2.0"
  std::string_view platform;    // linux/amd64
};

const BuildInfo& build_info();

// What `rwgate --version` prints, in Prometheus's layout.
std::string version_text();

}  // namespace rwgate::proxy
