#include "proto/encode.h"

#include <algorithm>
#include <cstring>
#include <unordered_set>

#include "proto/wire.h"

namespace rwgate::proto {

namespace {

size_t bytes_field_size(size_t len) { return 1 + varint_size(len) + len; }

size_t label_msg_size(const Label& l) {
  return bytes_field_size(l.name.size()) + bytes_field_size(l.value.size());
}

bool is_positive_zero(double v) {
  uint64_t bits = 0;
  std::memcpy(&bits, &v, 8);
  return bits == 0;
}

// RW 1.0 has no start timestamp: `with_start` is set for RW 2.0 only.
size_t sample_msg_size(const Sample& s, bool with_start) {
  size_t n = is_positive_zero(s.value) ? 0 : 9;
  if (s.timestamp != 0) n += 1 + varint_size(static_cast<uint64_t>(s.timestamp));
  if (with_start && s.start_timestamp != 0)
    n += 1 + varint_size(static_cast<uint64_t>(s.start_timestamp));
  return n;
}

void write_sample(WireWriter& w, uint32_t field, const Sample& s, bool with_start) {
  w.tag(field, WireType::kLengthDelimited);
  w.varint(sample_msg_size(s, with_start));
  if (!is_positive_zero(s.value)) w.double_field(1, s.value);
  if (s.timestamp != 0) w.varint_field(2, static_cast<uint64_t>(s.timestamp));
  if (with_start && s.start_timestamp != 0)
    w.varint_field(3, static_cast<uint64_t>(s.start_timestamp));
}

// An RW 2.0 Histogram: its received bytes, plus field 17 when the start timestamp came from
// an rc.3 series' created_timestamp rather than from the histogram itself.
void write_histogram_v2(WireWriter& w, const Histogram& h) {
  if (h.start_timestamp == 0 || h.raw_has_start) {
    w.bytes_field(3, h.raw);
    return;
  }
  const auto start = static_cast<uint64_t>(h.start_timestamp);
  w.tag(3, WireType::kLengthDelimited);
  w.varint(h.raw.size() + 2 + varint_size(start));  // field 17's tag takes two bytes
  w.raw(h.raw);
  w.varint_field(17, start);
}

void write_label(WireWriter& w, uint32_t field, const Label& l) {
  w.tag(field, WireType::kLengthDelimited);
  w.varint(label_msg_size(l));
  w.bytes_field(1, l.name);
  w.bytes_field(2, l.value);
}

size_t exemplar_tail_size(const Exemplar& e) {
  size_t n = is_positive_zero(e.value) ? 0 : 9;
  if (e.timestamp != 0) n += 1 + varint_size(static_cast<uint64_t>(e.timestamp));
  return n;
}

void write_exemplar_tail(WireWriter& w, const Exemplar& e) {
  if (!is_positive_zero(e.value)) w.double_field(2, e.value);
  if (e.timestamp != 0) w.varint_field(3, static_cast<uint64_t>(e.timestamp));
}

std::string_view metric_name(std::span<const Label> labels) {
  return label_value(labels, "__name__");
}

}  // namespace

namespace {
char* put_varint(char* p, uint64_t v) {
  while (v >= 0x80) {
    *p++ = static_cast<char>(v | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<char>(v);
  return p;
}

// Copies n bytes without a call when n <= 16: label names and values are mostly that
// short, and a call into memcpy for each costs more than the copy (two overlapping
// loads and stores of 8 or 4 bytes cover any length up to 16).
inline char* put_bytes(char* d, const char* s, size_t n) {
  if (n > 16) {
    std::memcpy(d, s, n);
  } else if (n >= 8) {
    uint64_t a, b;
    std::memcpy(&a, s, 8);
    std::memcpy(&b, s + n - 8, 8);
    std::memcpy(d, &a, 8);
    std::memcpy(d + n - 8, &b, 8);
  } else if (n >= 4) {
    uint32_t a, b;
    std::memcpy(&a, s, 4);
    std::memcpy(&b, s + n - 4, 4);
    std::memcpy(d, &a, 4);
    std::memcpy(d + n - 4, &b, 4);
  } else if (n > 0) {
    d[0] = s[0];
    d[n >> 1] = s[n >> 1];
    d[n - 1] = s[n - 1];
  }
  return d + n;
}

// Writes `l` as a Label field at p; returns the end.
inline char* put_label_v1(char* p, const Label& l) {
  *p++ = 0x0a;  // field 1, length-delimited
  p = put_varint(p, label_msg_size(l));
  *p++ = 0x0a;  // Label.name
  p = put_varint(p, l.name.size());
  p = put_bytes(p, l.name.data(), l.name.size());
  *p++ = 0x12;  // Label.value
  p = put_varint(p, l.value.size());
  return put_bytes(p, l.value.data(), l.value.size());
}

// Writes `labels` as Label fields; `total` is their labels_v1_size.
void write_labels_v1(std::string& out, std::span<const Label> labels, size_t total) {
  // Sized once and written through a pointer: this runs for every series forwarded.
  const size_t at = out.size();
  out.resize(at + total);
  char* p = out.data() + at;
  for (const Label& l : labels) p = put_label_v1(p, l);
}
}  // namespace

size_t labels_v1_size(std::span<const Label> labels) {
  size_t total = 0;
  for (const Label& l : labels) total += bytes_field_size(label_msg_size(l));
  return total;
}

void append_labels_v1(std::string& out, std::span<const Label> labels) {
  write_labels_v1(out, labels, labels_v1_size(labels));
}

bool splice_fields_v1(std::string& out, std::string_view raw,
                      std::span<const FieldInsert> inserts) {
  size_t prev = 0, total = raw.size();
  for (const FieldInsert& ins : inserts) {
    if (ins.at < prev || ins.at > raw.size()) return false;
    prev = ins.at;
    total += ins.fields.size();
  }
  // Appended piece by piece into reserved room: nothing is zero-filled to be overwritten.
  out.reserve(out.size() + total);
  size_t copied = 0;
  for (const FieldInsert& ins : inserts) {
    out.append(raw.data() + copied, ins.at - copied);
    out.append(ins.fields);
    copied = ins.at;
  }
  out.append(raw.data() + copied, raw.size() - copied);
  return true;
}

namespace {
// Equality of short byte strings without a call: label names and values are mostly under
// 16 bytes, where memcmp's dispatch costs more than the compare.
inline bool same_bytes(const char* a, const char* b, size_t n) {
  const auto load64 = [](const char* p) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    return v;
  };
  if (n >= 8) {
    for (; n > 16; n -= 16, a += 16, b += 16) {
      if ((load64(a) ^ load64(b)) | (load64(a + 8) ^ load64(b + 8))) return false;
    }
    if (n > 8 && load64(a) != load64(b)) return false;
    return load64(a + n - 8) == load64(b + n - 8);
  }
  const auto load32 = [](const char* p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
  };
  if (n >= 4) return load32(a) == load32(b) && load32(a + n - 4) == load32(b + n - 4);
  if (n == 0) return true;
  // 1 to 3 bytes: the first, middle and last cover them all.
  return a[0] == b[0] && a[n >> 1] == b[n >> 1] && a[n - 1] == b[n - 1];
}
}  // namespace

bool labels_equal_v1(std::span<const Label> labels, std::string_view encoded) {
  // The encoding is canonical, so the same labels encode to the same bytes: compare them
  // as write_labels_v1 would write them, without writing.
  const char* p = encoded.data();
  const char* const end = p + encoded.size();
  char head[12];
  for (const Label& l : labels) {
    char* h = head;
    *h++ = 0x0a;
    h = put_varint(h, label_msg_size(l));
    *h++ = 0x0a;
    h = put_varint(h, l.name.size());
    const size_t hn = static_cast<size_t>(h - head);
    if (static_cast<size_t>(end - p) < hn + l.name.size() || !same_bytes(p, head, hn) ||
        !same_bytes(p + hn, l.name.data(), l.name.size()))
      return false;
    p += hn + l.name.size();
    h = head;
    *h++ = 0x12;
    h = put_varint(h, l.value.size());
    const size_t vn = static_cast<size_t>(h - head);
    if (static_cast<size_t>(end - p) < vn + l.value.size() || !same_bytes(p, head, vn) ||
        !same_bytes(p + vn, l.value.data(), l.value.size()))
      return false;
    p += vn + l.value.size();
  }
  return p == end;
}

bool read_labels_v1(std::string_view encoded, std::vector<Label>& out) {
  out.clear();
  WireReader r(encoded);
  while (!r.done()) {
    uint32_t field = 0;
    WireType type{};
    std::string_view msg;
    if (!r.read_tag(field, type) || field != 1 || type != WireType::kLengthDelimited ||
        !r.read_bytes(msg)) {
      return false;
    }
    WireReader m(msg);
    std::string_view name, value;
    const auto want = [&](uint32_t f, std::string_view& v) {
      return m.read_tag(field, type) && field == f && type == WireType::kLengthDelimited &&
             m.read_bytes(v);
    };
    if (!want(1, name) || !want(2, value) || !m.done()) {
      return false;
    }
    out.push_back({name, value});
  }
  return true;
}

void append_series_v1(std::string& out, const Batch& batch, const Series& series,
                      std::span<const Label> labels, std::string_view encoded_labels) {
  // Exact body size first, so the length prefix is written once and nothing shifts.
  const size_t labels_size = encoded_labels.empty() ? labels_v1_size(labels) : 0;
  size_t body = encoded_labels.empty() ? labels_size : encoded_labels.size();
  for (const Sample& s : batch.samples_of(series))
    body += bytes_field_size(sample_msg_size(s, false));
  for (const Exemplar& e : batch.exemplars_of(series)) {
    size_t eb = exemplar_tail_size(e);
    for (const Label& l : batch.labels_of(e)) eb += bytes_field_size(label_msg_size(l));
    body += bytes_field_size(eb);
  }
  for (const Histogram& h : batch.histograms_of(series)) body += bytes_field_size(h.raw.size());

  WireWriter w(out);
  out.reserve(out.size() + 1 + varint_size(body) + body);
  w.tag(1, WireType::kLengthDelimited);
  w.varint(body);
  if (encoded_labels.empty()) {
    write_labels_v1(out, labels, labels_size);
  } else {
    out.append(encoded_labels);
  }
  for (const Sample& s : batch.samples_of(series)) write_sample(w, 2, s, false);
  for (const Exemplar& e : batch.exemplars_of(series)) {
    size_t eb = exemplar_tail_size(e);
    for (const Label& l : batch.labels_of(e)) eb += bytes_field_size(label_msg_size(l));
    w.tag(3, WireType::kLengthDelimited);
    w.varint(eb);
    for (const Label& l : batch.labels_of(e)) write_label(w, 1, l);
    write_exemplar_tail(w, e);
  }
  for (const Histogram& h : batch.histograms_of(series)) w.bytes_field(4, h.raw);
}

void append_metadata_v1(std::string& out, const FamilyMetadata& md) {
  size_t body = 0;
  if (md.type != MetricType::kUnknown) body += 2;  // type < 128: tag + one byte
  if (!md.family_name.empty()) body += bytes_field_size(md.family_name.size());
  if (!md.help.empty()) body += bytes_field_size(md.help.size());
  if (!md.unit.empty()) body += bytes_field_size(md.unit.size());
  WireWriter w(out);
  w.tag(3, WireType::kLengthDelimited);
  w.varint(body);
  if (md.type != MetricType::kUnknown) w.varint_field(1, static_cast<uint64_t>(md.type));
  if (!md.family_name.empty()) w.bytes_field(2, md.family_name);
  if (!md.help.empty()) w.bytes_field(4, md.help);
  if (!md.unit.empty()) w.bytes_field(5, md.unit);
}

// ---------------------------------------------------------------------------------------

V2RequestBuilder::V2RequestBuilder() { intern(""); }  // symbols[0] must be ""

uint32_t V2RequestBuilder::intern(std::string_view s) {
  if (auto it = index_.find(s); it != index_.end()) return it->second;
  constexpr size_t kBlock = 64 * 1024;
  if (blocks_.empty() || block_size_ - block_used_ < s.size()) {
    block_size_ = std::max(kBlock, s.size());
    blocks_.push_back(std::make_unique<char[]>(block_size_));
    block_used_ = 0;
  }
  char* dst = blocks_.back().get() + block_used_;
  if (!s.empty()) std::memcpy(dst, s.data(), s.size());
  block_used_ += s.size();
  const std::string_view stored(dst, s.size());
  const auto ref = static_cast<uint32_t>(symbols_.size());
  symbols_.push_back(stored);
  index_.emplace(stored, ref);
  symbol_bytes_ += s.size() + 16;
  return ref;
}

void V2RequestBuilder::append_refs(std::string& out, uint32_t field,
                                   std::span<const Label> labels) {
  refs_.clear();
  for (const Label& l : labels) {
    refs_.push_back(intern(l.name));
    refs_.push_back(intern(l.value));
  }
  if (refs_.empty()) return;
  size_t len = 0;
  for (uint32_t r : refs_) len += varint_size(r);
  WireWriter w(out);
  w.tag(field, WireType::kLengthDelimited);
  w.varint(len);
  for (uint32_t r : refs_) w.varint(r);
}

void V2RequestBuilder::add_series(const Batch& batch, const Series& series,
                                  std::span<const Label> labels, const SeriesMetadata& metadata) {
  // Start timestamps go out both ways: per sample (rc.4) and once per TimeSeries as rc.3's
  // created_timestamp (field 6, which rc.4 reserves, so its receivers skip it). For field 6
  // to be true, a TimeSeries holds one run of samples that share a start timestamp; a series
  // whose start changes mid-batch becomes several, which the spec allows. Floats and
  // histograms never share one (the spec forbids it). Usually there is one run.
  bool first = true;
  // Calls add(run) for each run of consecutive points with one start timestamp.
  const auto runs = [](auto points, auto add) {
    for (size_t i = 0, j = 0; i < points.size(); i = j) {
      for (j = i + 1; j < points.size() && points[j].start_timestamp == points[i].start_timestamp;)
        ++j;
      add(points.subspan(i, j - i));
    }
  };
  runs(batch.samples_of(series), [&](std::span<const Sample> run) {
    add_timeseries(batch, series, labels, metadata, run, {}, run[0].start_timestamp, first);
    first = false;
  });
  runs(batch.histograms_of(series), [&](std::span<const Histogram> run) {
    add_timeseries(batch, series, labels, metadata, {}, run, run[0].start_timestamp, first);
    first = false;
  });
  // A series with neither (RW 1.0 allows one, with exemplars only) has no RW 2.0 form:
  // receivers refuse such a TimeSeries, and with it the request.
}

// One TimeSeries entry; the series' exemplars go with the first of them.
void V2RequestBuilder::add_timeseries(const Batch& batch, const Series& series,
                                      std::span<const Label> labels, const SeriesMetadata& metadata,
                                      std::span<const Sample> samples,
                                      std::span<const Histogram> histograms, int64_t start,
                                      bool first) {
  scratch_.clear();
  WireWriter w(scratch_);
  append_refs(scratch_, 1, labels);
  for (const Sample& s : samples) write_sample(w, 2, s, true);
  for (const Histogram& h : histograms) write_histogram_v2(w, h);
  if (first) {
    for (const Exemplar& e : batch.exemplars_of(series)) {
      const size_t at = w.begin_nested(4);
      append_refs(scratch_, 1, batch.labels_of(e));
      write_exemplar_tail(w, e);
      w.end_nested(at);
    }
  }
  if (metadata.present) {
    const size_t at = w.begin_nested(5);
    if (metadata.type != MetricType::kUnknown)
      w.varint_field(1, static_cast<uint64_t>(metadata.type));
    const uint32_t help = intern(metadata.help);
    const uint32_t unit = intern(metadata.unit);
    if (help != 0) w.varint_field(3, help);
    if (unit != 0) w.varint_field(4, unit);
    w.end_nested(at);
  }
  if (start != 0) w.varint_field(6, static_cast<uint64_t>(start));
  WireWriter(series_).bytes_field(5, scratch_);
}

void V2RequestBuilder::finish(std::string& out) {
  out.clear();
  size_t total = series_.size();
  for (std::string_view s : symbols_) total += bytes_field_size(s.size());
  out.reserve(total);
  WireWriter w(out);
  for (std::string_view s : symbols_) w.bytes_field(4, s);
  out.append(series_);
  // Reset, keeping the first block for reuse.
  series_.clear();
  symbols_.clear();
  index_.clear();
  symbol_bytes_ = 0;
  if (blocks_.size() > 1) blocks_.resize(1);
  block_used_ = 0;
  intern("");
}

// ---------------------------------------------------------------------------------------

const FamilyMetadata* find_family_metadata(std::span<const FamilyMetadata> metadata,
                                           std::string_view name) {
  if (metadata.empty()) return nullptr;
  return find_by_family(name, [&](std::string_view family) -> const FamilyMetadata* {
    for (const FamilyMetadata& md : metadata) {
      if (md.family_name == family) return &md;
    }
    return nullptr;
  });
}

void encode_batch(Protocol protocol, const Batch& batch, std::string& out) {
  out.clear();
  if (protocol == Protocol::kV1) {
    std::unordered_set<std::string_view> families;
    for (const FamilyMetadata& md : batch.metadata) families.insert(md.family_name);
    for (const Series& s : batch.series) append_series_v1(out, batch, s, batch.labels_of(s));
    for (const FamilyMetadata& md : batch.metadata) append_metadata_v1(out, md);
    // RW 2.0 input: per-series metadata becomes one family entry per metric name.
    for (const Series& s : batch.series) {
      if (!s.metadata.present) continue;
      const std::string_view name = metric_name(batch.labels_of(s));
      if (!families.insert(name).second) continue;
      append_metadata_v1(out,
                         FamilyMetadata{s.metadata.type, name, s.metadata.help, s.metadata.unit});
    }
    return;
  }
  V2RequestBuilder builder;
  for (const Series& s : batch.series) {
    SeriesMetadata md = s.metadata;
    if (!md.present) {
      if (const FamilyMetadata* fm =
              find_family_metadata(batch.metadata, metric_name(batch.labels_of(s)))) {
        md = SeriesMetadata{fm->type, fm->help, fm->unit, true};
      }
    }
    builder.add_series(batch, s, batch.labels_of(s), md);
  }
  builder.finish(out);
}

}  // namespace rwgate::proto
