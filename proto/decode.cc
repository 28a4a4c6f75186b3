#include "proto/decode.h"

#include "base/utf8.h"

#include <algorithm>
#include <bit>
#include <string>

#include "proto/histogram.h"
#include "proto/wire.h"

namespace rwgate::proto {

static_assert(std::endian::native == std::endian::little, "the codec assumes a little-endian host");

std::string_view label_value(std::span<const Label> labels, std::string_view name) {
  for (const Label& l : labels) {
    if (l.name == name) return l.value;
  }
  return {};
}

namespace {

std::string where(size_t series_index) { return "series " + std::to_string(series_index) + ": "; }

Status wire_error(std::string_view what) {
  return Status::error(DecodeError::kProtobuf, "invalid protobuf: " + std::string(what));
}

bool expect(WireType got, WireType want) { return got == want; }

// Whether a Histogram message's own fields are well formed (their contents unchecked), as
// the decoder has always told bad protobuf from a refused histogram; reads the timestamp
// (field 15) and start timestamp (field 17). The bytes are forwarded untouched.
bool scan_histogram(std::string_view bytes, Histogram& out) {
  WireReader r(bytes);
  out = Histogram{bytes, 0};
  while (!r.done()) {
    uint32_t field = 0;
    WireType type{};
    if (!r.read_tag(field, type)) return false;
    if (field == 15 || field == 17) {
      uint64_t ts = 0;
      if (type != WireType::kVarint || !r.read_varint(ts)) return false;
      (field == 15 ? out.timestamp : out.start_timestamp) = static_cast<int64_t>(ts);
      if (field == 17) out.raw_has_start = true;
    } else if (!r.skip(type)) {
      return false;
    }
  }
  return true;
}

// A histogram of series `index`: well formed, and one Prometheus would take. Valid ones
// are read once; only a refused one is scanned again, to tell a malformed message (bad
// protobuf) from one Prometheus refuses.
Status read_histogram(std::string_view bytes, size_t index, Histogram& out) {
  std::string why = inspect_histogram(bytes, out);
  if (why.empty()) return {};
  if (!scan_histogram(bytes, out)) return wire_error(where(index) + "bad histogram");
  return Status::error(DecodeError::kHistogram, "invalid histogram: " + where(index) + why);
}

// Sample { double value = 1; int64 timestamp = 2; int64 start_timestamp = 3 (RW 2.0); }
bool read_sample(std::string_view bytes, Sample& out) {
  WireReader r(bytes);
  out = Sample{0.0, 0};
  while (!r.done()) {
    uint32_t field = 0;
    WireType type{};
    if (!r.read_tag(field, type)) return false;
    if (field == 1) {
      if (!expect(type, WireType::kFixed64) || !r.read_double(out.value)) return false;
    } else if (field == 2 || field == 3) {
      uint64_t ts = 0;
      if (!expect(type, WireType::kVarint) || !r.read_varint(ts)) return false;
      (field == 2 ? out.timestamp : out.start_timestamp) = static_cast<int64_t>(ts);
    } else if (!r.skip(type)) {
      return false;
    }
  }
  return true;
}

bool read_label_v1(std::string_view bytes, Label& out) {
  // Nearly every sender writes a Label as name then value, each under 128 bytes: tags and
  // lengths at fixed places. Read that form directly; anything else takes the general loop
  // below, which gives the same answer for these bytes.
  const size_t size = bytes.size();
  if (size >= 4 && bytes[0] == 0x0a) {
    const auto name_len = static_cast<unsigned char>(bytes[1]);
    if (name_len < 0x80 && size_t{4} + name_len <= size && bytes[2 + name_len] == 0x12) {
      const auto value_len = static_cast<unsigned char>(bytes[3 + name_len]);
      if (value_len < 0x80 && size_t{4} + name_len + value_len == size) {
        out.name = bytes.substr(2, name_len);
        out.value = bytes.substr(4 + name_len, value_len);
        return true;
      }
    }
  }
  WireReader r(bytes);
  out = Label{};
  while (!r.done()) {
    uint32_t field = 0;
    WireType type{};
    if (!r.read_tag(field, type)) return false;
    if (field == 1 || field == 2) {
      if (!expect(type, WireType::kLengthDelimited)) return false;
      if (!r.read_bytes(field == 1 ? out.name : out.value)) return false;
    } else if (!r.skip(type)) {
      return false;
    }
  }
  return true;
}

// Reads repeated uint32 values that may come packed (one length-delimited run) or not.
bool read_refs(WireReader& r, WireType type, std::vector<uint32_t>& refs) {
  uint64_t v = 0;
  if (type == WireType::kVarint) {
    if (!r.read_varint(v) || v > UINT32_MAX) return false;
    refs.push_back(static_cast<uint32_t>(v));
    return true;
  }
  if (type != WireType::kLengthDelimited) return false;
  std::string_view packed;
  if (!r.read_bytes(packed)) return false;
  WireReader pr(packed);
  while (!pr.done()) {
    if (!pr.read_varint(v) || v > UINT32_MAX) return false;
    refs.push_back(static_cast<uint32_t>(v));
  }
  return true;
}

// A new series of `out`: where its parts start.
Series begin_series(const Batch& out) {
  Series s;
  s.labels_begin = static_cast<uint32_t>(out.labels.size());
  s.samples_begin = static_cast<uint32_t>(out.samples.size());
  s.histograms_begin = static_cast<uint32_t>(out.histograms.size());
  s.exemplars_begin = static_cast<uint32_t>(out.exemplars.size());
  return s;
}

// Its counts: what was appended to `out` since begin_series().
void end_series(const Batch& out, Series& s) {
  s.labels_count = static_cast<uint32_t>(out.labels.size()) - s.labels_begin;
  s.samples_count = static_cast<uint32_t>(out.samples.size()) - s.samples_begin;
  s.histograms_count = static_cast<uint32_t>(out.histograms.size()) - s.histograms_begin;
  s.exemplars_count = static_cast<uint32_t>(out.exemplars.size()) - s.exemplars_begin;
}

}  // namespace

Status Decoder::decode(Protocol protocol, std::string_view body, Batch& out) {
  return protocol == Protocol::kV1 ? decode_v1(body, out) : decode_v2(body, out);
}

// ---------------------------------------------------------------------------------------
// RW 1.0: WriteRequest { repeated TimeSeries timeseries = 1; repeated MetricMetadata = 3; }

namespace {

// Exemplar { repeated Label labels = 1; double value = 2; int64 timestamp = 3; }
bool read_exemplar_v1(std::string_view part, Batch& out) {
  Exemplar e{static_cast<uint32_t>(out.exemplar_labels.size()), 0, 0.0, 0};
  WireReader er(part);
  while (!er.done()) {
    uint32_t ef = 0;
    WireType et{};
    if (!er.read_tag(ef, et)) return false;
    bool good = true;
    if (ef == 1) {
      std::string_view lb;
      Label l;
      good = et == WireType::kLengthDelimited && er.read_bytes(lb) && read_label_v1(lb, l);
      if (good) out.exemplar_labels.push_back(l);
    } else if (ef == 2) {
      good = et == WireType::kFixed64 && er.read_double(e.value);
    } else if (ef == 3) {
      uint64_t ts = 0;
      good = et == WireType::kVarint && er.read_varint(ts);
      e.timestamp = static_cast<int64_t>(ts);
    } else {
      good = er.skip(et);
    }
    if (!good) return false;
  }
  e.labels_count = static_cast<uint32_t>(out.exemplar_labels.size()) - e.labels_begin;
  out.exemplars.push_back(e);
  return true;
}

// MetricMetadata { type = 1; metric_family_name = 2; help = 4; unit = 5; }
bool read_metadata_v1(std::string_view md_bytes, FamilyMetadata& md) {
  WireReader r(md_bytes);
  while (!r.done()) {
    uint32_t f = 0;
    WireType t{};
    if (!r.read_tag(f, t)) return false;
    bool good = true;
    if (f == 1) {
      uint64_t v = 0;
      good = t == WireType::kVarint && r.read_varint(v);
      md.type = v <= 7 ? static_cast<MetricType>(v) : MetricType::kUnknown;
    } else if (f == 2 || f == 4 || f == 5) {
      std::string_view& dst = f == 2 ? md.family_name : (f == 4 ? md.help : md.unit);
      good = t == WireType::kLengthDelimited && r.read_bytes(dst);
    } else {
      good = r.skip(t);
    }
    if (!good) return false;
  }
  return true;
}

// Whether a Label field is exactly what encoding `l` writes: a one-byte tag and a minimal
// length, then name and value in that order, each with a one-byte tag and a minimal
// length. The sizes prove it: a length shorter than minimal cannot exist, so prefixes of
// exactly the minimal sizes, with the name and the value where they are, leave no room
// for a longer tag, a second name or an unknown field.
bool canonical_label_field(const char* field_start, std::string_view part, const Label& l) {
  const size_t n = l.name.size(), v = l.value.size();
  const size_t name_at = 1 + varint_size(n);
  return part.data() == field_start + 1 + varint_size(part.size()) &&
         part.size() == name_at + n + 1 + varint_size(v) + v &&
         l.name.data() == part.data() + name_at && l.value.data() == part.data() + part.size() - v;
}

// TimeSeries { repeated Label labels = 1; repeated Sample samples = 2;
//              repeated Exemplar exemplars = 3; repeated Histogram histograms = 4; }
// Appends series number `index` to `out`. Its labels keep their raw bytes
// (Series::raw_labels) when they came as one run of canonical fields, already sorted and
// all non-empty: then the bytes are what encoding the labels would write.
Status decode_series_v1(std::string_view ts_bytes, size_t index, Batch& out) {
  Series s = begin_series(out);
  WireReader r(ts_bytes);
  const char* raw_begin = nullptr;  // the contiguous run of Label fields, if any
  const char* raw_end = nullptr;
  bool raw_ok = true;
  while (!r.done()) {
    const char* field_start = r.position();
    uint32_t f = 0;
    WireType t{};
    if (!r.read_tag(f, t)) return wire_error(where(index) + "bad field key");
    if (f < 1 || f > 4) {
      if (!r.skip(t)) return wire_error(where(index) + "bad unknown field");
      continue;
    }
    std::string_view part;
    if (t != WireType::kLengthDelimited) return wire_error(where(index) + "wrong wire type");
    if (!r.read_bytes(part)) return wire_error(where(index) + "length past the end");
    if (f == 1) {
      Label l;
      if (!read_label_v1(part, l)) return wire_error(where(index) + "bad label");
      out.labels.push_back(l);
      raw_ok = raw_ok && canonical_label_field(field_start, part, l);
      if (raw_begin == nullptr) {
        raw_begin = field_start;
      } else if (raw_end != field_start) {
        raw_ok = false;  // another field came between two labels
      }
      raw_end = r.position();
    } else if (f == 2) {
      Sample smp;
      if (!read_sample(part, smp)) return wire_error(where(index) + "bad sample");
      out.samples.push_back(smp);
    } else if (f == 3) {
      if (!read_exemplar_v1(part, out)) return wire_error(where(index) + "bad exemplar");
    } else {
      Histogram h;
      if (Status st = read_histogram(part, index, h); !st) return st;
      out.histograms.push_back(h);
    }
  }
  end_series(out, s);
  const uint32_t received = s.labels_count;
  bool reordered = false;
  // The label fields are usually one run of bytes; when all of it is ASCII (field tags and
  // short lengths are), every name and value is UTF-8 without looking at each one.
  const bool ascii =
      raw_ok && raw_begin != nullptr &&
      utf8::is_ascii(std::string_view(raw_begin, static_cast<size_t>(raw_end - raw_begin)));
  Status st = normalize_series_labels(out.labels.data() + s.labels_begin, s.labels_count,
                                      &reordered, !ascii);
  if (!st)
    return Status::error(DecodeError::kLabels, "invalid labels: " + where(index) + st.reason());
  out.labels.resize(s.labels_begin + s.labels_count);
  if (raw_ok && raw_begin != nullptr && !reordered && s.labels_count == received) {
    s.raw_labels = std::string_view(raw_begin, static_cast<size_t>(raw_end - raw_begin));
  }
  out.series.push_back(s);
  return {};
}

}  // namespace

Status Decoder::decode_v1(std::string_view body, Batch& out) {
  out.clear();
  WireReader req(body);
  while (!req.done()) {
    uint32_t field = 0;
    WireType type{};
    if (!req.read_tag(field, type)) return wire_error("bad field key in WriteRequest");
    if (field == 1) {
      std::string_view ts_bytes;
      if (type != WireType::kLengthDelimited) return wire_error("wrong wire type for timeseries");
      if (!req.read_bytes(ts_bytes)) return wire_error("timeseries length past the end");
      if (Status st = decode_series_v1(ts_bytes, out.series.size(), out); !st) return st;
    } else if (field == 3) {
      std::string_view md_bytes;
      if (type != WireType::kLengthDelimited) return wire_error("wrong wire type for metadata");
      if (!req.read_bytes(md_bytes)) return wire_error("metadata length past the end");
      FamilyMetadata md;
      if (!read_metadata_v1(md_bytes, md)) return wire_error("bad metadata");
      out.metadata.push_back(md);
    } else if (!req.skip(type)) {
      return wire_error("bad unknown field in WriteRequest");
    }
  }
  return {};
}

// ---------------------------------------------------------------------------------------
// RW 2.0: Request { repeated string symbols = 4; repeated TimeSeries timeseries = 5; }

namespace {

// Resolves `refs` (name, value pairs of symbol refs) into `dst`; false on an odd count or a
// ref out of range. Spans, not members: the loop keeps its bounds in registers while it
// appends to `dst`.
// For exemplars' labels (the series' own are resolved in decode_v2's loop).
bool resolve_refs(std::span<const uint32_t> refs, std::span<const std::string_view> symbols,
                  std::vector<Label>& dst, std::string& why) {
  if (refs.size() % 2 != 0) {
    why = "odd labels_refs length " + std::to_string(refs.size());
    return false;
  }
  const size_t nsym = symbols.size();
  for (size_t i = 0; i < refs.size(); i += 2) {
    if (refs[i] >= nsym || refs[i + 1] >= nsym) {
      why = "symbol ref " + std::to_string(std::max(refs[i], refs[i + 1])) + " out of range (" +
            std::to_string(nsym) + " symbols)";
      return false;
    }
    dst.push_back(Label{symbols[refs[i]], symbols[refs[i + 1]]});
  }
  return true;
}

}  // namespace

// Exemplar { repeated uint32 labels_refs = 1; double value = 2; int64 timestamp = 3; }
bool Decoder::read_exemplar_v2(std::string_view part, size_t index, Batch& out, Status& error) {
  Exemplar e{static_cast<uint32_t>(out.exemplar_labels.size()), 0, 0.0, 0};
  const size_t refs_mark = refs_.size();
  WireReader er(part);
  while (!er.done()) {
    uint32_t ef = 0;
    WireType et{};
    if (!er.read_tag(ef, et)) {
      error = wire_error(where(index) + "bad exemplar");
      return false;
    }
    bool good = true;
    if (ef == 1) {
      good = read_refs(er, et, refs_);
    } else if (ef == 2) {
      good = et == WireType::kFixed64 && er.read_double(e.value);
    } else if (ef == 3) {
      uint64_t ts = 0;
      good = et == WireType::kVarint && er.read_varint(ts);
      e.timestamp = static_cast<int64_t>(ts);
    } else {
      good = er.skip(et);
    }
    if (!good) {
      error = wire_error(where(index) + "bad exemplar");
      return false;
    }
  }
  std::string why;
  if (!resolve_refs(std::span(refs_).subspan(refs_mark), symbols_, out.exemplar_labels, why)) {
    error = Status::error(DecodeError::kSymbols, where(index) + "exemplar: " + why);
    return false;
  }
  refs_.resize(refs_mark);  // keep only the series' own refs
  e.labels_count = static_cast<uint32_t>(out.exemplar_labels.size()) - e.labels_begin;
  out.exemplars.push_back(e);
  return true;
}

// Metadata { MetricType type = 1; uint32 help_ref = 3; uint32 unit_ref = 4; }
bool Decoder::read_metadata_v2(std::string_view part, size_t index, Series& s,
                               Status& error) const {
  s.metadata.present = true;
  WireReader mr(part);
  while (!mr.done()) {
    uint32_t mf = 0;
    WireType mt{};
    if (!mr.read_tag(mf, mt)) {
      error = wire_error(where(index) + "bad metadata");
      return false;
    }
    uint64_t v = 0;
    bool good = true;
    if (mf == 1 || mf == 3 || mf == 4) {
      good = mt == WireType::kVarint && mr.read_varint(v);
      if (good && mf == 1) {
        s.metadata.type = v <= 7 ? static_cast<MetricType>(v) : MetricType::kUnknown;
      } else if (good) {
        if (v >= symbols_.size()) {
          error =
              Status::error(DecodeError::kSymbols,
                            where(index) + "metadata symbol ref " + std::to_string(v) +
                                " out of range (" + std::to_string(symbols_.size()) + " symbols)");
          return false;
        }
        (mf == 3 ? s.metadata.help : s.metadata.unit) = symbols_[v];
      }
    } else {
      good = mr.skip(mt);
    }
    if (!good) {
      error = wire_error(where(index) + "bad metadata");
      return false;
    }
  }
  return true;
}

namespace {

// rc.3's per-series created timestamp as rc.4's per-sample start timestamp, for the samples
// and histograms that do not carry one of their own (rc.4 senders never send field 6).
void spread_created_timestamp(int64_t created, const Series& s, Batch& out) {
  for (uint32_t i = 0; i < s.samples_count; ++i) {
    Sample& x = out.samples[s.samples_begin + i];
    if (x.start_timestamp == 0) x.start_timestamp = created;
  }
  for (uint32_t i = 0; i < s.histograms_count; ++i) {
    Histogram& h = out.histograms[s.histograms_begin + i];
    if (h.start_timestamp == 0) h.start_timestamp = created;
  }
}

}  // namespace

// TimeSeries { repeated uint32 labels_refs = 1; samples = 2; histograms = 3;
//              exemplars = 4; Metadata metadata = 5; int64 created_timestamp = 6 (rc.3); }
// The per-series loop and its label resolution stay in this one function, as a lambda:
// split into a function per series, or resolving through a helper taking spans, it ran
// about 25% more instructions (callgrind on BM_DecodeV2_Rwgate). The rarer parts
// (exemplars, metadata) are functions of their own.
// The Request's symbols and series, as byte ranges: symbols may follow the series that use
// them, so they are collected before any series is resolved.
Status Decoder::collect_v2(std::string_view body) {
  symbols_.clear();
  series_bytes_.clear();
  WireReader req(body);
  while (!req.done()) {
    uint32_t field = 0;
    WireType type{};
    if (!req.read_tag(field, type)) return wire_error("bad field key in Request");
    if (field == 4 || field == 5) {
      std::string_view bytes;
      if (type != WireType::kLengthDelimited) return wire_error("wrong wire type in Request");
      if (!req.read_bytes(bytes)) return wire_error("length past the end in Request");
      (field == 4 ? symbols_ : series_bytes_).push_back(bytes);
    } else if (!req.skip(type)) {
      return wire_error("bad unknown field in Request");
    }
  }
  // Every label is a symbol: checked once here rather than once per series that uses it.
  symbols_utf8_ = true;
  for (const std::string_view s : symbols_) symbols_utf8_ = symbols_utf8_ && utf8::valid(s);
  return {};
}

Status Decoder::decode_v2(std::string_view body, Batch& out) {
  out.clear();
  if (Status st = collect_v2(body); !st) return st;

  const auto nsym = static_cast<uint32_t>(symbols_.size());
  // Resolves refs_[from..] pairs into `dst`; false on an odd count or a ref out of range.
  auto resolve = [&](size_t from, std::vector<Label>& dst, std::string& why) {
    const size_t n = refs_.size() - from;
    if (n % 2 != 0) {
      why = "odd labels_refs length " + std::to_string(n);
      return false;
    }
    for (size_t i = from; i < refs_.size(); i += 2) {
      if (refs_[i] >= nsym || refs_[i + 1] >= nsym) {
        why = "symbol ref " + std::to_string(std::max(refs_[i], refs_[i + 1])) + " out of range (" +
              std::to_string(nsym) + " symbols)";
        return false;
      }
      dst.push_back(Label{symbols_[refs_[i]], symbols_[refs_[i + 1]]});
    }
    return true;
  };

  Status error;  // of the rarer parts (exemplars, metadata)
  for (size_t index = 0; index < series_bytes_.size(); ++index) {
    Series s = begin_series(out);
    refs_.clear();
    int64_t created = 0;  // rc.3 TimeSeries.created_timestamp
    WireReader r(series_bytes_[index]);
    while (!r.done()) {
      uint32_t f = 0;
      WireType t{};
      if (!r.read_tag(f, t)) return wire_error(where(index) + "bad field key");
      if (f == 1) {
        if (!read_refs(r, t, refs_)) return wire_error(where(index) + "bad labels_refs");
        continue;
      }
      if (f == 6) {
        uint64_t v = 0;
        if (t != WireType::kVarint || !r.read_varint(v))
          return wire_error(where(index) + "bad created_timestamp");
        created = static_cast<int64_t>(v);
        continue;
      }
      if (f < 2 || f > 5) {
        if (!r.skip(t)) return wire_error(where(index) + "bad unknown field");
        continue;
      }
      std::string_view part;
      if (t != WireType::kLengthDelimited) return wire_error(where(index) + "wrong wire type");
      if (!r.read_bytes(part)) return wire_error(where(index) + "length past the end");
      if (f == 2) {
        Sample smp;
        if (!read_sample(part, smp)) return wire_error(where(index) + "bad sample");
        out.samples.push_back(smp);
      } else if (f == 3) {
        Histogram h;
        if (Status st = read_histogram(part, index, h); !st) return st;
        out.histograms.push_back(h);
      } else if (f == 4 ? !read_exemplar_v2(part, index, out, error)
                        : !read_metadata_v2(part, index, s, error)) {
        return error;
      }
    }
    std::string why;
    if (!resolve(0, out.labels, why))
      return Status::error(DecodeError::kSymbols, where(index) + why);
    end_series(out, s);
    // The spec's MUST, and Prometheus 3 refuses such a series: a store that does would
    // refuse the whole request it is forwarded in.
    if (s.samples_count == 0 && s.histograms_count == 0) {
      return Status::error(
          DecodeError::kEmptySeries,
          where(index) + "TimeSeries must contain at least one sample or histogram");
    }
    if (created != 0) spread_created_timestamp(created, s, out);
    Status st = normalize_series_labels(out.labels.data() + s.labels_begin, s.labels_count, nullptr,
                                        !symbols_utf8_);
    if (!st)
      return Status::error(DecodeError::kLabels, "invalid labels: " + where(index) + st.reason());
    out.labels.resize(s.labels_begin + s.labels_count);
    out.series.push_back(s);
  }
  return {};
}

}  // namespace rwgate::proto
