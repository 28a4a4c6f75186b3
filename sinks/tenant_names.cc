#include "sinks/tenant_names.h"

namespace rwgate::sinks {

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
