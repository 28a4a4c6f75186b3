// A series' labels as remote write requires them: empty values dropped, names sorted,
// none empty or twice, __name__ present, and UTF-8 where the caller asks.
#include <algorithm>
#include <string>

#include "base/utf8.h"
#include "proto/decode.h"

namespace rwgate::proto {

namespace {

constexpr std::string_view kMetricName = "__name__";

// a.name < b.name byte by byte: names are short and differ early, where a call to memcmp
// per pair cost more than the compare (3% of a profile of the proxy).
bool name_less(const Label& a, const Label& b) {
  const size_t n = std::min(a.name.size(), b.name.size());
  for (size_t i = 0; i < n; ++i) {
    if (a.name[i] != b.name[i]) {
      return static_cast<unsigned char>(a.name[i]) < static_cast<unsigned char>(b.name[i]);
    }
  }
  return a.name.size() < b.name.size();
}

}  // namespace

Status normalize_series_labels(Label* labels, uint32_t& count, bool* reordered, bool check_utf8) {
  // Drop empty values in place.
  uint32_t kept = 0;
  for (uint32_t i = 0; i < count; ++i) {
    if (!labels[i].value.empty()) labels[kept++] = labels[i];
  }
  count = kept;
  if (count == 0) return Status::error("series has no labels");
  // Strictly increasing names, the usual case, are sorted and hold no name twice.
  uint32_t i = 1;
  while (i < count && name_less(labels[i - 1], labels[i])) ++i;
  if (i < count) {
    if (!std::is_sorted(labels, labels + count, name_less)) {
      if (reordered != nullptr) *reordered = true;
      std::sort(labels, labels + count, name_less);
    }
    for (i = 1; i < count; ++i) {
      if (labels[i].name == labels[i - 1].name) {
        return Status::error("duplicate label name \"" + std::string(labels[i].name) + "\"");
      }
    }
  }
  bool has_name = false;
  for (i = 0; i < count; ++i) {
    if (labels[i].name.empty()) return Status::error("empty label name");
    // Prometheus 3 takes any UTF-8 name and value, and nothing that is not UTF-8.
    if (check_utf8 && !utf8::valid(labels[i].name))
      return Status::error("label name is not valid UTF-8");
    if (check_utf8 && !utf8::valid(labels[i].value)) {
      return Status::error("value of label \"" + std::string(labels[i].name) +
                           "\" is not valid UTF-8");
    }
    if (labels[i].name == kMetricName) has_name = true;
  }
  if (!has_name) return Status::error("series has no __name__ label");
  return {};
}

}  // namespace rwgate::proto
