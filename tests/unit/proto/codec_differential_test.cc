// Differential tests: libprotobuf's generated classes are the oracle for our codec.
//   1. random messages serialized by libprotobuf decode to the same content with ours;
//   2. our encoder's output parses back with libprotobuf to the same message;
//   3. RW 1.0 <-> RW 2.0 conversion keeps every label, sample, histogram and exemplar.
#include <google/protobuf/util/field_comparator.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <map>
#include <random>
#include <set>
#include <string>

#include "io/prometheus/write/v2/types.pb.h"
#include "prometheus/remote.pb.h"
#include "proto/decode.h"
#include "proto/encode.h"
#include "v1_request.h"

namespace rwgate::proto {
namespace {

namespace v2 = io::prometheus::write::v2;
using google::protobuf::util::MessageDifferencer;

class RandomMessages {
 public:
  explicit RandomMessages(uint32_t seed) : rng_(seed) {}

  std::string word(size_t max_len = 12) {
    static constexpr char kChars[] = "abcdefghijklmnopqrstuvwxyz_ABCXYZ0123456789";
    std::string s(1 + rng_() % max_len, 'a');
    for (char& c : s) c = kChars[rng_() % (sizeof(kChars) - 1)];
    if (rng_() % 8 == 0) s += "\xc3\xa9\xe2\x82\xac";  // some UTF-8
    return s;
  }

  // Sorted, unique names, non-empty values, always __name__: what a valid sender sends.
  std::map<std::string, std::string> label_set() {
    std::map<std::string, std::string> m;
    m["__name__"] = word();
    const int n = rng_() % 14;
    for (int i = 0; i < n; ++i) m[word(10)] = word(30);
    return m;
  }

  double value() {
    switch (rng_() % 6) {
      case 0:
        return std::bit_cast<double>(kStaleNaNBits);
      case 1:
        return 0.0;
      case 2:
        return -0.0;
      case 3:
        return std::numeric_limits<double>::infinity();
      default:
        return std::uniform_real_distribution<double>(-1e12, 1e12)(rng_);
    }
  }
  int64_t timestamp() { return 1700000000000LL + static_cast<int64_t>(rng_() % 100000000); }

  // A valid native histogram (the decoder refuses others): integer or float, exponential
  // or custom buckets, with the count its buckets add up to.
  template <typename H>
  void histogram(H* h) {
    const bool is_float = rng_() % 2;
    const bool custom = rng_() % 4 == 0;
    h->set_schema(custom ? -53 : static_cast<int32_t>(rng_() % 13) - 4);
    h->set_sum(value());
    uint64_t total = 0;
    int64_t span_end = 0;
    auto side = [&](auto* spans, auto* deltas, auto* counts) {
      int64_t prev = 0;
      for (int i = 0, n = rng_() % 3; i < n; ++i) {
        auto* sp = spans->Add();
        const int32_t offset = i == 0 && !custom ? static_cast<int32_t>(rng_() % 10) - 5
                                                 : static_cast<int32_t>(rng_() % 3);
        const uint32_t length = rng_() % 4;
        sp->set_offset(offset);
        sp->set_length(length);
        span_end += offset + length;
        for (uint32_t k = 0; k < length; ++k) {
          const int64_t c = rng_() % 20;
          total += static_cast<uint64_t>(c);
          if (is_float) {
            counts->Add(static_cast<double>(c) + 0.5);
          } else {
            deltas->Add(c - prev);
          }
          prev = c;
        }
      }
    };
    side(h->mutable_positive_spans(), h->mutable_positive_deltas(), h->mutable_positive_counts());
    if (custom) {
      for (int64_t i = 0; i < span_end; ++i) h->add_custom_values(0.25 * static_cast<double>(i));
    } else {
      side(h->mutable_negative_spans(), h->mutable_negative_deltas(), h->mutable_negative_counts());
      h->set_zero_threshold(1e-128);
      const uint64_t zero = rng_() % 10;
      total += zero;
      if (is_float) {
        h->set_zero_count_float(static_cast<double>(zero));
      } else {
        h->set_zero_count_int(zero);
      }
    }
    if (is_float) {
      h->set_count_float(static_cast<double>(total) + 0.25);
    } else {
      h->set_count_int(total);
    }
    h->set_reset_hint(static_cast<typename H::ResetHint>(rng_() % 4));
    h->set_timestamp(timestamp());
    if constexpr (std::is_same_v<H, v2::Histogram>) {
      if (rng_() % 3 == 0) h->set_start_timestamp(timestamp());
    }
  }

  prometheus::WriteRequest v1_request() {
    prometheus::WriteRequest req;
    for (int i = 0, n = rng_() % 20; i < n; ++i) {
      auto* ts = req.add_timeseries();
      for (auto& [k, v] : label_set()) {
        auto* l = ts->add_labels();
        l->set_name(k);
        l->set_value(v);
      }
      if (rng_() % 4 == 0) {
        for (int j = 0, m = 1 + rng_() % 3; j < m; ++j) histogram(ts->add_histograms());
      } else {
        for (int j = 0, m = 1 + rng_() % 5; j < m; ++j) {
          auto* s = ts->add_samples();
          s->set_value(value());
          s->set_timestamp(timestamp());
        }
      }
      for (int j = 0, m = rng_() % 3; j < m; ++j) {
        auto* e = ts->add_exemplars();
        for (int k = 0, q = rng_() % 3; k < q; ++k) {
          auto* l = e->add_labels();
          l->set_name("trace_id" + std::to_string(k));
          l->set_value(word(32));
        }
        e->set_value(value());
        e->set_timestamp(timestamp());
      }
    }
    std::set<std::string> families;
    for (int i = 0, n = rng_() % 4; i < n; ++i) {
      auto* md = req.add_metadata();
      md->set_type(static_cast<prometheus::MetricMetadata::MetricType>(rng_() % 8));
      std::string family = word();
      while (!families.insert(family).second) family = word();
      md->set_metric_family_name(family);
      md->set_help("help for " + word());
      if (rng_() % 2) md->set_unit("seconds");
    }
    return req;
  }

  // Start timestamps come in rc.4 form (per sample), rc.3 form (per series) or none; with
  // `mixed_starts` also both at once and differing within a series.
  v2::Request v2_request(bool mixed_starts = true) {
    v2::Request req;
    std::map<std::string, uint32_t> index;
    auto ref = [&](const std::string& s) {
      auto [it, added] = index.emplace(s, req.symbols_size());
      if (added) req.add_symbols(s);
      return it->second;
    };
    ref("");
    for (int i = 0, n = rng_() % 20; i < n; ++i) {
      auto* ts = req.add_timeseries();
      for (auto& [k, v] : label_set()) {
        ts->add_labels_refs(ref(k));
        ts->add_labels_refs(ref(v));
      }
      const int starts = rng_() % (mixed_starts ? 4 : 3);  // none, rc.3, rc.4, mixed
      const int64_t start = timestamp();
      if (rng_() % 4 == 0) {
        histogram(ts->add_histograms());
        if (starts == 2) ts->mutable_histograms(0)->set_start_timestamp(start);
      } else {
        for (int j = 0, m = 1 + rng_() % 5; j < m; ++j) {
          auto* s = ts->add_samples();
          s->set_value(value());
          s->set_timestamp(timestamp());
          if (starts == 2) s->set_start_timestamp(start);
          if (starts == 3 && rng_() % 2) s->set_start_timestamp(timestamp());
        }
      }
      if (starts == 1 || starts == 3) ts->set_created_timestamp(start);
      for (int j = 0, m = rng_() % 3; j < m; ++j) {
        auto* e = ts->add_exemplars();
        e->add_labels_refs(ref("trace_id"));
        e->add_labels_refs(ref(word(32)));
        e->set_value(value());
        e->set_timestamp(timestamp());
      }
      if (rng_() % 2) {
        auto* md = ts->mutable_metadata();
        md->set_type(static_cast<v2::Metadata::MetricType>(rng_() % 8));
        md->set_help_ref(ref("help " + word()));
        md->set_unit_ref(rng_() % 2 ? ref("bytes") : 0);
      }
    }
    return req;
  }

 private:
  std::mt19937 rng_;
};

uint64_t bits(double d) { return std::bit_cast<uint64_t>(d); }

// Field-by-field equality where NaN equals NaN (sample bits are checked separately).
bool same(const google::protobuf::Message& a, const google::protobuf::Message& b,
          std::string* diff = nullptr) {
  google::protobuf::util::DefaultFieldComparator cmp;
  cmp.set_treat_nan_as_equal(true);
  MessageDifferencer d;
  d.set_field_comparator(&cmp);
  if (diff) d.ReportDifferencesToString(diff);
  return d.Compare(a, b);
}

template <typename Labels>
std::vector<Label> to_labels(const Labels& ls) {
  std::vector<Label> out;
  for (const auto& l : ls) out.push_back(Label{l.name(), l.value()});
  return out;
}

std::vector<Label> resolve(const v2::Request& req,
                           const google::protobuf::RepeatedField<uint32_t>& refs) {
  std::vector<Label> out;
  for (int i = 0; i + 1 < refs.size(); i += 2)
    out.push_back(Label{req.symbols(refs[i]), req.symbols(refs[i + 1])});
  return out;
}

using testing::span_vec;

// Checks that `batch` holds exactly what the RW 1.0 message holds.
void expect_batch_matches_v1(const prometheus::WriteRequest& req, const Batch& batch) {
  ASSERT_EQ(batch.series.size(), static_cast<size_t>(req.timeseries_size()));
  for (int i = 0; i < req.timeseries_size(); ++i) {
    const auto& ts = req.timeseries(i);
    const Series& s = batch.series[i];
    EXPECT_EQ(span_vec(batch.labels_of(s)), to_labels(ts.labels()));
    ASSERT_EQ(s.samples_count, static_cast<uint32_t>(ts.samples_size()));
    for (int j = 0; j < ts.samples_size(); ++j) {
      EXPECT_EQ(bits(batch.samples_of(s)[j].value), bits(ts.samples(j).value()));
      EXPECT_EQ(batch.samples_of(s)[j].timestamp, ts.samples(j).timestamp());
    }
    ASSERT_EQ(s.histograms_count, static_cast<uint32_t>(ts.histograms_size()));
    for (int j = 0; j < ts.histograms_size(); ++j) {
      prometheus::Histogram h;
      ASSERT_TRUE(h.ParseFromArray(batch.histograms_of(s)[j].raw.data(),
                                   batch.histograms_of(s)[j].raw.size()));
      EXPECT_TRUE(same(h, ts.histograms(j)));
      EXPECT_EQ(batch.histograms_of(s)[j].timestamp, ts.histograms(j).timestamp());
    }
    ASSERT_EQ(s.exemplars_count, static_cast<uint32_t>(ts.exemplars_size()));
    for (int j = 0; j < ts.exemplars_size(); ++j) {
      const Exemplar& e = batch.exemplars_of(s)[j];
      EXPECT_EQ(span_vec(batch.labels_of(e)), to_labels(ts.exemplars(j).labels()));
      EXPECT_EQ(bits(e.value), bits(ts.exemplars(j).value()));
      EXPECT_EQ(e.timestamp, ts.exemplars(j).timestamp());
    }
  }
  ASSERT_EQ(batch.metadata.size(), static_cast<size_t>(req.metadata_size()));
  for (int i = 0; i < req.metadata_size(); ++i) {
    EXPECT_EQ(static_cast<int>(batch.metadata[i].type), static_cast<int>(req.metadata(i).type()));
    EXPECT_EQ(batch.metadata[i].family_name, req.metadata(i).metric_family_name());
    EXPECT_EQ(batch.metadata[i].help, req.metadata(i).help());
    EXPECT_EQ(batch.metadata[i].unit, req.metadata(i).unit());
  }
}

// The start timestamp a receiver of either rc sees: the sample's own, else the series'.
int64_t start_of(int64_t own, const v2::TimeSeries& ts) {
  return own != 0 ? own : ts.created_timestamp();
}

void expect_batch_matches_v2(const v2::Request& req, const Batch& batch) {
  ASSERT_EQ(batch.series.size(), static_cast<size_t>(req.timeseries_size()));
  for (int i = 0; i < req.timeseries_size(); ++i) {
    const auto& ts = req.timeseries(i);
    const Series& s = batch.series[i];
    EXPECT_EQ(span_vec(batch.labels_of(s)), resolve(req, ts.labels_refs()));
    ASSERT_EQ(s.samples_count, static_cast<uint32_t>(ts.samples_size()));
    for (int j = 0; j < ts.samples_size(); ++j) {
      EXPECT_EQ(bits(batch.samples_of(s)[j].value), bits(ts.samples(j).value()));
      EXPECT_EQ(batch.samples_of(s)[j].timestamp, ts.samples(j).timestamp());
      EXPECT_EQ(batch.samples_of(s)[j].start_timestamp,
                start_of(ts.samples(j).start_timestamp(), ts));
    }
    ASSERT_EQ(s.histograms_count, static_cast<uint32_t>(ts.histograms_size()));
    for (int j = 0; j < ts.histograms_size(); ++j) {
      const Histogram& ours = batch.histograms_of(s)[j];
      v2::Histogram h;
      ASSERT_TRUE(h.ParseFromArray(ours.raw.data(), ours.raw.size()));
      EXPECT_EQ(ours.raw_has_start, h.start_timestamp() != 0);
      // Equal but for the start, which may have come from the series (rc.3).
      v2::Histogram want = ts.histograms(j);
      want.set_start_timestamp(start_of(want.start_timestamp(), ts));
      h.set_start_timestamp(ours.start_timestamp);
      EXPECT_TRUE(same(h, want));
    }
    ASSERT_EQ(s.exemplars_count, static_cast<uint32_t>(ts.exemplars_size()));
    for (int j = 0; j < ts.exemplars_size(); ++j) {
      const Exemplar& e = batch.exemplars_of(s)[j];
      EXPECT_EQ(span_vec(batch.labels_of(e)), resolve(req, ts.exemplars(j).labels_refs()));
      EXPECT_EQ(bits(e.value), bits(ts.exemplars(j).value()));
    }
    EXPECT_EQ(s.metadata.present, ts.has_metadata());
    if (ts.has_metadata()) {
      EXPECT_EQ(static_cast<int>(s.metadata.type), static_cast<int>(ts.metadata().type()));
      EXPECT_EQ(s.metadata.help, req.symbols(ts.metadata().help_ref()));
      EXPECT_EQ(s.metadata.unit, req.symbols(ts.metadata().unit_ref()));
    }
  }
}

TEST(CodecDifferentialTest, RandomV1MessagesDecodeAsLibprotobufSees) {
  RandomMessages gen(1);
  Decoder decoder;
  Batch batch;
  for (int iter = 0; iter < 400; ++iter) {
    const auto req = gen.v1_request();
    const std::string bytes = req.SerializeAsString();
    ASSERT_TRUE(decoder.decode_v1(bytes, batch).ok());
    expect_batch_matches_v1(req, batch);
  }
}

TEST(CodecDifferentialTest, RandomV2MessagesDecodeAsLibprotobufSees) {
  RandomMessages gen(2);
  Decoder decoder;
  Batch batch;
  for (int iter = 0; iter < 400; ++iter) {
    const auto req = gen.v2_request();
    const std::string bytes = req.SerializeAsString();
    const Status st = decoder.decode_v2(bytes, batch);
    ASSERT_TRUE(st.ok()) << st.reason();
    expect_batch_matches_v2(req, batch);
  }
}

TEST(CodecDifferentialTest, V1EncoderOutputParsesBackToTheSameMessage) {
  RandomMessages gen(3);
  Decoder decoder;
  Batch batch;
  std::string out;
  for (int iter = 0; iter < 400; ++iter) {
    const auto req = gen.v1_request();
    const std::string in = req.SerializeAsString();  // the batch points into it
    ASSERT_TRUE(decoder.decode_v1(in, batch).ok());
    encode_batch(Protocol::kV1, batch, out);
    prometheus::WriteRequest back;
    ASSERT_TRUE(back.ParseFromString(out));
    std::string diff;
    EXPECT_TRUE(same(req, back, &diff)) << diff;
  }
}

// Sinks copy label bytes encoded once (by the relabel cache or the enrichment path):
// a series written that way must be byte for byte the one written from its labels.
TEST(CodecDifferentialTest, PreEncodedLabelsGiveTheSameBytesAsLabels) {
  RandomMessages gen(5);
  Decoder decoder;
  Batch batch;
  std::string encoded, from_labels, from_bytes;
  std::vector<Label> back;
  for (int iter = 0; iter < 200; ++iter) {
    const auto req = gen.v1_request();
    const std::string in = req.SerializeAsString();
    ASSERT_TRUE(decoder.decode_v1(in, batch).ok());
    from_labels.clear();
    from_bytes.clear();
    for (const Series& s : batch.series) {
      encoded.clear();
      append_labels_v1(encoded, batch.labels_of(s));
      ASSERT_TRUE(read_labels_v1(encoded, back));
      EXPECT_EQ(back, span_vec(batch.labels_of(s)));
      append_series_v1(from_labels, batch, s, batch.labels_of(s));
      append_series_v1(from_bytes, batch, s, batch.labels_of(s), encoded);
    }
    ASSERT_EQ(from_labels, from_bytes);
    prometheus::WriteRequest parsed;
    ASSERT_TRUE(parsed.ParseFromString(from_bytes));
    EXPECT_EQ(parsed.timeseries_size(), req.timeseries_size());
  }
}

TEST(CodecTest, ReadLabelsRefusesBytesItDidNotWrite) {
  std::vector<Label> out;
  std::string good;
  const Label l{"job", "node"};
  append_labels_v1(good, std::span<const Label>(&l, 1));
  ASSERT_TRUE(read_labels_v1(good, out));
  EXPECT_EQ(out, (std::vector<Label>{l}));
  EXPECT_FALSE(read_labels_v1(good.substr(0, good.size() - 1), out));     // truncated
  EXPECT_FALSE(read_labels_v1(std::string("\x12\x00", 2), out));          // field 2, not 1
  EXPECT_FALSE(read_labels_v1(std::string("\x0a\x02\x08\x01", 4), out));  // varint name
}

TEST(CodecDifferentialTest, V2EncoderOutputParsesBackToTheSameContent) {
  RandomMessages gen(4);
  Decoder decoder;
  Batch batch;
  std::string out;
  for (int iter = 0; iter < 400; ++iter) {
    // One start timestamp per series, so one TimeSeries out per series in.
    const auto req = gen.v2_request(/*mixed_starts=*/false);
    const std::string in = req.SerializeAsString();
    ASSERT_TRUE(decoder.decode_v2(in, batch).ok());
    encode_batch(Protocol::kV2, batch, out);
    v2::Request back;
    ASSERT_TRUE(back.ParseFromString(out));
    ASSERT_EQ(back.symbols(0), "");
    // Symbol order may differ; the resolved content must not.
    expect_batch_matches_v2(back, batch);
    // Both forms out: rc.3's per series and rc.4's per sample, equal.
    for (const auto& ts : back.timeseries()) {
      for (const auto& smp : ts.samples()) EXPECT_EQ(smp.start_timestamp(), ts.created_timestamp());
      for (const auto& h : ts.histograms()) EXPECT_EQ(h.start_timestamp(), ts.created_timestamp());
    }
  }
}

// rc.3 in, rc.4 and rc.3 out: a series whose samples start at different times is sent as
// one TimeSeries per run of equal start, so each carries a true created_timestamp; a
// histogram whose start came from the series gets its own field 17.
TEST(CodecTest, StartTimestampsConvertBetweenRc3AndRc4) {
  v2::Request req;
  req.add_symbols("");
  req.add_symbols("__name__");
  req.add_symbols("requests_total");
  req.add_symbols("trace_id");
  req.add_symbols("abc");
  auto* ts = req.add_timeseries();
  ts->add_labels_refs(1);
  ts->add_labels_refs(2);
  ts->set_created_timestamp(1000);
  for (auto [t, start] : {std::pair{5000, 0}, {6000, 0}, {7000, 6500}}) {
    auto* smp = ts->add_samples();
    smp->set_value(1);
    smp->set_timestamp(t);
    smp->set_start_timestamp(start);
  }
  auto* e = ts->add_exemplars();
  e->add_labels_refs(3);
  e->add_labels_refs(4);
  e->set_value(1);
  auto* hs = req.add_timeseries();
  hs->add_labels_refs(1);
  hs->add_labels_refs(2);
  hs->set_created_timestamp(2000);
  hs->add_histograms()->set_count_int(0);
  hs->mutable_histograms(0)->set_timestamp(8000);

  Decoder decoder;
  Batch batch;
  const std::string in = req.SerializeAsString();
  ASSERT_TRUE(decoder.decode_v2(in, batch).ok());
  std::string out;
  encode_batch(Protocol::kV2, batch, out);
  v2::Request back;
  ASSERT_TRUE(back.ParseFromString(out));
  ASSERT_EQ(back.timeseries_size(), 3);
  const auto& a = back.timeseries(0);
  const auto& b = back.timeseries(1);
  EXPECT_EQ(a.created_timestamp(), 1000);
  ASSERT_EQ(a.samples_size(), 2);
  EXPECT_EQ(a.samples(1).start_timestamp(), 1000);
  EXPECT_EQ(a.exemplars_size(), 1);
  EXPECT_EQ(b.created_timestamp(), 6500);
  ASSERT_EQ(b.samples_size(), 1);
  EXPECT_EQ(b.samples(0).timestamp(), 7000);
  EXPECT_EQ(b.samples(0).start_timestamp(), 6500);
  EXPECT_EQ(b.exemplars_size(), 0);
  EXPECT_EQ(a.labels_refs_size(), 2);
  EXPECT_EQ(resolve(back, a.labels_refs()), resolve(back, b.labels_refs()));
  const auto& h = back.timeseries(2);
  ASSERT_EQ(h.histograms_size(), 1);
  EXPECT_EQ(h.histograms(0).start_timestamp(), 2000);
  EXPECT_EQ(h.histograms(0).timestamp(), 8000);
  EXPECT_EQ(h.created_timestamp(), 2000);
  // RW 1.0 has no start timestamp: the samples go out without one, nothing else changes.
  encode_batch(Protocol::kV1, batch, out);
  prometheus::WriteRequest v1;
  ASSERT_TRUE(v1.ParseFromString(out));
  ASSERT_EQ(v1.timeseries_size(), 2);
  EXPECT_EQ(v1.timeseries(0).samples_size(), 3);
  EXPECT_EQ(v1.timeseries(0).samples(2).ByteSizeLong(), 9u + 3u);  // value, timestamp, no field 3
}

TEST(CodecDifferentialTest, V1ToV2AndBackKeepsEverything) {
  RandomMessages gen(5);
  Decoder decoder;
  Batch batch, batch2;
  std::string as_v2, as_v1;
  for (int iter = 0; iter < 300; ++iter) {
    auto req = gen.v1_request();
    req.clear_metadata();  // family metadata only survives for families that have series
    const std::string original = req.SerializeAsString();
    ASSERT_TRUE(decoder.decode_v1(original, batch).ok());
    encode_batch(Protocol::kV2, batch, as_v2);
    v2::Request v2req;
    ASSERT_TRUE(v2req.ParseFromString(as_v2));
    ASSERT_TRUE(decoder.decode_v2(as_v2, batch2).ok());
    encode_batch(Protocol::kV1, batch2, as_v1);
    prometheus::WriteRequest back;
    ASSERT_TRUE(back.ParseFromString(as_v1));
    std::string diff;
    EXPECT_TRUE(same(req, back, &diff)) << diff;
  }
}

TEST(CodecDifferentialTest, V1MetadataBecomesV2SeriesMetadataByFamily) {
  prometheus::WriteRequest req;
  auto* ts = req.add_timeseries();
  auto* l = ts->add_labels();
  l->set_name("__name__");
  l->set_value("http_requests_total");
  ts->add_samples()->set_value(1);
  auto* md = req.add_metadata();
  md->set_type(prometheus::MetricMetadata::COUNTER);
  md->set_metric_family_name("http_requests");
  md->set_help("Requests served.");
  Decoder decoder;
  Batch batch;
  const std::string in = req.SerializeAsString();
  ASSERT_TRUE(decoder.decode_v1(in, batch).ok());
  std::string out;
  encode_batch(Protocol::kV2, batch, out);
  v2::Request back;
  ASSERT_TRUE(back.ParseFromString(out));
  ASSERT_EQ(back.timeseries_size(), 1);
  EXPECT_EQ(back.timeseries(0).metadata().type(), v2::Metadata::METRIC_TYPE_COUNTER);
  EXPECT_EQ(back.symbols(back.timeseries(0).metadata().help_ref()), "Requests served.");
}

TEST(CodecTest, StaleNaNPassesThroughBitForBit) {
  prometheus::WriteRequest req;
  auto* ts = req.add_timeseries();
  auto* l = ts->add_labels();
  l->set_name("__name__");
  l->set_value("up");
  ts->add_samples()->set_value(std::bit_cast<double>(kStaleNaNBits));
  Decoder decoder;
  Batch batch;
  const std::string in = req.SerializeAsString();
  ASSERT_TRUE(decoder.decode_v1(in, batch).ok());
  for (Protocol p : {Protocol::kV1, Protocol::kV2}) {
    std::string out;
    encode_batch(p, batch, out);
    Batch again;
    ASSERT_TRUE(decoder.decode(p, out, again).ok());
    EXPECT_EQ(bits(again.samples[0].value), kStaleNaNBits);
  }
}

TEST(CodecTest, UnsortedV1LabelsAreSortedAndEmptyValuesDropped) {
  Decoder decoder;
  Batch batch;
  const std::string in = testing::v1_request(
      {{"job", "node"}, {"__name__", "up"}, {"empty", ""}, {"instance", "a:1"}});
  ASSERT_TRUE(decoder.decode_v1(in, batch).ok());
  const auto labels = span_vec(batch.labels_of(batch.series[0]));
  EXPECT_EQ(labels, (std::vector<Label>{{"__name__", "up"}, {"instance", "a:1"}, {"job", "node"}}));
}

// The decoder reads the usual Label form (name then value, each under 128 bytes) by fixed
// offsets; every other form a sender may write must still read as libprotobuf reads it.
TEST(CodecDifferentialTest, LabelsInUnusualFormsDecodeAsLibprotobufSees) {
  const auto field = [](char tag, const std::string& body) {
    std::string out(1, tag);
    for (size_t n = body.size();; n >>= 7) {
      out.push_back(static_cast<char>(n < 0x80 ? n : (n & 0x7f) | 0x80));
      if (n < 0x80) break;
    }
    return out + body;
  };
  const std::string long_name(200, 'a'), long_value(130, 'v');
  const std::vector<std::string> labels = {
      field(0x12, "up") + field(0x0a, "__name__"),                      // value first
      field(0x0a, long_name) + field(0x12, "long"),                     // two-byte name length
      field(0x0a, "zzz") + field(0x0a, "instance") + field(0x12, "x"),  // name twice: last wins
      field(0x0a, "job") + field(0x12, "node") + std::string("\x18\x01", 2),  // unknown field
      field(0x0a, "zone") + field(0x12, long_value),              // two-byte value length
      field(0x0a, "zzzz") + field(0x12, "a") + field(0x12, "b"),  // value twice
  };
  std::string series;
  for (const std::string& l : labels) series += field(0x0a, l);
  const std::string bytes = field(0x0a, series);
  prometheus::WriteRequest req;
  ASSERT_TRUE(req.ParseFromString(bytes));
  Decoder decoder;
  Batch batch;
  ASSERT_TRUE(decoder.decode_v1(bytes, batch).ok());
  expect_batch_matches_v1(req, batch);
  EXPECT_EQ(req.timeseries(0).labels(2).name(), "instance");
  EXPECT_EQ(req.timeseries(0).labels(5).value(), "b");
}

TEST(CodecTest, UnknownFieldsAreSkipped) {
  prometheus::WriteRequest req;
  auto* ts = req.add_timeseries();
  auto* l = ts->add_labels();
  l->set_name("__name__");
  l->set_value("up");
  std::string bytes = req.SerializeAsString();
  // field 9 varint, field 10 fixed32, field 11 bytes at the top level
  bytes += std::string("\x48\x05\x55\x01\x02\x03\x04\x5a\x02hi", 11);
  Decoder decoder;
  Batch batch;
  ASSERT_TRUE(decoder.decode_v1(bytes, batch).ok());
  EXPECT_EQ(batch.series.size(), 1u);
}

}  // namespace
}  // namespace rwgate::proto
