#include "sinks/family_metadata.h"

#include "base/log.h"
#include "proto/encode.h"

namespace rwgate::sinks {

void FamilyMetadataCache::learn(std::span<const proto::FamilyMetadata> entries) {
  std::unique_lock lock(mu_);
  for (const proto::FamilyMetadata& md : entries) {
    if (md.family_name.empty()) continue;
    auto it = families_.find(md.family_name);
    if (it == families_.end()) {
      if (families_.size() >= kMaxFamilies) {
        if (!full_logged_) {
          full_logged_ = true;
          log::warn(
              "metadata of more metric families than a sink remembers; the rest goes "
              "out without it to RW 2.0 stores",
              {{"component", "sink"}, {"limit", std::to_string(kMaxFamilies)}});
        }
        continue;
      }
      it = families_.emplace(std::string(md.family_name), Entry{}).first;
    }
    it->second = Entry{md.type, std::string(md.help), std::string(md.unit)};
  }
}

proto::SeriesMetadata FamilyMetadataCache::Reader::find(std::string_view name) const {
  // Most RW 2.0 sinks never see an RW 1.0 metadata request: no lookups per series then.
  if (cache_.families_.empty()) return {};
  const Entry* e = proto::find_by_family(name, [&](std::string_view family) -> const Entry* {
    const auto it = cache_.families_.find(family);
    return it == cache_.families_.end() ? nullptr : &it->second;
  });
  if (e == nullptr) return {};
  return {e->type, e->help, e->unit, true};
}

}  // namespace rwgate::sinks
