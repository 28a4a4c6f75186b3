// Encoders for remote_write request bodies (before snappy).
//
// RW 1.0 requests are plain concatenations of fields, so a sink builds one incrementally:
// append TimeSeries after TimeSeries into a buffer, then metadata. RW 2.0 needs a symbol
// table that comes first on the wire, so V2RequestBuilder interns strings as series arrive
// and writes the table and the series at finish().
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "proto/batch.h"
#include "proto/decode.h"

namespace rwgate::proto {

// Appends one WriteRequest.timeseries entry for `series` of `batch`, with `labels` as its
// labels (the output of relabeling; may be the series' own labels). When
// `encoded_labels` is not empty it is those labels already encoded as Label fields (see
// append_labels_v1) and is copied as is.
void append_series_v1(std::string& out, const Batch& batch, const Series& series,
                      std::span<const Label> labels, std::string_view encoded_labels = {});
// Appends `labels` as TimeSeries Label fields (field 1): what append_series_v1 copies.
void append_labels_v1(std::string& out, std::span<const Label> labels);
// How many bytes append_labels_v1(labels) appends.
size_t labels_v1_size(std::span<const Label> labels);
// Pre-encoded Label fields to insert among a series' own: before the sender's field that
// starts `at` bytes into its raw_labels (at == raw.size(): after the last one).
struct FieldInsert {
  size_t at = 0;
  std::string_view fields;
};
// Appends `raw` (Series::raw_labels: the sender's Label fields, canonical) with each
// insert's fields placed at its offset: a few copies instead of writing every label again.
// The caller picks the offsets so that names stay in order; in canonical bytes label k's
// field starts where label k-1's value ends (raw_field_start). False, with `out`
// unchanged, when an offset is past the end or before the one ahead of it.
bool splice_fields_v1(std::string& out, std::string_view raw, std::span<const FieldInsert> inserts);
// Where in[k]'s Label field starts in `raw`, the canonical raw_labels of the series whose
// labels are `in` (k == in.size(): raw.size()).
inline size_t raw_field_start(std::string_view raw, std::span<const Label> in, size_t k) {
  if (k == 0) return 0;
  return static_cast<size_t>(in[k - 1].value.data() + in[k - 1].value.size() - raw.data());
}
// Reads Label fields written by append_labels_v1 back into views of `encoded`. Returns
// false on bytes it did not write (a truncated or foreign encoding).
bool read_labels_v1(std::string_view encoded, std::vector<Label>& out);
// Whether `encoded` is exactly what append_labels_v1(labels) writes (the same label set).
bool labels_equal_v1(std::span<const Label> labels, std::string_view encoded);
// Appends one WriteRequest.metadata entry.
void append_metadata_v1(std::string& out, const FamilyMetadata& md);

class V2RequestBuilder {
 public:
  V2RequestBuilder();
  void add_series(const Batch& batch, const Series& series, std::span<const Label> labels,
                  const SeriesMetadata& metadata);
  // Writes the whole Request into `out` (replacing its content) and resets the builder.
  void finish(std::string& out);
  bool empty() const { return series_.empty(); }
  // Bytes held: a bound for the queue's accounting.
  size_t size_bytes() const { return series_.size() + symbol_bytes_; }

 private:
  uint32_t intern(std::string_view s);
  void add_timeseries(const Batch& batch, const Series& series, std::span<const Label> labels,
                      const SeriesMetadata& metadata, std::span<const Sample> samples,
                      std::span<const Histogram> histograms, int64_t start, bool first);
  void append_refs(std::string& out, uint32_t field, std::span<const Label> labels);

  // Interned strings live in fixed blocks so the views keyed in `index_` stay valid.
  std::vector<std::unique_ptr<char[]>> blocks_;
  size_t block_used_ = 0;
  size_t block_size_ = 0;
  std::vector<std::string_view> symbols_;
  std::unordered_map<std::string_view, uint32_t> index_;
  size_t symbol_bytes_ = 0;
  std::string series_;  // encoded TimeSeries entries (field 5), in order
  std::string scratch_;
  std::vector<uint32_t> refs_;
};

// Encodes a whole Batch in the given protocol (replacing `out`). RW 1.0 metadata becomes
// RW 2.0 per-series metadata by metric family name and vice versa.
void encode_batch(Protocol protocol, const Batch& batch, std::string& out);

// What `find(family)` gives for the family of a series named `name`: its exact name, else
// the name without a _bucket/_sum/_count/_total/_created/_info suffix; nullptr when none.
template <typename Find>
auto find_by_family(std::string_view name, Find find) -> decltype(find(name)) {
  if (name.empty()) return nullptr;
  if (auto found = find(name)) return found;
  static constexpr std::string_view kSuffixes[] = {"_bucket", "_sum",     "_count",
                                                   "_total",  "_created", "_info"};
  for (std::string_view suffix : kSuffixes) {
    if (name.size() > suffix.size() && name.ends_with(suffix)) {
      if (auto found = find(name.substr(0, name.size() - suffix.size()))) return found;
    }
  }
  return nullptr;
}

// The family metadata of `metadata` that applies to a series named `name`, or nullptr.
const FamilyMetadata* find_family_metadata(std::span<const FamilyMetadata> metadata,
                                           std::string_view name);

}  // namespace rwgate::proto
