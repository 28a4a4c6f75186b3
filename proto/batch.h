// The decoded form of one remote_write request, shared by RW 1.0 and RW 2.0.
//
// Every string is a string_view into the request's decompressed bytes (or, for RW 2.0,
// into its symbols, which live in those same bytes), so the Batch is only valid while that
// buffer is. All per-series parts are stored in flat vectors that the connection reuses
// from request to request: after warm-up, decoding allocates nothing.
//
// Native histograms are kept as their raw message bytes: the RW 1.0 and RW 2.0 Histogram
// messages share field numbers, so the bytes pass through in either direction untouched.
//
// Start timestamps (RW 2.0-rc.4: Sample field 3, Histogram field 17) are held per sample.
// An rc.3 sender's per-series created_timestamp (TimeSeries field 6) is spread onto every
// sample and histogram of its series that has none of its own, so one form serves both.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace rwgate::proto {

// Same numbers in RW 1.0 MetricMetadata.MetricType and RW 2.0 Metadata.MetricType.
enum class MetricType : uint8_t {
  kUnknown = 0,
  kCounter = 1,
  kGauge = 2,
  kHistogram = 3,
  kGaugeHistogram = 4,
  kSummary = 5,
  kInfo = 6,
  kStateset = 7,
};

struct Label {
  std::string_view name;
  std::string_view value;
  friend bool operator==(const Label&, const Label&) = default;
};

struct Sample {
  double value;
  int64_t timestamp;
  int64_t start_timestamp = 0;  // RW 2.0 only; 0 = not set
};

struct Exemplar {
  uint32_t labels_begin;  // into Batch::exemplar_labels
  uint32_t labels_count;
  double value;
  int64_t timestamp;
};

struct Histogram {
  std::string_view raw;         // the whole Histogram message, as received
  int64_t timestamp;            // field 15, read out for ordering and staleness
  int64_t start_timestamp = 0;  // field 17, or the series' rc.3 created_timestamp; 0 = not set
  // Whether `raw` holds field 17 itself; when not, an RW 2.0 encoder appends it.
  bool raw_has_start = false;
};

// RW 2.0 per-series metadata. `present` is false when the series carried none.
struct SeriesMetadata {
  MetricType type = MetricType::kUnknown;
  std::string_view help;
  std::string_view unit;
  bool present = false;
};

// RW 1.0 request-level metadata for one metric family.
struct FamilyMetadata {
  MetricType type = MetricType::kUnknown;
  std::string_view family_name;
  std::string_view help;
  std::string_view unit;
};

struct Series {
  uint32_t labels_begin = 0;  // into Batch::labels; sorted by name, names unique
  uint32_t labels_count = 0;
  uint32_t samples_begin = 0;
  uint32_t samples_count = 0;
  uint32_t histograms_begin = 0;
  uint32_t histograms_count = 0;
  uint32_t exemplars_begin = 0;
  uint32_t exemplars_count = 0;
  // The series' tenant (sinks/tenant_sinks.h TenantNames id), set by the tenancy stage;
  // 0: no tenant (tenancy off).
  uint32_t tenant = 0;
  SeriesMetadata metadata;
  // RW 1.0: the series' Label fields exactly as received, when they were contiguous and
  // already canonical (sorted, no empty values, each field as append_labels_v1 writes it:
  // name then value, minimal lengths), else empty. The bytes are then a function of the
  // label set: equal bytes mean an equal label set and the other way round.
  std::string_view raw_labels;
};

struct Batch {
  std::vector<Series> series;
  std::vector<Label> labels;
  std::vector<Sample> samples;
  std::vector<Histogram> histograms;
  std::vector<Exemplar> exemplars;
  std::vector<Label> exemplar_labels;
  std::vector<FamilyMetadata> metadata;
  // With tenancy, the tenant of a request's RW 1.0 metadata that no series of the request
  // claims (Prometheus sends its metadata in requests of its own): the sender's tenant or
  // the default (0: none; such metadata reaches no store that keeps tenants apart).
  uint32_t metadata_tenant = 0;

  void clear() {
    metadata_tenant = 0;
    series.clear();
    labels.clear();
    samples.clear();
    histograms.clear();
    exemplars.clear();
    exemplar_labels.clear();
    metadata.clear();
  }

  std::span<const Label> labels_of(const Series& s) const {
    return {labels.data() + s.labels_begin, s.labels_count};
  }
  std::span<const Sample> samples_of(const Series& s) const {
    return {samples.data() + s.samples_begin, s.samples_count};
  }
  std::span<const Histogram> histograms_of(const Series& s) const {
    return {histograms.data() + s.histograms_begin, s.histograms_count};
  }
  std::span<const Exemplar> exemplars_of(const Series& s) const {
    return {exemplars.data() + s.exemplars_begin, s.exemplars_count};
  }
  std::span<const Label> labels_of(const Exemplar& e) const {
    return {exemplar_labels.data() + e.labels_begin, e.labels_count};
  }
};

// A series as one sink will encode it: its index in Batch::series and its output labels
// (the series' own, or the result of relabeling, owned by the relabel cache).
struct SeriesOut {
  uint32_t index;
  std::span<const Label> labels;
  // hash_labels(labels): the sink's shard key, computed once (cached with the labels).
  uint64_t hash = 0;
  // The same labels as RW 1.0 Label fields (TimeSeries field 1), ready to copy into a
  // request, or empty when the encoder must write them from `labels`.
  std::string_view encoded_labels = {};
};

// Value of a label in a sorted label set, or empty when absent.
std::string_view label_value(std::span<const Label> labels, std::string_view name);

// `text` in double quotes, with \\, \", \n and \xNN escapes: one printable line.
std::string quote(std::string_view text);
// A label set as Prometheus prints one, {a="1", b="2"}, cut at about 1000 bytes: for
// one-line refusal reasons.
std::string format_labels(std::span<const Label> labels);

// The float value Prometheus writes as a staleness marker; compare bits, never values.
inline constexpr uint64_t kStaleNaNBits = 0x7ff0000000000002ULL;

}  // namespace rwgate::proto
