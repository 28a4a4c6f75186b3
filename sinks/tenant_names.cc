#include "sinks/tenant_names.h"

#include <cctype>

#include "proto/batch.h"

namespace rwgate::sinks {

std::string tenant_name_problem(std::string_view name) {
  if (name.empty()) return "tenant name is empty";
  if (name.size() > 150)
    return "tenant name is " + std::to_string(name.size()) + " characters long; at most 150";
  if (name == "." || name == "..") return "tenant name may not be \".\" or \"..\"";
  for (const char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || std::string_view("!-_.*'()").find(c) != std::string_view::npos) continue;
    std::string shown = u < 0x20 || u >= 0x7f ? "byte 0x" : "'";
    if (u < 0x20 || u >= 0x7f) {
      static constexpr char kHex[] = "0123456789abcdef";
      shown += kHex[u >> 4];
      shown += kHex[u & 15];
    } else {
      shown += c;
      shown += '\'';
    }
    return "tenant name " + proto::quote(name) + " has " + shown +
           "; allowed are A-Z a-z 0-9 and !-_.*'()";
  }
  return {};
}

std::optional<uint32_t> TenantNames::intern(std::string_view name, size_t max) {
  std::lock_guard lock(mu_);
  if (auto it = ids_.find(name); it != ids_.end()) return it->second;
  if (names_.size() >= max) return std::nullopt;
  names_.emplace_back(name);
  const auto id = static_cast<uint32_t>(names_.size());
  ids_.emplace(names_.back(), id);
  return id;
}

std::string TenantNames::name(uint32_t id) const {
  std::lock_guard lock(mu_);
  return id == 0 || id > names_.size() ? std::string() : names_[id - 1];
}

size_t TenantNames::size() const {
  std::lock_guard lock(mu_);
  return names_.size();
}

}  // namespace rwgate::sinks
