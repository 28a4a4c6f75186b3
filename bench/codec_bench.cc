// Codec micro-benchmarks: rwgate's zero-copy decoder and encoders next to libprotobuf's
// generated classes on the same bytes (the peer in docs/performance.md), plus snappy.
//
// The workload is what a Prometheus remote_write request typically carries: 2000 series
// with 12 labels (node_exporter-like names and values) and one sample each. The histogram
// workload has the same series, each with one native integer histogram instead (schema 3,
// 12 positive buckets in 2 spans and 4 negative ones, as deltas; count = zero_count + the
// buckets), which the decoders validate as Prometheus does.
#include <benchmark/benchmark.h>
#include <snappy.h>

#include <random>
#include <string>
#include <unordered_map>

#include "coverage/coverage.h"
#include "io/prometheus/write/v2/types.pb.h"
#include "pipeline/ha_dedup.h"
#include "pipeline/limits.h"
#include "pipeline/tenancy.h"
#include "prometheus/remote.pb.h"
#include "proto/decode.h"
#include "proto/encode.h"

namespace {

using namespace rwgate;

// The 12 labels of series i, sorted by name, through add(name, value).
template <typename Add>
void add_series_labels(int i, Add add) {
  static const char* kNames[] = {"node_cpu_seconds_total", "node_memory_MemFree_bytes",
                                 "node_network_receive_bytes_total", "node_filesystem_avail_bytes"};
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
}

prometheus::WriteRequest make_v1(int series) {
  std::mt19937 rng(42);
  prometheus::WriteRequest req;
  for (int i = 0; i < series; ++i) {
    auto* ts = req.add_timeseries();
    add_series_labels(i, [&](const std::string& k, const std::string& v) {
      auto* l = ts->add_labels();
      l->set_name(k);
      l->set_value(v);
    });
    auto* s = ts->add_samples();
    s->set_value(static_cast<double>(rng() % 100000) / 7.0);
    s->set_timestamp(1700000000000LL + i);
  }
  return req;
}

std::string v1_bytes() { return make_v1(2000).SerializeAsString(); }

// One valid native integer histogram (RW 1.0 and RW 2.0 Histogram share their fields):
// schema 3, positive spans {0, 8} {2, 4}, negative span {-2, 4}, buckets as deltas of
// absolute counts, count = zero_count + every bucket.
template <typename H>
void fill_histogram(H* h, int i, std::mt19937& rng) {
  uint64_t count = rng() % 5;
  h->set_zero_count_int(count);
  auto deltas = [&](int n, auto add) {
    int64_t prev = 0;
    for (int k = 0; k < n; ++k) {
      const int64_t c = rng() % 1000;
      add(c - prev);
      prev = c;
      count += static_cast<uint64_t>(c);
    }
  };
  h->set_schema(3);
  h->set_zero_threshold(1e-128);
  auto* p1 = h->add_positive_spans();
  p1->set_offset(0);
  p1->set_length(8);
  auto* p2 = h->add_positive_spans();
  p2->set_offset(2);
  p2->set_length(4);
  deltas(12, [&](int64_t d) { h->add_positive_deltas(d); });
  auto* n1 = h->add_negative_spans();
  n1->set_offset(-2);
  n1->set_length(4);
  deltas(4, [&](int64_t d) { h->add_negative_deltas(d); });
  h->set_count_int(count);
  h->set_sum(static_cast<double>(rng() % 100000) / 7.0);
  h->set_timestamp(1700000000000LL + i);
}

std::string v1_histogram_bytes() {
  std::mt19937 rng(42);
  prometheus::WriteRequest req;
  for (int i = 0; i < 2000; ++i) {
    auto* ts = req.add_timeseries();
    add_series_labels(i, [&](const std::string& k, const std::string& v) {
      auto* l = ts->add_labels();
      l->set_name(k);
      l->set_value(v);
    });
    fill_histogram(ts->add_histograms(), i, rng);
  }
  return req.SerializeAsString();
}

std::string v2_histogram_bytes() {
  std::mt19937 rng(42);
  io::prometheus::write::v2::Request req;
  std::unordered_map<std::string, uint32_t> refs;
  auto ref = [&](const std::string& s) {
    auto [it, added] = refs.emplace(s, static_cast<uint32_t>(req.symbols_size()));
    if (added) req.add_symbols(s);
    return it->second;
  };
  ref("");  // symbol 0 is the empty string
  for (int i = 0; i < 2000; ++i) {
    auto* ts = req.add_timeseries();
    add_series_labels(i, [&](const std::string& k, const std::string& v) {
      ts->add_labels_refs(ref(k));
      ts->add_labels_refs(ref(v));
    });
    fill_histogram(ts->add_histograms(), i, rng);
  }
  return req.SerializeAsString();
}

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

void BM_DecodeV1Histograms_Rwgate(benchmark::State& state) {
  const std::string bytes = v1_histogram_bytes();
  proto::Decoder d;
  proto::Batch b;
  if (!d.decode_v1(bytes, b).ok() || b.histograms.size() != 2000) state.SkipWithError("decode");
  for (auto _ : state) {
    benchmark::DoNotOptimize(d.decode_v1(bytes, b).ok());
  }
  state.SetItemsProcessed(state.iterations() * 2000);
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(bytes.size()));
}
BENCHMARK(BM_DecodeV1Histograms_Rwgate);

void BM_DecodeV1Histograms_Libprotobuf(benchmark::State& state) {
  const std::string bytes = v1_histogram_bytes();
  prometheus::WriteRequest req;
  for (auto _ : state) {
    benchmark::DoNotOptimize(req.ParseFromString(bytes));
  }
  state.SetItemsProcessed(state.iterations() * 2000);
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(bytes.size()));
}
BENCHMARK(BM_DecodeV1Histograms_Libprotobuf);

void BM_DecodeV2Histograms_Rwgate(benchmark::State& state) {
  const std::string bytes = v2_histogram_bytes();
  proto::Decoder d;
  proto::Batch b;
  if (!d.decode_v2(bytes, b).ok() || b.histograms.size() != 2000) state.SkipWithError("decode");
  for (auto _ : state) {
    benchmark::DoNotOptimize(d.decode_v2(bytes, b).ok());
  }
  state.SetItemsProcessed(state.iterations() * 2000);
}
BENCHMARK(BM_DecodeV2Histograms_Rwgate);

void BM_DecodeV2Histograms_Libprotobuf(benchmark::State& state) {
  const std::string bytes = v2_histogram_bytes();
  io::prometheus::write::v2::Request req;
  for (auto _ : state) {
    benchmark::DoNotOptimize(req.ParseFromString(bytes));
  }
  state.SetItemsProcessed(state.iterations() * 2000);
}
BENCHMARK(BM_DecodeV2Histograms_Libprotobuf);

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

// HA deduplication of one request from a replica of an HA pair (external labels cluster and
// __replica__ on all 2000 series): arg 0 = from the elected replica (the replica label
// comes off every series), 1 = from the other one (every series dropped). Compare with
// BM_DecodeV1_Rwgate of the same run: the work one request costs anyway.
void BM_HaDedup(benchmark::State& state) {
  prometheus::WriteRequest req = make_v1(2000);
  for (auto& ts : *req.mutable_timeseries()) {
    for (auto [k, v] : {std::pair{"cluster", "eu-1"}, {"__replica__", "prometheus-0"}}) {
      auto* l = ts.add_labels();
      l->set_name(k);
      l->set_value(v);
    }
  }
  const std::string bytes = req.SerializeAsString();
  proto::Decoder decoder;
  proto::Batch received, batch;
  if (!decoder.decode_v1(bytes, received).ok()) state.SkipWithError("decode failed");
  ManualClock clock;
  pipeline::HaTracker tracker(clock);
  pipeline::HaDedupConfig config;
  config.enabled = true;
  tracker.configure(config);
  if (state.range(0) == 1) {  // another replica holds the election
    proto::Batch other = received;
    for (proto::Label& l : other.labels) {
      if (l.name == "__replica__") l.value = "prometheus-1";
    }
    tracker.dedup(other);
  }
  for (auto _ : state) {
    state.PauseTiming();
    batch = received;  // dedup edits the batch in place
    state.ResumeTiming();
    benchmark::DoNotOptimize(tracker.dedup(batch));
  }
  state.SetItemsProcessed(state.iterations() * 2000);
}
BENCHMARK(BM_HaDedup)->Arg(0)->Arg(1);

// The tenant stage on one request of 2000 series, all of one team (a request from one
// Prometheus): `tenancy: {label: team}`, arg 1 with label_remove (the label comes off every
// series). Compare with BM_DecodeV1_Rwgate of the same run.
void BM_TenantStage(benchmark::State& state) {
  const std::string bytes = v1_bytes();
  proto::Decoder decoder;
  proto::Batch received, batch;
  if (!decoder.decode_v1(bytes, received).ok()) state.SkipWithError("decode failed");
  pipeline::TenancyConfig config;
  config.enabled = true;
  config.labels = {"team"};
  config.label_remove = state.range(0) == 1;
  sinks::TenantNames names;
  pipeline::TenantResolver resolver;
  for (auto _ : state) {
    state.PauseTiming();
    batch = received;  // label_remove edits the batch in place
    state.ResumeTiming();
    benchmark::DoNotOptimize(resolver.resolve(config, names, "", batch));
  }
  state.SetItemsProcessed(state.iterations() * 2000);
}
BENCHMARK(BM_TenantStage)->Arg(0)->Arg(1);

// Per-tenant limits on the same request: arg 0 = the accounting only (tenancy without a
// limits section), 1 = an ingestion rate it stays under, 2 = that and max_series with the
// request's 2000 series active (a hash lookup per series).
void BM_Limits(benchmark::State& state) {
  const std::string bytes = v1_bytes();
  proto::Decoder decoder;
  proto::Batch received, batch;
  if (!decoder.decode_v1(bytes, received).ok()) state.SkipWithError("decode failed");
  prometheus::Registry registry;
  auto names = std::make_shared<sinks::TenantNames>();
  const uint32_t tenant = *names->intern("payments", 10);
  for (proto::Series& s : received.series) s.tenant = tenant;
  pipeline::LimitsState limits(registry, names);
  auto config = std::make_shared<pipeline::LimitsConfig>();
  if (state.range(0) >= 1) config->defaults.ingestion_rate = 1e12;
  if (state.range(0) >= 2) config->defaults.max_series = 100000;
  limits.configure(config);
  for (auto _ : state) {
    state.PauseTiming();
    batch = received;
    state.ResumeTiming();
    pipeline::LimitsOutcome o = limits.apply(batch);
    limits.count_accepted(o.accepted);
    benchmark::DoNotOptimize(o);
  }
  state.SetItemsProcessed(state.iterations() * 2000);
}
BENCHMARK(BM_Limits)->Arg(0)->Arg(1)->Arg(2);

// Fleet coverage's cost on the request path: marking the instances one request's 2000
// series matched. Args: instances in the request; 1 = their series interleaved (as a
// Prometheus shard sends them: by series hash), 0 = each instance's series together. Within
// one second every mark after the first only reads (the steady state); compare with
// BM_DecodeV1_Rwgate of the same run.
void BM_MarkSeen(benchmark::State& state) {
  const size_t instances = static_cast<size_t>(state.range(0));
  std::vector<discovery::InstanceRecord> records(instances);
  for (size_t i = 0; i < instances; ++i) {
    records[i].instance_id = "i-" + std::to_string(i);
    records[i].lifecycle_state = "InService";
  }
  const discovery::DiscoverySnapshot fleet(1, std::move(records));
  std::vector<const discovery::InstanceRecord*> matched(2000);
  for (size_t s = 0; s < matched.size(); ++s) {
    const size_t i = state.range(1) == 1 ? s % instances : s * instances / matched.size();
    matched[s] = &fleet.records()[i];
  }
  for (auto _ : state) coverage::mark_seen(fleet, matched, 1'800'000'000);
  state.SetItemsProcessed(state.iterations() * 2000);
}
BENCHMARK(BM_MarkSeen)->Args({10, 0})->Args({10, 1})->Args({500, 1})->Args({2000, 1});

BENCHMARK_MAIN();
