// libFuzzer target: remote_write bodies (after snappy) and the snappy layer itself.
//
// Invariants beyond "no crash, no read past the end" (ASan):
//   - whatever decodes, re-encodes, and the re-encoding decodes to the same batch;
//   - a series' raw Label fields are canonical: fleet labels spliced between them
//     (splice_fields_v1, at raw_field_start) give byte for byte what encoding the labels
//     in full writes;
//   - snappy input that claims a size over our limit is refused before allocation.
#include <snappy.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "proto/decode.h"
#include "proto/encode.h"

namespace {

using namespace rwgate::proto;

bool same_labels(std::span<const Label> a, std::span<const Label> b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}

// A batch's points in order, each with its series' labels: what a store ends up with.
// RW 2.0 output may split a series (one TimeSeries per run of start timestamps, floats apart
// from histograms) and leaves out series with no points, so series are not compared 1:1.
struct Point {
  std::span<const Label> labels;
  const Sample* sample = nullptr;
  const Histogram* histogram = nullptr;
};

std::vector<Point> points_of(const Batch& b, size_t& exemplars, bool only_with_points) {
  std::vector<Point> out;
  exemplars = 0;
  for (const Series& s : b.series) {
    if (only_with_points && s.samples_count == 0 && s.histograms_count == 0) continue;
    exemplars += s.exemplars_count;
    for (const Sample& x : b.samples_of(s)) out.push_back({b.labels_of(s), &x, nullptr});
    for (const Histogram& h : b.histograms_of(s)) out.push_back({b.labels_of(s), nullptr, &h});
  }
  return out;
}

void check_round_trip(const Batch& batch) {
  for (Protocol out : {Protocol::kV1, Protocol::kV2}) {
    std::string encoded;
    encode_batch(out, batch, encoded);
    Decoder d;
    Batch again;
    const rwgate::Status st = d.decode(out, encoded, again);
    if (!st) {
      std::fprintf(stderr, "re-encoded batch does not decode: %s\n", st.reason().c_str());
      std::abort();
    }
    const bool v2 = out == Protocol::kV2;
    if (!v2 && again.series.size() != batch.series.size()) std::abort();
    size_t ex_a = 0, ex_b = 0;
    const std::vector<Point> a = points_of(batch, ex_a, v2);
    const std::vector<Point> b = points_of(again, ex_b, false);
    if (a.size() != b.size() || ex_a != ex_b) std::abort();
    for (size_t i = 0; i < a.size(); ++i) {
      if (!same_labels(a[i].labels, b[i].labels)) std::abort();
      if ((a[i].sample == nullptr) != (b[i].sample == nullptr)) std::abort();
      if (a[i].sample != nullptr) {
        const Sample& x = *a[i].sample;
        const Sample& y = *b[i].sample;
        if (std::memcmp(&x.value, &y.value, 8) != 0 || x.timestamp != y.timestamp) std::abort();
        if (v2 && x.start_timestamp != y.start_timestamp) std::abort();
        continue;
      }
      const Histogram& x = *a[i].histogram;
      const Histogram& y = *b[i].histogram;
      // RW 2.0 may append the start timestamp (field 17) that came from the series.
      if (y.raw.substr(0, x.raw.size()) != x.raw || (!v2 && y.raw != x.raw)) std::abort();
      if (v2 && x.start_timestamp != y.start_timestamp) std::abort();
    }
  }
}

// The labels the direct path adds (fleet labels, the miss label), placed by name among
// each series' own as it places them; a name the series has stays the sender's.
void check_splice(const Batch& batch) {
  static const Label kAdded[] = {{"aaa", "first"},
                                 {"availability_zone", "us-east-1a"},
                                 {"instance_id", "i-0123456789abcdef0"},
                                 {"zzz", std::string_view("\x00\xff", 2)}};
  std::string fields[std::size(kAdded)];
  for (size_t a = 0; a < std::size(kAdded); ++a) append_labels_v1(fields[a], {&kAdded[a], 1});
  std::vector<Label> out;
  std::vector<FieldInsert> inserts;
  for (const Series& s : batch.series) {
    if (s.raw_labels.empty()) continue;
    const std::span<const Label> in = batch.labels_of(s);
    out.clear();
    inserts.clear();
    size_t a = 0;
    for (size_t k = 0; k < in.size(); ++k) {
      for (; a < std::size(kAdded) && kAdded[a].name <= in[k].name; ++a) {
        if (kAdded[a].name == in[k].name) continue;
        out.push_back(kAdded[a]);
        inserts.push_back({raw_field_start(s.raw_labels, in, k), fields[a]});
      }
      out.push_back(in[k]);
    }
    for (; a < std::size(kAdded); ++a) {
      out.push_back(kAdded[a]);
      inserts.push_back({s.raw_labels.size(), fields[a]});
    }
    std::string want, got = "prefix";
    append_labels_v1(want, out);
    if (!splice_fields_v1(got, s.raw_labels, inserts) || got.substr(6) != want) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  // First byte picks the path; the rest is the body.
  const uint8_t mode = data[0] % 3;
  const std::string body(reinterpret_cast<const char*>(data + 1), size - 1);
  Decoder decoder;
  Batch batch;
  if (mode == 2) {
    size_t len = 0;
    if (!snappy::GetUncompressedLength(body.data(), body.size(), &len)) return 0;
    if (len > (1u << 20)) return 0;  // the ingest limit check, before allocating
    std::string out(len, '\0');
    if (!snappy::RawUncompress(body.data(), body.size(), out.data())) return 0;
    if (decoder.decode_v1(out, batch).ok()) {
      check_round_trip(batch);
      check_splice(batch);
    }
    return 0;
  }
  const Protocol p = mode == 0 ? Protocol::kV1 : Protocol::kV2;
  if (decoder.decode(p, body, batch).ok()) {
    check_round_trip(batch);
    check_splice(batch);
  }
  return 0;
}
