// A mutable view of a label set, with the exact semantics of Prometheus's labels.Builder
// (which relabel rules are written against): the base set plus ordered additions and
// deletions. Iteration (for_each) sees a snapshot: base labels that are neither deleted
// nor re-added, in name order, then the additions in the order they were made (visible()).
// labelmap depends on that order when two labels map to the same name.
#pragma once

#include <algorithm>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "proto/batch.h"

namespace rwgate::relabel {

// Label names are short and often share a length; checking the first byte before the
// full compare keeps most mismatches out of memcmp.
inline bool same_name(std::string_view a, std::string_view b) {
  return a.size() == b.size() && (a.empty() || a[0] == b[0]) && a == b;
}

class LabelBuilder {
 public:
  // `base` must be sorted by name and stay valid while the builder is used.
  void reset(std::span<const proto::Label> base) {
    base_ = base;
    add_.clear();
    del_.clear();
  }

  std::string_view get(std::string_view name) const {
    // Del() removes from add_ but Set() does not remove from del_: check add_ first.
    for (const auto& a : add_) {
      if (same_name(a.name, name)) return a.value;
    }
    for (const std::string& d : del_) {
      if (same_name(d, name)) return {};
    }
    for (const proto::Label& l : base_) {
      if (same_name(l.name, name)) return l.value;
    }
    return {};
  }

  void set(std::string_view name, std::string_view value) {
    if (value.empty()) return del(name);  // empty is the same as absent
    for (auto& a : add_) {
      if (a.name == name) {
        a.value.assign(value);
        return;
      }
    }
    add_.push_back(Owned{std::string(name), std::string(value)});
  }

  void del(std::string_view name) {
    std::erase_if(add_, [&](const Owned& a) { return a.name == name; });
    if (std::find(del_.begin(), del_.end(), name) == del_.end()) del_.emplace_back(name);
  }

  // The current labels in Prometheus's Range order: base labels that are neither deleted
  // nor re-added (name order), then the additions in the order they were made. Views into
  // additions are invalidated by the next set()/del(): callers collect, then modify.
  void visible(std::vector<proto::Label>& out) const {
    out.clear();
    for (const proto::Label& l : base_) {
      if (is_deleted_or_added(l.name)) continue;
      out.push_back(l);
    }
    for (const Owned& a : add_) out.push_back(proto::Label{a.name, a.value});
  }

  // The resulting label set, sorted by name. Views point into the base or into the builder.
  void labels(std::vector<proto::Label>& out) const {
    visible(out);
    if (!add_.empty()) {
      std::sort(out.begin(), out.end(),
                [](const proto::Label& a, const proto::Label& b) { return a.name < b.name; });
    }
  }

 private:
  struct Owned {
    std::string name;
    std::string value;
  };
  std::span<const proto::Label> base_;
  std::vector<Owned> add_;
  std::vector<std::string> del_;
  bool is_deleted_or_added(std::string_view name) const {
    for (const std::string& d : del_) {
      if (same_name(d, name)) return true;
    }
    for (const Owned& a : add_) {
      if (same_name(a.name, name)) return true;
    }
    return false;
  }
};

}  // namespace rwgate::relabel
