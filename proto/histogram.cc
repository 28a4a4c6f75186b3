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

// The values of one repeated scalar field in wire order, packed (proto3's default) or not,
// wherever its occurrences are in the message. Allocates nothing.
class Values {
 public:
  Values(std::string_view msg, uint32_t field, WireType scalar)
      : msg_(msg), packed_(std::string_view()), field_(field), scalar_(scalar) {}

  // False at the end, and on malformed bytes (then bad()).
  bool next(uint64_t& v) {
    while (packed_.done()) {
      WireType t{};
      const Occurrence found = next_occurrence(msg_, field_, t);
      if (found != Occurrence::kFound) return found == Occurrence::kEnd ? false : fail();
      if (t == scalar_) return read(msg_, v);
      std::string_view run;
      if (t != WireType::kLengthDelimited || !msg_.read_bytes(run)) return fail();
      packed_ = WireReader(run);
    }
    return read(packed_, v);
  }
  bool bad() const { return bad_; }

 private:
  bool read(WireReader& r, uint64_t& v) {
    const bool ok = scalar_ == WireType::kVarint ? r.read_varint(v) : r.read_fixed64(v);
    return ok || fail();
  }
  bool fail() {
    bad_ = true;
    packed_ = WireReader(std::string_view());
    msg_ = WireReader(std::string_view());
    return false;
  }

  WireReader msg_;
  WireReader packed_;
  uint32_t field_;
  WireType scalar_;
  bool bad_ = false;
};

double as_double(uint64_t bits) {
  double d = 0;
  std::memcpy(&d, &bits, 8);
  return d;
}

struct Span {
  int32_t offset = 0;  // sint32
  uint32_t length = 0;
};

// The BucketSpan messages of one side, in order.
class Spans {
 public:
  Spans(std::string_view msg, uint32_t field) : msg_(msg), field_(field) {}

  bool next(Span& out) {
    WireType t{};
    const Occurrence found = next_occurrence(msg_, field_, t);
    if (found != Occurrence::kFound) return found == Occurrence::kEnd ? false : fail();
    std::string_view bytes;
    if (t != WireType::kLengthDelimited || !msg_.read_bytes(bytes)) return fail();
    out = Span{};
    WireReader r(bytes);
    while (!r.done()) {
      uint32_t f = 0;
      uint64_t v = 0;
      if (!r.read_tag(f, t)) return fail();
      if ((f == 1 || f == 2) && t == WireType::kVarint) {
        if (!r.read_varint(v)) return fail();
        if (f == 1) out.offset = static_cast<int32_t>(zigzag_decode64(v));
        if (f == 2) out.length = static_cast<uint32_t>(v);
      } else if (!r.skip(t)) {
        return fail();
      }
    }
    return true;
  }
  bool bad() const { return bad_; }

 private:
  bool fail() {
    bad_ = true;
    msg_ = WireReader(std::string_view());
    return false;
  }
  WireReader msg_;
  uint32_t field_;
  bool bad_ = false;
};

// The scalar fields. Of a oneof, the last occurrence on the wire counts.
struct Scalars {
  bool is_float = false;  // count_float came last
  uint64_t count_int = 0;
  double count_float = 0;
  bool zero_is_float = false;
  uint64_t zero_int = 0;
  double zero_float = 0;
  double sum = 0;
  int32_t schema = 0;
  double zero_threshold = 0;
  bool has_negative_spans = false;
};

bool read_scalars(std::string_view msg, Scalars& s) {
  WireReader r(msg);
  while (!r.done()) {
    uint32_t f = 0;
    WireType t{};
    uint64_t v = 0;
    if (!r.read_tag(f, t)) return false;
    const bool fixed = f == 2 || f == 3 || f == 5 || f == 7;
    if (f == 1 || f == 4 || f == 6 || fixed) {
      if (t != (fixed ? WireType::kFixed64 : WireType::kVarint)) return false;
      if (!(fixed ? r.read_fixed64(v) : r.read_varint(v))) return false;
    } else {
      if (f == kNegative.spans) s.has_negative_spans = true;
      if (!r.skip(t)) return false;
      continue;
    }
    switch (f) {
      case 1:
        s.is_float = false, s.count_int = v;
        break;
      case 2:
        s.is_float = true, s.count_float = as_double(v);
        break;
      case 3:
        s.sum = as_double(v);
        break;
      case 4:
        s.schema = static_cast<int32_t>(zigzag_decode64(v));
        break;
      case 5:
        s.zero_threshold = as_double(v);
        break;
      case 6:
        s.zero_is_float = false, s.zero_int = v;
        break;
      default:
        s.zero_is_float = true, s.zero_float = as_double(v);
    }
  }
  return true;
}

// The number of buckets a side holds (deltas for integer histograms, counts for float).
bool count_buckets(std::string_view msg, const Side& side, bool is_float, int64_t& n) {
  Values values(msg, is_float ? side.counts : side.deltas,
                is_float ? WireType::kFixed64 : WireType::kVarint);
  uint64_t v = 0;
  for (n = 0; values.next(v);) ++n;
  return !values.bad();
}

// How a check words and bounds the spans of a side: Prometheus has three wordings.
struct SpanRule {
  std::string_view prefix;    // "positive side: ", "custom buckets: ", or none (reduction)
  bool first_offset_checked;  // custom buckets: no span may have a negative offset
  bool reducing;              // reduceResolution: stops where the buckets run out
};

// Offsets (after the first) are not negative and the lengths add up to the bucket count.
// `span_end` (optional): the sum of offsets and lengths, what custom bounds must cover.
std::string check_spans(std::string_view msg, const Side& side, bool is_float, const SpanRule& rule,
                        int64_t* span_end = nullptr) {
  int64_t buckets = 0;
  if (!count_buckets(msg, side, is_float, buckets)) return std::string(kMalformed);
  const std::string prefix(rule.prefix);
  Spans spans(msg, side.spans);
  Span sp;
  int64_t need = 0, end = 0;
  for (int64_t n = 1; spans.next(sp); ++n) {
    if ((n > 1 || rule.first_offset_checked) && sp.offset < 0) {
      return prefix + "span number " + num(n) + " with offset " + num(sp.offset) + ": " +
             std::string(kNegativeOffset);
    }
    need += sp.length;
    end += sp.offset + static_cast<int64_t>(sp.length);
    if (rule.reducing && need > buckets) {
      return "have " + num(buckets) + " buckets but spans need more: " + std::string(kSpanMismatch);
    }
  }
  if (spans.bad()) return std::string(kMalformed);
  if (need != buckets) {
    return prefix + "spans need " + num(need) + " buckets, have " + num(buckets) +
           " buckets: " + std::string(kSpanMismatch);
  }
  if (span_end != nullptr) *span_end = end;
  return {};
}

// A side's absolute bucket counts, in order, as Validate sees them: as sent, or when
// `shift` > 0 (schema 8 + shift) merged as the reduction to schema 8 merges them.
// T is int64_t (integer histograms: running sum of deltas, wrapping as Go's does) or double.
template <typename T, typename Visit>
bool for_each_bucket(std::string_view msg, const Side& side, int shift, Visit visit) {
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
  if (shift == 0) {
    while (next(c)) visit(c);
    return !values.bad();
  }
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
  return !values.bad() && !spans.bad();
}

// No bucket of a side is negative; their total goes into `total` (integer histograms).
template <typename T>
std::string check_buckets(std::string_view msg, const Side& side, int shift, uint64_t& total) {
  std::string problem;
  int64_t n = 0;
  const bool ok = for_each_bucket<T>(msg, side, shift, [&](T c) {
    ++n;
    if (!problem.empty()) return;
    if (c < 0) {
      std::string count;
      if constexpr (std::is_same_v<T, double>) {
        count = go_float(c);
      } else {
        count = num(c);
      }
      problem = std::string(side.prefix) + "bucket number " + num(n) +
                " has observation count of " + count + ": " + std::string(kNegativeBucket);
    }
    if constexpr (!std::is_same_v<T, double>) total += static_cast<uint64_t>(c);
  });
  if (!ok) return std::string(kMalformed);
  return problem;
}

// Custom buckets (schema -53): the bounds, and the positive spans against them.
std::string check_custom_bounds(std::string_view msg, bool is_float) {
  const std::string prefix = "custom buckets: ";
  Values bounds(msg, kCustomValues, WireType::kFixed64);
  uint64_t raw = 0;
  int64_t nbounds = 0;
  double prev = 0;
  while (bounds.next(raw)) {
    const double b = as_double(raw);
    if (std::isnan(b)) return prefix + "histogram custom bounds must not be NaN";
    if (nbounds > 0 && b <= prev) {
      return prefix + "previous bound is " + go_fixed(prev) + " and current is " + go_fixed(b) +
             ": histogram custom bounds must be in strictly increasing order";
    }
    prev = b;
    ++nbounds;
  }
  if (bounds.bad()) return std::string(kMalformed);
  if (nbounds > 0 && std::isinf(prev) && prev > 0) {
    return prefix +
           "last +Inf bound must not be explicitly defined: histogram custom bounds must be finite";
  }
  int64_t span_end = 0;
  if (std::string p = check_spans(msg, kPositive, is_float, {prefix, true, false}, &span_end);
      !p.empty())
    return p;
  if (nbounds + 1 < span_end) {
    return prefix + "only " + num(nbounds) +
           " custom bounds defined which is insufficient to cover total span length of " +
           num(span_end) + ": histogram custom bounds are too few";
  }
  return {};
}

// What custom buckets may not have besides bounds: a zero bucket, a negative side.
std::string check_custom_rest(std::string_view msg, const Scalars& s) {
  // `!= 0` refuses NaN too, as Prometheus's check does.
  const bool zero_set =
      s.is_float ? (s.zero_is_float && s.zero_float != 0) : (!s.zero_is_float && s.zero_int != 0);
  if (zero_set) return "custom buckets: must have zero count of 0";
  if (s.zero_threshold != 0) return "custom buckets: must have zero threshold of 0";
  if (s.has_negative_spans) return "custom buckets: must not have negative spans";
  int64_t negative = 0;
  if (!count_buckets(msg, kNegative, s.is_float, negative)) return std::string(kMalformed);
  if (negative > 0) return "custom buckets: must not have negative buckets";
  return {};
}

bool has_custom_values(std::string_view msg) {
  Values bounds(msg, kCustomValues, WireType::kFixed64);
  uint64_t raw = 0;
  return bounds.next(raw);
}

}  // namespace

std::string histogram_problem(std::string_view msg) {
  Scalars s;
  if (!read_scalars(msg, s)) return std::string(kMalformed);
  // Prometheus's receiver reduces schemas 9..52 to 8 before it validates; -9..-5 it keeps.
  int shift = 0;
  if (s.schema > kMaxSchema && s.schema <= 52) {
    for (const Side* side : {&kPositive, &kNegative}) {
      if (std::string p = check_spans(msg, *side, s.is_float, {"", false, true}); !p.empty())
        return p;
    }
    shift = s.schema - kMaxSchema;
  }
  const int32_t schema = shift > 0 ? kMaxSchema : s.schema;
  uint64_t in_buckets = 0;
  std::string p;
  if (schema == kCustomBucketsSchema) {
    p = check_custom_bounds(msg, s.is_float);
    if (p.empty()) p = check_custom_rest(msg, s);
  } else if (schema >= -4 && schema <= kMaxSchema) {
    if (shift == 0) {
      p = check_spans(msg, kPositive, s.is_float, {kPositive.prefix, false, false});
      if (p.empty()) p = check_spans(msg, kNegative, s.is_float, {kNegative.prefix, false, false});
    }
    if (p.empty()) {
      p = s.is_float ? check_buckets<double>(msg, kNegative, shift, in_buckets)
                     : check_buckets<int64_t>(msg, kNegative, shift, in_buckets);
    }
    if (p.empty() && s.is_float && s.zero_is_float && s.zero_float < 0) {
      p = "zero bucket has observation count of " + go_float(s.zero_float) + ": " +
          std::string(kNegativeBucket);
    }
    if (p.empty() && has_custom_values(msg))
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
    return check_buckets<double>(msg, kPositive, shift, in_buckets);
  }
  if (p = check_buckets<int64_t>(msg, kPositive, shift, in_buckets); !p.empty()) return p;
  const uint64_t total = in_buckets + (s.zero_is_float ? 0 : s.zero_int);
  const std::string found = std::to_string(total) +
                            " observations found in buckets, but the Count field is " +
                            std::to_string(s.count_int) + ": ";
  if (std::isnan(s.sum)) {
    if (total > s.count_int) {
      return found +
             "histogram's observation count should be at least the number of observations "
             "found in the buckets";
    }
  } else if (total != s.count_int) {
    return found +
           "histogram's observation count should equal the number of observations found in "
           "the buckets (in absence of NaN)";
  }
  return {};
}

}  // namespace rwgate::proto
