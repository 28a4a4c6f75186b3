#include "proto/histogram.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <type_traits>

#include "proto/wire.h"

namespace rwgate::proto {

namespace {

// Histogram { count_int = 1; count_float = 2; sum = 3; sint32 schema = 4; zero_threshold = 5;
//   zero_count_int = 6; zero_count_float = 7; negative_spans = 8; negative_deltas = 9;
//   negative_counts = 10; positive_spans = 11; positive_deltas = 12; positive_counts = 13;
//   reset_hint = 14; timestamp = 15; custom_values = 16; start_timestamp = 17 }
constexpr uint32_t kCustomValues = 16;
constexpr int32_t kCustomBucketsSchema = -53;
constexpr int32_t kMaxSchema = 8;  // 9..52 are reduced to 8 first, as Prometheus does

constexpr std::string_view kMalformed = "malformed Histogram message";
constexpr std::string_view kNegativeBucket =
    "histogram has a bucket whose observation count is negative";
constexpr std::string_view kNegativeOffset = "histogram has a span whose offset is negative";
constexpr std::string_view kSpanMismatch =
    "histogram spans specify different number of buckets than provided";

struct Side {
  uint32_t spans, deltas, counts;
  std::string_view prefix;  // of Validate's messages
};
constexpr Side kPositive{11, 12, 13, "positive side: "};
constexpr Side kNegative{8, 9, 10, "negative side: "};

// Go's %v for a float64 (strconv 'g', shortest digits): exponent form below 1e-4 and from
// 1e6 up, with at least two exponent digits; NaN, +Inf, -Inf.
std::string go_float(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[48];
  const auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  const std::string_view s(buf, static_cast<size_t>(r.ptr - buf));  // d[.ddd]e±XX, shortest
  const size_t e = s.find('e');
  const int exp = std::atoi(std::string(s.substr(e + 1)).c_str());
  const std::string_view mantissa = s.substr(0, e);
  if (exp < -4 || exp >= 6) {
    char tail[16];
    std::snprintf(tail, sizeof tail, "e%c%02d", exp < 0 ? '-' : '+', std::abs(exp));
    return std::string(mantissa) + tail;
  }
  const bool negative = mantissa.front() == '-';
  std::string digits;
  for (char c : mantissa) {
    if (c >= '0' && c <= '9') digits += c;
  }
  std::string out = negative ? "-" : "";
  const int point = exp + 1;  // digits before the decimal point
  if (point <= 0) {
    out += "0." + std::string(static_cast<size_t>(-point), '0') + digits;
  } else if (static_cast<size_t>(point) >= digits.size()) {
    out += digits + std::string(static_cast<size_t>(point) - digits.size(), '0');
  } else {
    out += digits.substr(0, static_cast<size_t>(point)) + "." +
           digits.substr(static_cast<size_t>(point));
  }
  return out;
}

// Go's %f: C's, but infinities as +Inf and -Inf.
std::string go_fixed(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[400];
  std::snprintf(buf, sizeof buf, "%f", v);
  return buf;
}

std::string num(int64_t v) { return std::to_string(v); }

enum class Occurrence { kFound, kEnd, kMalformed };

// Moves `r` past other fields to the next occurrence of `field`, leaving its value to read.
Occurrence next_occurrence(WireReader& r, uint32_t field, WireType& type) {
  while (!r.done()) {
    uint32_t f = 0;
    if (!r.read_tag(f, type)) return Occurrence::kMalformed;
    if (f == field) return Occurrence::kFound;
    if (!r.skip(type)) return Occurrence::kMalformed;
  }
  return Occurrence::kEnd;
}

double as_double(uint64_t bits) {
  double d = 0;
  std::memcpy(&d, &bits, 8);
  return d;
}

struct Span {
  int32_t offset = 0;  // sint32
  uint32_t length = 0;
};

// BucketSpan { sint32 offset = 1; uint32 length = 2; }, the value of a field of type `type`.
bool read_span(WireReader& r, WireType type, Span& out) {
  std::string_view bytes;
  if (type != WireType::kLengthDelimited || !r.read_bytes(bytes)) return false;
  out = Span{};
  WireReader m(bytes);
  while (!m.done()) {
    uint32_t f = 0;
    uint64_t v = 0;
    if (!m.read_tag(f, type)) return false;
    if ((f == 1 || f == 2) && type == WireType::kVarint) {
      if (!m.read_varint(v)) return false;
      if (f == 1) out.offset = static_cast<int32_t>(zigzag_decode64(v));
      if (f == 2) out.length = static_cast<uint32_t>(v);
    } else if (!m.skip(type)) {
      return false;
    }
  }
  return true;
}

// For the second look that reduced schemas need, over a message summarize() already found
// well formed: the values of one repeated scalar field in wire order, packed or not,
// wherever its occurrences are, and a side's spans in order.
class Values {
 public:
  Values(std::string_view msg, uint32_t field, WireType scalar)
      : msg_(msg), packed_(std::string_view()), field_(field), scalar_(scalar) {}

  bool next(uint64_t& v) {
    while (packed_.done()) {
      WireType t{};
      if (next_occurrence(msg_, field_, t) != Occurrence::kFound) return false;
      if (t == scalar_) return read(msg_, v);
      std::string_view run;
      if (!msg_.read_bytes(run)) return false;
      packed_ = WireReader(run);
    }
    return read(packed_, v);
  }

 private:
  bool read(WireReader& r, uint64_t& v) const {
    return scalar_ == WireType::kVarint ? r.read_varint(v) : r.read_fixed64(v);
  }

  WireReader msg_;
  WireReader packed_;
  uint32_t field_;
  WireType scalar_;
};

class Spans {
 public:
  Spans(std::string_view msg, uint32_t field) : msg_(msg), field_(field) {}
  bool next(Span& out) {
    WireType t{};
    return next_occurrence(msg_, field_, t) == Occurrence::kFound && read_span(msg_, t, out);
  }

 private:
  WireReader msg_;
  uint32_t field_;
};

// What one pass over the message finds: the scalar fields (of a oneof, the last occurrence
// on the wire counts), and per side what the span and bucket checks need, for both kinds of
// bucket array, since which kind counts is known only at the end.
struct SideSummary {
  int64_t spans = 0;
  int64_t need = 0;            // the spans' lengths, added up
  int64_t span_end = 0;        // offsets and lengths, added up: what custom bounds must cover
  int64_t first_negative = 0;  // number (from 1) of the first span with a negative offset
  int32_t first_negative_offset = 0;
  int64_t later_negative = 0;  // the same among the spans after the first
  int32_t later_negative_offset = 0;
  // Integer buckets: deltas; the running count wraps as Go's int64 does.
  int64_t deltas = 0;
  int64_t running = 0;
  uint64_t delta_total = 0;
  int64_t negative_delta = 0;  // number of the first bucket with a negative count, and it
  int64_t negative_delta_count = 0;
  // Float buckets: absolute counts.
  int64_t counts = 0;
  int64_t negative_count = 0;
  double negative_count_value = 0;

  void add_span(const Span& sp) {
    ++spans;
    need += sp.length;
    span_end += sp.offset + static_cast<int64_t>(sp.length);
    if (sp.offset >= 0) return;
    if (first_negative == 0) first_negative = spans, first_negative_offset = sp.offset;
    if (spans > 1 && later_negative == 0) later_negative = spans, later_negative_offset = sp.offset;
  }
  void add_delta(int64_t d) {
    ++deltas;
    running = static_cast<int64_t>(static_cast<uint64_t>(running) + static_cast<uint64_t>(d));
    delta_total += static_cast<uint64_t>(running);
    if (running < 0 && negative_delta == 0) negative_delta = deltas, negative_delta_count = running;
  }
  void add_count(double c) {
    ++counts;
    if (c < 0 && negative_count == 0) negative_count = counts, negative_count_value = c;
  }
  int64_t buckets(bool is_float) const { return is_float ? counts : deltas; }
};

// custom_values: their number, the last, and the first problem (NaN, or not increasing).
struct Bounds {
  int64_t n = 0;
  double last = 0;
  bool nan = false;
  bool disorder = false;  // then `before` and `after` are the pair out of order
  double before = 0, after = 0;

  void add(double b) {
    if (!nan && !disorder) {
      if (std::isnan(b)) {
        nan = true;
      } else if (n > 0 && b <= last) {
        disorder = true, before = last, after = b;
      }
    }
    last = b;
    ++n;
  }
};

struct Summary {
  bool is_float = false;  // count_float came last
  uint64_t count_int = 0;
  double count_float = 0;
  bool zero_is_float = false;
  uint64_t zero_int = 0;
  double zero_float = 0;
  double sum = 0;
  int32_t schema = 0;
  double zero_threshold = 0;
  SideSummary positive, negative;
  Bounds bounds;

  // The zero bucket as the histogram's kind reads it (the other kind's field counts as 0).
  uint64_t zero_count_int() const { return zero_is_float ? 0 : zero_int; }
  double zero_count_float() const { return zero_is_float ? zero_float : 0; }
};

// Reads a repeated scalar that came packed (one length-delimited run) or as one value.
template <typename Add>
bool read_repeated(WireReader& r, WireType type, WireType scalar, Add add) {
  uint64_t v = 0;
  auto one = [&](WireReader& from) {
    if (!(scalar == WireType::kVarint ? from.read_varint(v) : from.read_fixed64(v))) return false;
    add(v);
    return true;
  };
  if (type == scalar) return one(r);
  std::string_view run;
  if (type != WireType::kLengthDelimited || !r.read_bytes(run)) return false;
  WireReader packed(run);
  while (!packed.done()) {
    if (!one(packed)) return false;
  }
  return true;
}

// One pass over the message, which also reads the timestamps the decoder keeps into `out`.
// False on malformed bytes.
bool summarize(std::string_view msg, Summary& s, Histogram& out) {
  out = Histogram{msg, 0};
  WireReader r(msg);
  while (!r.done()) {
    uint32_t f = 0;
    WireType t{};
    uint64_t v = 0;
    if (!r.read_tag(f, t)) return false;
    SideSummary& side = f <= kNegative.counts ? s.negative : s.positive;
    bool ok = true;
    switch (f) {
      case 1:
      case 4:
      case 6:
        ok = t == WireType::kVarint && r.read_varint(v);
        if (f == 1) s.is_float = false, s.count_int = v;
        if (f == 4) s.schema = static_cast<int32_t>(zigzag_decode64(v));
        if (f == 6) s.zero_is_float = false, s.zero_int = v;
        break;
      case 2:
      case 3:
      case 5:
      case 7:
        ok = t == WireType::kFixed64 && r.read_fixed64(v);
        if (f == 2) s.is_float = true, s.count_float = as_double(v);
        if (f == 3) s.sum = as_double(v);
        if (f == 5) s.zero_threshold = as_double(v);
        if (f == 7) s.zero_is_float = true, s.zero_float = as_double(v);
        break;
      case 8:
      case 11: {
        Span sp;
        ok = read_span(r, t, sp);
        side.add_span(sp);
        break;
      }
      case 9:
      case 12:
        ok = read_repeated(r, t, WireType::kVarint,
                           [&](uint64_t d) { side.add_delta(zigzag_decode64(d)); });
        break;
      case 10:
      case 13:
        ok = read_repeated(r, t, WireType::kFixed64,
                           [&](uint64_t c) { side.add_count(as_double(c)); });
        break;
      case kCustomValues:
        ok = read_repeated(r, t, WireType::kFixed64,
                           [&](uint64_t b) { s.bounds.add(as_double(b)); });
        break;
      case 15:
      case 17:
        ok = t == WireType::kVarint && r.read_varint(v);
        (f == 15 ? out.timestamp : out.start_timestamp) = static_cast<int64_t>(v);
        if (f == 17) out.raw_has_start = true;
        break;
      default:
        ok = r.skip(t);
    }
    if (!ok) return false;
  }
  return true;
}

std::string spans_problem(const SideSummary& side, bool is_float, std::string_view prefix,
                          bool first_offset_checked) {
  const int64_t n = first_offset_checked ? side.first_negative : side.later_negative;
  if (n != 0) {
    const int32_t offset =
        first_offset_checked ? side.first_negative_offset : side.later_negative_offset;
    return std::string(prefix) + "span number " + num(n) + " with offset " + num(offset) + ": " +
           std::string(kNegativeOffset);
  }
  if (side.need != side.buckets(is_float)) {
    return std::string(prefix) + "spans need " + num(side.need) + " buckets, have " +
           num(side.buckets(is_float)) + " buckets: " + std::string(kSpanMismatch);
  }
  return {};
}

std::string negative_bucket(std::string_view prefix, int64_t n, const std::string& count) {
  return std::string(prefix) + "bucket number " + num(n) + " has observation count of " + count +
         ": " + std::string(kNegativeBucket);
}

// Validate's bucket check of one side, as sent.
std::string buckets_problem(const SideSummary& side, bool is_float, std::string_view prefix) {
  if (is_float) {
    if (side.negative_count == 0) return {};
    return negative_bucket(prefix, side.negative_count, go_float(side.negative_count_value));
  }
  if (side.negative_delta == 0) return {};
  return negative_bucket(prefix, side.negative_delta, num(side.negative_delta_count));
}

// Custom buckets (schema -53): the bounds, the positive spans against them, and no zero
// bucket or negative side.
std::string custom_buckets_problem(const Summary& s) {
  const std::string prefix = "custom buckets: ";
  const Bounds& b = s.bounds;
  if (b.nan) return prefix + "histogram custom bounds must not be NaN";
  if (b.disorder) {
    return prefix + "previous bound is " + go_fixed(b.before) + " and current is " +
           go_fixed(b.after) + ": histogram custom bounds must be in strictly increasing order";
  }
  if (b.n > 0 && std::isinf(b.last) && b.last > 0) {
    return prefix +
           "last +Inf bound must not be explicitly defined: histogram custom bounds must be finite";
  }
  if (std::string p = spans_problem(s.positive, s.is_float, prefix, true); !p.empty()) return p;
  if (b.n + 1 < s.positive.span_end) {
    return prefix + "only " + num(b.n) +
           " custom bounds defined which is insufficient to cover total span length of " +
           num(s.positive.span_end) + ": histogram custom bounds are too few";
  }
  // `!= 0` refuses NaN too, as Prometheus's check does.
  if (s.is_float ? s.zero_count_float() != 0 : s.zero_count_int() != 0)
    return prefix + "must have zero count of 0";
  if (s.zero_threshold != 0) return prefix + "must have zero threshold of 0";
  if (s.negative.spans > 0) return prefix + "must not have negative spans";
  if (s.negative.buckets(s.is_float) > 0) return prefix + "must not have negative buckets";
  return {};
}

// A side's absolute bucket counts of schema 8 + `shift`, merged in order as the reduction to
// schema 8 merges them. T is int64_t (integer histograms: the running sum of the deltas,
// wrapping as Go's does) or double. The spans were checked against the buckets first.
template <typename T, typename Visit>
void for_each_merged_bucket(std::string_view msg, const Side& side, int shift, Visit visit) {
  constexpr bool kFloat = std::is_same_v<T, double>;
  Values values(msg, kFloat ? side.counts : side.deltas,
                kFloat ? WireType::kFixed64 : WireType::kVarint);
  uint64_t raw = 0;
  T running{};
  auto next = [&](T& out) {
    if (!values.next(raw)) return false;
    if constexpr (kFloat) {
      out = as_double(raw);
    } else {
      running = static_cast<int64_t>(static_cast<uint64_t>(running) +
                                     static_cast<uint64_t>(zigzag_decode64(raw)));
      out = running;
    }
    return true;
  };
  T c{};
  // Bucket index i of schema s lands in bucket ((i - 1) >> (s - 8)) + 1 of schema 8.
  Spans spans(msg, side.spans);
  Span sp;
  int64_t index = 0;  // wide enough for any offsets and a shift up to 44
  bool have = false;
  int64_t target = 0;
  T merged{};
  while (spans.next(sp)) {
    index += sp.offset;
    for (uint32_t k = 0; k < sp.length && next(c); ++k, ++index) {
      const int64_t to = ((index - 1) >> shift) + 1;
      if (have && to == target) {
        if constexpr (kFloat) {
          merged += c;
        } else {
          merged = static_cast<int64_t>(static_cast<uint64_t>(merged) + static_cast<uint64_t>(c));
        }
        continue;
      }
      if (have) visit(merged);
      have = true;
      target = to;
      merged = c;
    }
  }
  if (have) visit(merged);
}

// Schemas 9..52: what reducing a side to schema 8 refuses (Prometheus's reduceResolution,
// which runs before Validate, stops where the buckets run out and words its errors without
// a side), then Validate's negative-bucket check on the merged buckets.
std::string reduced_spans_problem(std::string_view msg, const Side& side,
                                  const SideSummary& summary, bool is_float) {
  const int64_t buckets = summary.buckets(is_float);
  Spans spans(msg, side.spans);
  Span sp;
  int64_t need = 0;
  for (int64_t n = 1; spans.next(sp); ++n) {
    if (n > 1 && sp.offset < 0) {
      return "span number " + num(n) + " with offset " + num(sp.offset) + ": " +
             std::string(kNegativeOffset);
    }
    need += sp.length;
    if (need > buckets) {
      return "have " + num(buckets) + " buckets but spans need more: " + std::string(kSpanMismatch);
    }
  }
  if (need != buckets) {
    return "spans need " + num(need) + " buckets, have " + num(buckets) +
           " buckets: " + std::string(kSpanMismatch);
  }
  return {};
}

template <typename T>
std::string merged_buckets_problem(std::string_view msg, const Side& side, int shift) {
  std::string problem;
  int64_t n = 0;
  for_each_merged_bucket<T>(msg, side, shift, [&](T c) {
    ++n;
    if (!problem.empty() || !(c < 0)) return;
    if constexpr (std::is_same_v<T, double>) {
      problem = negative_bucket(side.prefix, n, go_float(c));
    } else {
      problem = negative_bucket(side.prefix, n, num(c));
    }
  });
  return problem;
}

std::string merged_buckets_problem(std::string_view msg, const Side& side, bool is_float,
                                   int shift) {
  return is_float ? merged_buckets_problem<double>(msg, side, shift)
                  : merged_buckets_problem<int64_t>(msg, side, shift);
}

}  // namespace

std::string histogram_problem(std::string_view msg) {
  Histogram ignored;
  return inspect_histogram(msg, ignored);
}

std::string inspect_histogram(std::string_view msg, Histogram& out) {
  Summary s;
  if (!summarize(msg, s, out)) return std::string(kMalformed);
  // Prometheus's receiver reduces schemas 9..52 to 8 before it validates; -9..-5 it keeps.
  const int shift = s.schema > kMaxSchema && s.schema <= 52 ? s.schema - kMaxSchema : 0;
  if (shift > 0) {
    for (auto [side, summary] : {std::pair{&kPositive, &s.positive}, {&kNegative, &s.negative}}) {
      if (std::string p = reduced_spans_problem(msg, *side, *summary, s.is_float); !p.empty())
        return p;
    }
  }
  auto buckets = [&](const Side& side, const SideSummary& summary) {
    return shift > 0 ? merged_buckets_problem(msg, side, s.is_float, shift)
                     : buckets_problem(summary, s.is_float, side.prefix);
  };
  const int32_t schema = shift > 0 ? kMaxSchema : s.schema;
  std::string p;
  if (schema == kCustomBucketsSchema) {
    p = custom_buckets_problem(s);
  } else if (schema >= -4 && schema <= kMaxSchema) {
    if (shift == 0) {
      p = spans_problem(s.positive, s.is_float, kPositive.prefix, false);
      if (p.empty()) p = spans_problem(s.negative, s.is_float, kNegative.prefix, false);
    }
    if (p.empty()) p = buckets(kNegative, s.negative);
    if (p.empty() && s.is_float && s.zero_count_float() < 0) {
      p = "zero bucket has observation count of " + go_float(s.zero_float) + ": " +
          std::string(kNegativeBucket);
    }
    if (p.empty() && s.bounds.n > 0)
      p = "histogram with exponential schema must not have custom bounds";
  } else {
    p = "histogram has an invalid schema, which must be between -4 and 8 for exponential "
        "buckets, or -53 for custom buckets, got schema " +
        num(s.schema);
  }
  if (!p.empty()) return p;
  if (s.is_float) {
    if (s.count_float < 0) {
      return "observation count is  " + go_float(s.count_float) +
             ": histogram's observation count is negative";
    }
    // Prometheus does not compare a float histogram's count with its buckets.
    return buckets(kPositive, s.positive);
  }
  if (p = buckets(kPositive, s.positive); !p.empty()) return p;
  // Merging buckets keeps their total: the same sum serves reduced schemas.
  const uint64_t total = s.positive.delta_total + s.negative.delta_total + s.zero_count_int();
  const bool nan_sum = std::isnan(s.sum);
  if (nan_sum ? total <= s.count_int : total == s.count_int) return {};
  return std::to_string(total) + " observations found in buckets, but the Count field is " +
         std::to_string(s.count_int) + ": " +
         (nan_sum ? "histogram's observation count should be at least the number of "
                    "observations found in the buckets"
                  : "histogram's observation count should equal the number of observations "
                    "found in the buckets (in absence of NaN)");
}

}  // namespace rwgate::proto
