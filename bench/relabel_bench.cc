// Relabel micro-benchmarks: a realistic rule set of 10 rules on 12-label series, through
// the engine directly (uncached) and through the per-series cache (the steady state).
#include <benchmark/benchmark.h>
#include <yaml-cpp/yaml.h>

#include <string>
#include <vector>

#include "proto/decode.h"
#include "proto/encode.h"
#include "relabel/series_cache.h"

namespace {

using namespace rwgate;

// Ten rules of the kinds people run in production.
constexpr const char* kRules = R"(
- source_labels: [__name__]
  regex: 'go_gc_.*|promhttp_.*'
  action: drop
- source_labels: [instance]
  regex: '(.*):\d+'
  target_label: host
- source_labels: [env]
  regex: 'prod(uction)?'
  target_label: env
  replacement: production
- source_labels: [region, availability_zone]
  separator: '/'
  target_label: location
- action: labeldrop
  regex: 'mountpoint|fstype'
- source_labels: [team]
  target_label: team
  action: lowercase
- source_labels: [__name__, instance]
  target_label: __tmp_shard
  modulus: 16
  action: hashmod
- source_labels: [__tmp_shard]
  regex: '.*'
  action: keep
- action: labelmap
  regex: 'service'
  replacement: 'app'
- action: labeldrop
  regex: '__tmp_.*'
)";

struct Workload {
  std::vector<std::string> values;
  proto::Batch batch;
  explicit Workload(int series) {
    values.reserve(series * 3);
    static const char* kNames[] = {"node_cpu_seconds_total", "node_memory_MemFree_bytes",
                                   "node_network_receive_bytes_total",
                                   "node_filesystem_avail_bytes"};
    for (int i = 0; i < series; ++i) {
      values.push_back(std::to_string(i % 16));
      values.push_back("10.0." + std::to_string(i / 250 % 256) + "." + std::to_string(i % 250) +
                       ":9100");
      values.push_back("/var/lib/data" + std::to_string(i % 8));
    }
    for (int i = 0; i < series; ++i) {
      proto::Series s;
      s.labels_begin = static_cast<uint32_t>(batch.labels.size());
      const std::vector<proto::Label> ls = {{"__name__", kNames[i % 4]},
                                            {"availability_zone", "us-east-1a"},
                                            {"cpu", values[3 * i]},
                                            {"device", "eth0"},
                                            {"env", "prod"},
                                            {"instance", values[3 * i + 1]},
                                            {"job", "node"},
                                            {"mode", i % 2 ? "idle" : "user"},
                                            {"mountpoint", values[3 * i + 2]},
                                            {"region", "us-east-1"},
                                            {"service", "checkout"},
                                            {"team", "Payments"}};
      batch.labels.insert(batch.labels.end(), ls.begin(), ls.end());
      s.labels_count = static_cast<uint32_t>(ls.size());
      batch.series.push_back(s);
    }
  }
};

relabel::PipelineRules rules(size_t cache_entries) {
  std::vector<std::string> errors;
  relabel::PipelineRules r;
  r.generation = 1;
  r.global = relabel::parse_rules(YAML::Load(kRules), "rules", errors);
  r.per_sink.resize(1);
  r.cache_entries_per_thread = cache_entries;
  if (!errors.empty() || r.global.size() != 10) std::abort();
  return r;
}

void BM_RelabelUncached(benchmark::State& state) {
  Workload w(2000);
  const auto r = rules(0);
  relabel::LabelBuilder b;
  std::vector<proto::Label> out;
  for (auto _ : state) {
    for (const proto::Series& s : w.batch.series) {
      b.reset(w.batch.labels_of(s));
      if (relabel::process(r.global, b)) b.labels(out);
      benchmark::DoNotOptimize(out.data());
    }
  }
  state.SetItemsProcessed(state.iterations() * 2000);
}
BENCHMARK(BM_RelabelUncached);

// As it arrives in RW 1.0: decoded from the wire, so series carry their raw label bytes.
struct DecodedWorkload {
  std::string body;
  proto::Decoder decoder;
  proto::Batch batch;
  DecodedWorkload() {
    Workload w(2000);
    proto::encode_batch(proto::Protocol::kV1, w.batch, body);
    if (!decoder.decode_v1(body, batch).ok()) std::abort();
  }
};

void BM_RelabelCached(benchmark::State& state) {
  DecodedWorkload w;
  const auto r = rules(100000);
  relabel::SeriesCache cache;
  std::vector<std::vector<proto::SeriesOut>> out;
  relabel::PipelineStats stats;
  cache.run(r, nullptr, w.batch, out, stats);  // warm: every series cached
  for (auto _ : state) {
    cache.run(r, nullptr, w.batch, out, stats);
    benchmark::DoNotOptimize(out[0].data());
  }
  state.SetItemsProcessed(state.iterations() * 2000);
}
BENCHMARK(BM_RelabelCached);

void BM_RelabelCachedFlattenedKey(benchmark::State& state) {
  // Series without raw label bytes (RW 2.0, or re-sorted RW 1.0): the key is built first.
  Workload w(2000);
  const auto r = rules(100000);
  relabel::SeriesCache cache;
  std::vector<std::vector<proto::SeriesOut>> out;
  relabel::PipelineStats stats;
  cache.run(r, nullptr, w.batch, out, stats);
  for (auto _ : state) {
    cache.run(r, nullptr, w.batch, out, stats);
    benchmark::DoNotOptimize(out[0].data());
  }
  state.SetItemsProcessed(state.iterations() * 2000);
}
BENCHMARK(BM_RelabelCachedFlattenedKey);

void BM_RelabelCacheMissPath(benchmark::State& state) {
  // Every request bumps the generation: the cost of a miss, including filling the entry.
  Workload w(2000);
  auto r = rules(100000);
  relabel::SeriesCache cache;
  std::vector<std::vector<proto::SeriesOut>> out;
  relabel::PipelineStats stats;
  for (auto _ : state) {
    ++r.generation;
    cache.run(r, nullptr, w.batch, out, stats);
    benchmark::DoNotOptimize(out[0].data());
  }
  state.SetItemsProcessed(state.iterations() * 2000);
}
BENCHMARK(BM_RelabelCacheMissPath);

// Enrichment alone (default mapping, no rules): no cache, the fleet's four labels merged
// into every series from one discovery lookup. The workload's 2000 instances are all known.
void BM_EnrichDirect(benchmark::State& state) {
  DecodedWorkload w;
  std::vector<discovery::InstanceRecord> records;
  for (const proto::Series& s : w.batch.series) {
    discovery::InstanceRecord r;
    r.private_ip =
        std::string(discovery::host_of(proto::label_value(w.batch.labels_of(s), "instance")));
    r.instance_id = "i-" + r.private_ip;
    r.asg_name = "web";
    r.availability_zone = "us-east-1b";
    r.lifecycle_state = "InService";
    records.push_back(std::move(r));
  }
  const discovery::DiscoverySnapshot fleet(1, std::move(records));
  relabel::PipelineRules r;
  r.generation = 1;
  r.enrich.enabled = true;
  r.per_sink.resize(1);
  relabel::SeriesCache cache;
  std::vector<std::vector<proto::SeriesOut>> out;
  relabel::PipelineStats stats;
  for (auto _ : state) {
    cache.run(r, &fleet, w.batch, out, stats);
    benchmark::DoNotOptimize(out[0].data());
  }
  if (stats.enrich_hits == 0 || stats.enrich_misses != 0) std::abort();
  state.SetItemsProcessed(state.iterations() * 2000);
}
BENCHMARK(BM_EnrichDirect);

}  // namespace
