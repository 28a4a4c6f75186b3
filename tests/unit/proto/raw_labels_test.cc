// A RW 1.0 series' raw Label fields: kept only when they are exactly what encoding its
// labels writes, and then spliced with pre-encoded fields (the direct path's fleet labels)
// into what encoding the whole label set writes.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "prometheus/remote.pb.h"
#include "proto/decode.h"
#include "proto/encode.h"
#include "v1_request.h"

namespace rwgate::proto {
namespace {

using testing::span_vec;
using testing::v1_request;

TEST(CodecTest, CanonicalV1SeriesKeepTheirRawLabelBytes) {
  Decoder decoder;
  Batch batch;
  const std::string sorted = v1_request({{"__name__", "up"}, {"job", "a"}});
  ASSERT_TRUE(decoder.decode_v1(sorted, batch).ok());
  const std::string_view raw = batch.series[0].raw_labels;
  ASSERT_FALSE(raw.empty());
  prometheus::TimeSeries only_labels;
  ASSERT_TRUE(only_labels.ParseFromArray(raw.data(), static_cast<int>(raw.size())));
  EXPECT_EQ(only_labels.labels_size(), 2);
  // Reordered or with a dropped empty value: no raw bytes (they would not be canonical).
  const std::string unsorted = v1_request({{"job", "a"}, {"__name__", "up"}});
  ASSERT_TRUE(decoder.decode_v1(unsorted, batch).ok());
  EXPECT_TRUE(batch.series[0].raw_labels.empty());
  const std::string with_empty = v1_request({{"__name__", "up"}, {"e", ""}});
  ASSERT_TRUE(decoder.decode_v1(with_empty, batch).ok());
  EXPECT_TRUE(batch.series[0].raw_labels.empty());
}

// Raw bytes are kept only when they are what encoding the labels writes, so that they are
// a function of the label set; other layouts of the same labels decode the same but keep
// none.
TEST(CodecTest, RawLabelBytesAreKeptOnlyInTheCanonicalLayout) {
  // One series: its name, then the Label fields `fields` (already framed), and a sample.
  const std::string name("\x0a\x0d\x0a\x08__name__\x12\x01m", 15);
  auto body = [&name](const std::string& fields) {
    const std::string sample("\x12\x09\x09\0\0\0\0\0\0\xf0\x3f", 11);  // value 1.0
    const std::string ts = name + fields + sample;
    return std::string("\x0a") + static_cast<char>(ts.size()) + ts;
  };
  const std::string canonical("\x0a\x06\x0a\x01\x61\x12\x01\x62", 8);  // {a="b"}
  const std::vector<std::string> other_layouts = {
      std::string("\x0a\x06\x12\x01\x62\x0a\x01\x61", 8),               // value first
      std::string("\x0a\x86\x00\x0a\x01\x61\x12\x01\x62", 9),           // long field length
      std::string("\x0a\x07\x0a\x81\x00\x61\x12\x01\x62", 9),           // long name length
      std::string("\x0a\x08\x0a\x01\x61\x12\x01\x62\x18\x01", 10),      // unknown field
      std::string("\x0a\x09\x0a\x01\x7a\x0a\x01\x61\x12\x01\x62", 11),  // name twice
  };
  Decoder decoder;
  Batch batch;
  const std::string kept = body(canonical);  // the batch's views point into it
  const Status st = decoder.decode_v1(kept, batch);
  ASSERT_TRUE(st.ok()) << st.reason();
  EXPECT_EQ(batch.series[0].raw_labels, name + canonical);
  for (const std::string& fields : other_layouts) {
    const std::string in = body(fields);
    ASSERT_TRUE(decoder.decode_v1(in, batch).ok());
    EXPECT_EQ(span_vec(batch.labels_of(batch.series[0])),
              (std::vector<Label>{{"__name__", "m"}, {"a", "b"}}));
    EXPECT_TRUE(batch.series[0].raw_labels.empty());
  }
}

// Fields inserted before the first label, between two, and after the last, several at one
// place, with long values (two-byte lengths): the bytes encoding the merged set writes.
TEST(LabelSpliceTest, InsertedFieldsGiveWhatEncodingTheWholeSetWrites) {
  const std::string long_value(300, 'v');
  const std::vector<Label> sender = {{"b", "1"}, {"d", long_value}, {"f", "3"}};
  std::string raw;
  append_labels_v1(raw, sender);
  Batch batch;
  for (const Label& l : sender) batch.labels.push_back(l);
  // Re-point the views into `raw`, as the decoder leaves them.
  ASSERT_TRUE(read_labels_v1(raw, batch.labels));
  const std::span<const Label> in(batch.labels);
  const Label a{"a", "x"}, c1{"c1", long_value}, c2{"c2", ""}, g{"g", "y"};
  auto field = [](const Label& l) {
    std::string f;
    append_labels_v1(f, {&l, 1});
    return f;
  };
  const std::string fa = field(a), fc = field(c1) + field(c2), fg = field(g);
  const std::vector<FieldInsert> inserts = {
      {raw_field_start(raw, in, 0), fa},
      {raw_field_start(raw, in, 2), fc},
      {raw_field_start(raw, in, 3), fg},
  };
  EXPECT_EQ(raw_field_start(raw, in, 3), raw.size());
  std::string got = "kept";
  ASSERT_TRUE(splice_fields_v1(got, raw, inserts));
  std::string want = "kept";
  append_labels_v1(want, std::vector<Label>{a, sender[0], sender[1], c1, c2, sender[2], g});
  EXPECT_EQ(got, want);
  got = "kept";
  ASSERT_TRUE(splice_fields_v1(got, raw, {}));
  EXPECT_EQ(got, "kept" + raw);
}

TEST(LabelSpliceTest, OffsetsOutOfOrderOrPastTheEndAreRefused) {
  const std::string raw("\x0a\x06\x0a\x01\x61\x12\x01\x62", 8);  // {a="b"}
  const std::vector<std::vector<FieldInsert>> bad = {
      {{raw.size() + 1, "x"}},
      {{8, "x"}, {0, "y"}},
  };
  for (const auto& inserts : bad) {
    std::string out = "kept";
    EXPECT_FALSE(splice_fields_v1(out, raw, inserts));
    EXPECT_EQ(out, "kept");
  }
}

}  // namespace
}  // namespace rwgate::proto
