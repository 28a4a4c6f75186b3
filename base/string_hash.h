// The hash for unordered containers keyed by std::string that are looked up by
// std::string_view without making a string (heterogeneous lookup, with std::equal_to<>).
#pragma once

#include <cstddef>
#include <functional>
#include <string_view>

namespace rwgate {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

}  // namespace rwgate
