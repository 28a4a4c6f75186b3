// Every malformed body gives a clean error with a reason; none crashes or reads past the end.
#include <gtest/gtest.h>

#include <string>

#include "io/prometheus/write/v2/types.pb.h"
#include "prometheus/remote.pb.h"
#include "proto/decode.h"
#include "v1_request.h"

namespace rwgate::proto {
namespace {

std::string bytes(std::initializer_list<int> b) {
  std::string s;
  for (int c : b) s.push_back(static_cast<char>(c));
  return s;
}

std::string valid_v1() {
  prometheus::WriteRequest req;
  auto* ts = req.add_timeseries();
  auto* l = ts->add_labels();
  l->set_name("__name__");
  l->set_value("up");
  auto* s = ts->add_samples();
  s->set_value(1);
  s->set_timestamp(1700000000000);
  return req.SerializeAsString();
}

struct BadCase {
  const char* name;
  Protocol protocol;
  std::string body;
  const char* reason_contains;
};

std::vector<BadCase> bad_cases() {
  std::vector<BadCase> cases;
  const std::string v1 = valid_v1();
  cases.push_back({"truncated varint key", Protocol::kV1, bytes({0x8a}), "invalid protobuf"});
  cases.push_back({"varint longer than 10 bytes", Protocol::kV1,
                   bytes({0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}),
                   "invalid protobuf"});
  cases.push_back({"field number zero", Protocol::kV1, bytes({0x00, 0x01}), "invalid protobuf"});
  cases.push_back({"group wire type", Protocol::kV1, bytes({0x0b}), "invalid protobuf"});
  cases.push_back({"wire type 7", Protocol::kV1, bytes({0x0f}), "invalid protobuf"});
  cases.push_back({"timeseries as varint", Protocol::kV1, bytes({0x08, 0x01}), "wrong wire type"});
  cases.push_back(
      {"length past the end", Protocol::kV1, bytes({0x0a, 0x7f, 0x00}), "past the end"});
  cases.push_back(
      {"truncated message", Protocol::kV1, v1.substr(0, v1.size() - 3), "invalid protobuf"});
  {
    const std::string label = bytes({0x0a, 0x08}) + "__name__" + bytes({0x12, 0x02}) + "up";
    const std::string series =
        bytes({0x0a, static_cast<int>(label.size())}) + label + bytes({0x12, 0x02, 0x08, 0x01});
    cases.push_back({"sample value as varint", Protocol::kV1,
                     bytes({0x0a, static_cast<int>(series.size())}) + series, "bad sample"});
  }
  // label sets
  cases.push_back({"no labels", Protocol::kV1, testing::v1_request({}), "no labels"});
  cases.push_back(
      {"no __name__", Protocol::kV1, testing::v1_request({{"job", "x"}}), "no __name__"});
  cases.push_back({"empty name", Protocol::kV1,
                   testing::v1_request({{"__name__", "up"}, {"", "x"}}), "empty label name"});
  cases.push_back({"duplicate name", Protocol::kV1,
                   testing::v1_request({{"__name__", "up"}, {"job", "a"}, {"job", "b"}}),
                   "duplicate label name \"job\""});
  cases.push_back({"value not UTF-8", Protocol::kV1,
                   testing::v1_request({{"__name__", "up"}, {"job", "a\xff"}}),
                   "series 0: value of label \"job\" is not valid UTF-8"});
  cases.push_back({"overlong encoding", Protocol::kV1,
                   testing::v1_request({{"__name__", "up"}, {"job", "\xc0\xaf"}}),
                   "is not valid UTF-8"});
  cases.push_back({"surrogate", Protocol::kV1,
                   testing::v1_request({{"__name__", "up"}, {"job", "\xed\xa0\x80"}}),
                   "is not valid UTF-8"});
  cases.push_back({"name not UTF-8", Protocol::kV1,
                   testing::v1_request({{"__name__", "up"},
                                        {"j\x80"
                                         "b",
                                         "a"}}),
                   "label name is not valid UTF-8"});

  auto v2_with = [](std::vector<std::string> symbols, std::vector<uint32_t> refs) {
    io::prometheus::write::v2::Request req;
    for (auto& s : symbols) req.add_symbols(s);
    auto* ts = req.add_timeseries();
    for (uint32_t r : refs) ts->add_labels_refs(r);
    ts->add_samples()->set_value(1);
    return req.SerializeAsString();
  };
  cases.push_back({"symbol ref out of range", Protocol::kV2,
                   v2_with({"", "__name__", "up"}, {1, 3}),
                   "symbol ref 3 out of range (3 symbols)"});
  cases.push_back({"odd labels_refs", Protocol::kV2, v2_with({"", "__name__", "up"}, {1, 2, 1}),
                   "odd labels_refs length 3"});
  cases.push_back(
      {"no symbols at all", Protocol::kV2, v2_with({}, {0, 0}), "out of range (0 symbols)"});
  cases.push_back(
      {"v2 no __name__", Protocol::kV2, v2_with({"", "job", "x"}, {1, 2}), "no __name__"});
  cases.push_back({"v2 ref above uint32", Protocol::kV2,
                   bytes({0x22, 0x00, 0x2a, 0x07, 0x08, 0xff, 0xff, 0xff, 0xff, 0x1f, 0x00}),
                   "bad labels_refs"});
  cases.push_back({"v2 metadata help ref out of range", Protocol::kV2,
                   [] {
                     io::prometheus::write::v2::Request req;
                     req.add_symbols("");
                     req.add_symbols("__name__");
                     req.add_symbols("up");
                     auto* ts = req.add_timeseries();
                     ts->add_labels_refs(1);
                     ts->add_labels_refs(2);
                     ts->mutable_metadata()->set_help_ref(9);
                     return req.SerializeAsString();
                   }(),
                   "metadata symbol ref 9 out of range"});
  cases.push_back({"v2 value not UTF-8", Protocol::kV2, v2_with({"", "__name__", "up\xfe"}, {1, 2}),
                   "value of label \"__name__\" is not valid UTF-8"});
  cases.push_back({"v2 truncated", Protocol::kV2,
                   v2_with({"", "__name__", "up"}, {1, 2}).substr(0, 9), "invalid protobuf"});
  return cases;
}

TEST(CodecBadInputTest, EachMalformedBodyGivesACleanOneLineError) {
  Decoder decoder;
  Batch batch;
  for (const BadCase& c : bad_cases()) {
    const Status st = decoder.decode(c.protocol, c.body, batch);
    EXPECT_FALSE(st.ok()) << c.name;
    EXPECT_NE(st.reason().find(c.reason_contains), std::string::npos)
        << c.name << ": got \"" << st.reason() << "\"";
    EXPECT_EQ(st.reason().find('\n'), std::string::npos) << c.name;
  }
}

TEST(CodecBadInputTest, Utf8NamesAndValuesAreAccepted) {
  // Prometheus 3's UTF-8 names (dots, dashes, any script) and the replacement character
  // itself, written as the valid sequence it is.
  prometheus::WriteRequest req;
  auto* ts = req.add_timeseries();
  for (auto [k, v] : std::vector<std::pair<std::string, std::string>>{
           {"__name__", "http.server.duration"},
           {"k8s.pod-name", "\xe2\x9c\x93 caf\xc3\xa9"},
           {"\xe5\x90\x8d\xe5\x89\x8d", "\xef\xbf\xbd\xf0\x9f\x98\x80"}}) {
    auto* l = ts->add_labels();
    l->set_name(k);
    l->set_value(v);
  }
  ts->add_samples()->set_value(1);
  Decoder decoder;
  Batch batch;
  const Status st = decoder.decode(Protocol::kV1, req.SerializeAsString(), batch);
  ASSERT_TRUE(st.ok()) << st.reason();
  EXPECT_EQ(batch.labels_of(batch.series[0]).size(), 3u);
}

TEST(CodecBadInputTest, EveryPrefixOfAValidBodyDecodesOrFailsCleanly) {
  // Prefixes cut fields at every byte; run under ASan this proves no read past the end.
  Decoder decoder;
  Batch batch;
  const std::string v1 = valid_v1();
  for (size_t n = 0; n < v1.size(); ++n) {
    const std::string cut = v1.substr(0, n);  // own allocation: ASan sees an overread
    (void)decoder.decode_v1(cut, batch);
    (void)decoder.decode_v2(cut, batch);
  }
  ASSERT_TRUE(decoder.decode_v1(v1, batch).ok());
}

}  // namespace
}  // namespace rwgate::proto
