// Codec micro-benchmarks: rwgate's zero-copy decoder and encoders next to libprotobuf's
// generated classes on the same bytes (the peer in docs/performance.md), plus snappy.
//
// The workload is what a Prometheus remote_write request typically carries: 2000 series
// with 12 labels (node_exporter-like names and values) and one sample each.
#include <benchmark/benchmark.h>
#include <snappy.h>

#include <random>
#include <string>

#include "io/prometheus/write/v2/types.pb.h"
#include "prometheus/remote.pb.h"
#include "proto/decode.h"
#include "proto/encode.h"

namespace {

using namespace rwgate;

prometheus::WriteRequest make_v1(int series) {
  std::mt19937 rng(42);
  prometheus::WriteRequest req;
  static const char* kNames[] = {"node_cpu_seconds_total", "node_memory_MemFree_bytes",
                                 "node_network_receive_bytes_total", "node_filesystem_avail_bytes"};
  for (int i = 0; i < series; ++i) {
    auto* ts = req.add_timeseries();
    auto add = [&](const std::string& k, const std::string& v) {
      auto* l = ts->add_labels();
      l->set_name(k);
      l->set_value(v);
    };
    add("__name__", kNames[i % 4]);
    add("availability_zone", "us-east-1" + std::string(1, static_cast<char>('a' + i % 3)));
    add("cpu", std::to_string(i % 16));
    add("device", "eth" + std::to_string(i % 4));
    add("env", "production");
    add("instance",
        "10.0." + std::to_string(i / 250 % 256) + "." + std::to_string(i % 250) + ":9100");
    add("job", "node");
    add("mode", i % 2 ? "idle" : "user");
    add("mountpoint", "/var/lib/data" + std::to_string(i % 8));
    add("region", "us-east-1");
    add("service", "checkout");
    add("team", "payments");
    auto* s = ts->add_samples();
    s->set_value(static_cast<double>(rng() % 100000) / 7.0);
    s->set_timestamp(1700000000000LL + i);
  }
  return req;
}

std::string v1_bytes() { return make_v1(2000).SerializeAsString(); }

std::string v2_bytes() {
  const std::string v1 = v1_bytes();
  proto::Decoder d;
  proto::Batch b;
  (void)d.decode_v1(v1, b);
  std::string out;
  proto::encode_batch(proto::Protocol::kV2, b, out);
  return out;
}

void BM_DecodeV1_Rwgate(benchmark::State& state) {
  const std::string bytes = v1_bytes();
  proto::Decoder d;
  proto::Batch b;
  for (auto _ : state) {
    benchmark::DoNotOptimize(d.decode_v1(bytes, b).ok());
  }
  state.SetItemsProcessed(state.iterations() * 2000);
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(bytes.size()));
}
BENCHMARK(BM_DecodeV1_Rwgate);

void BM_DecodeV1_Libprotobuf(benchmark::State& state) {
  const std::string bytes = v1_bytes();
  prometheus::WriteRequest req;
  for (auto _ : state) {
    benchmark::DoNotOptimize(req.ParseFromString(bytes));
  }
  state.SetItemsProcessed(state.iterations() * 2000);
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(bytes.size()));
}
BENCHMARK(BM_DecodeV1_Libprotobuf);

void BM_DecodeV2_Rwgate(benchmark::State& state) {
  const std::string bytes = v2_bytes();
  proto::Decoder d;
  proto::Batch b;
  for (auto _ : state) {
    benchmark::DoNotOptimize(d.decode_v2(bytes, b).ok());
  }
  state.SetItemsProcessed(state.iterations() * 2000);
}
BENCHMARK(BM_DecodeV2_Rwgate);

void BM_DecodeV2_Libprotobuf(benchmark::State& state) {
  const std::string bytes = v2_bytes();
  io::prometheus::write::v2::Request req;
  for (auto _ : state) {
    benchmark::DoNotOptimize(req.ParseFromString(bytes));
  }
  state.SetItemsProcessed(state.iterations() * 2000);
}
BENCHMARK(BM_DecodeV2_Libprotobuf);

void BM_EncodeV1_Rwgate(benchmark::State& state) {
  const std::string bytes = v1_bytes();
  proto::Decoder d;
  proto::Batch b;
  (void)d.decode_v1(bytes, b);
  std::string out;
  for (auto _ : state) {
    proto::encode_batch(proto::Protocol::kV1, b, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * 2000);
}
BENCHMARK(BM_EncodeV1_Rwgate);

void BM_EncodeV1_Libprotobuf(benchmark::State& state) {
  const auto req = make_v1(2000);
  std::string out;
  for (auto _ : state) {
    req.SerializeToString(&out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * 2000);
}
BENCHMARK(BM_EncodeV1_Libprotobuf);

void BM_EncodeV2_Rwgate(benchmark::State& state) {
  const std::string bytes = v1_bytes();
  proto::Decoder d;
  proto::Batch b;
  (void)d.decode_v1(bytes, b);
  std::string out;
  for (auto _ : state) {
    proto::encode_batch(proto::Protocol::kV2, b, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * 2000);
}
BENCHMARK(BM_EncodeV2_Rwgate);

void BM_SnappyCompress(benchmark::State& state) {
  const std::string bytes = v1_bytes();
  std::string out;
  for (auto _ : state) {
    snappy::Compress(bytes.data(), bytes.size(), &out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(bytes.size()));
}
BENCHMARK(BM_SnappyCompress);

void BM_SnappyUncompress(benchmark::State& state) {
  const std::string bytes = v1_bytes();
  std::string compressed;
  snappy::Compress(bytes.data(), bytes.size(), &compressed);
  std::string out(bytes.size(), '\0');
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        snappy::RawUncompress(compressed.data(), compressed.size(), out.data()));
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(bytes.size()));
}
BENCHMARK(BM_SnappyUncompress);

}  // namespace

BENCHMARK_MAIN();
