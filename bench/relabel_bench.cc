// Relabel micro-benchmarks: a realistic rule set of 10 rules on 12-label series, through
// the engine directly (uncached) and through the per-series cache (the steady state).
#include <benchmark/benchmark.h>
#include <malloc.h>
#include <yaml-cpp/yaml.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "pipeline/label_pipeline.h"
#include "proto/decode.h"
#include "proto/encode.h"
#include "proto/hash.h"
#include "staleness/series_tracker.h"

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
      s.samples_begin = static_cast<uint32_t>(batch.samples.size());
      s.samples_count = 1;
      batch.samples.push_back({1.0, 1700000000000 + i});
      batch.series.push_back(s);
    }
  }
};

pipeline::PipelineRules rules(size_t cache_entries) {
  std::vector<std::string> errors;
  pipeline::PipelineRules r;
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
  relabel::RelabelScratch scratch;
  std::vector<proto::Label> out;
  for (auto _ : state) {
    for (const proto::Series& s : w.batch.series) {
      b.reset(w.batch.labels_of(s));
      if (relabel::process(r.global, b, scratch)) b.labels(out);
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
  pipeline::LabelPipeline cache;
  std::vector<std::vector<proto::SeriesOut>> out;
  pipeline::PipelineStats stats;
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
  pipeline::LabelPipeline cache;
  std::vector<std::vector<proto::SeriesOut>> out;
  pipeline::PipelineStats stats;
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
  pipeline::LabelPipeline cache;
  std::vector<std::vector<proto::SeriesOut>> out;
  pipeline::PipelineStats stats;
  for (auto _ : state) {
    ++r.generation;
    cache.run(r, nullptr, w.batch, out, stats);
    benchmark::DoNotOptimize(out[0].data());
  }
  state.SetItemsProcessed(state.iterations() * 2000);
}
BENCHMARK(BM_RelabelCacheMissPath);

// The workload's 2000 instances, each known to discovery by its address.
discovery::DiscoverySnapshot fleet_of(const proto::Batch& batch) {
  std::vector<discovery::InstanceRecord> records;
  for (const proto::Series& s : batch.series) {
    discovery::InstanceRecord r;
    r.private_ip =
        std::string(discovery::host_of(proto::label_value(batch.labels_of(s), "instance")));
    r.instance_id = "i-" + r.private_ip;
    r.asg_name = "web";
    r.availability_zone = "us-east-1b";
    r.lifecycle_state = "InService";
    records.push_back(std::move(r));
  }
  return discovery::DiscoverySnapshot(1, std::move(records));
}

// Enrichment with the default mapping and no rules: the direct path.
pipeline::PipelineRules enrich_only() {
  pipeline::PipelineRules r;
  r.generation = 1;
  r.enrich.enabled = true;
  r.per_sink.resize(1);
  return r;
}

// Enrichment alone (default mapping, no rules): no cache, the fleet's four labels merged
// into every series from one discovery lookup. With state.range(0) = 1 the load-balancer
// check runs too, as it does by default (name patterns, verdicts; no target flagged).
void BM_EnrichDirect(benchmark::State& state) {
  DecodedWorkload w;
  const discovery::DiscoverySnapshot fleet = fleet_of(w.batch);
  pipeline::PipelineRules r = enrich_only();
  if (state.range(0) == 1) {
    r.lb.enabled = true;
    std::string why;
    r.lb.names = lb::LbNamePatterns::build({}, why);
  }
  r.encode_direct = state.range(1) == 1;  // as with tracking on: each output encoded (spliced)
  const lb::LbVerdicts verdicts;
  pipeline::LabelPipeline cache;
  std::vector<std::vector<proto::SeriesOut>> out;
  pipeline::PipelineStats stats;
  for (auto _ : state) {
    cache.run(r, &fleet, w.batch, out, stats, &verdicts);
    benchmark::DoNotOptimize(out[0].data());
  }
  if (stats.enrich_hits == 0 || stats.enrich_misses != 0 || !stats.lb_flagged.empty()) std::abort();
  state.SetItemsProcessed(state.iterations() * 2000);
}
BENCHMARK(BM_EnrichDirect)
    ->ArgNames({"lb_check", "encode"})
    ->Args({0, 0})
    ->Args({1, 0})
    ->Args({1, 1});

// The series tracker in the steady state: every series of the request already tracked,
// its timestamp moved on (one slot lookup per series), on a table that fits in cache.
void BM_TrackSteadyState(benchmark::State& state) {
  DecodedWorkload w;
  const discovery::DiscoverySnapshot fleet = fleet_of(w.batch);
  pipeline::PipelineRules r = enrich_only();
  r.encode_direct = true;  // as the gateway sets it when tracking
  pipeline::LabelPipeline cache;
  std::vector<std::vector<proto::SeriesOut>> out;
  pipeline::PipelineStats stats;
  cache.run(r, &fleet, w.batch, out, stats);
  staleness::SeriesTracker tracker;
  const std::vector<uint32_t> ids = {0};
  for (auto _ : state) {
    tracker.track({w.batch, out, ids, stats.records, 1, 100});
  }
  if (tracker.series() != 2000) {
    std::fprintf(stderr, "tracked %zu\n", tracker.series());
    std::abort();
  }
  state.SetItemsProcessed(state.iterations() * 2000);
}
BENCHMARK(BM_TrackSteadyState);

// Requests of 2000 series each, as senders send them, for `series` series of `instances`
// instances: m{instance, job, series} with their encodings, as the pipeline hands them on.
struct TrackedRequests {
  std::vector<std::string> values;
  std::vector<discovery::InstanceRecord> records;
  std::vector<proto::Batch> batches;
  std::vector<std::vector<std::vector<proto::SeriesOut>>> outs;
  std::vector<std::vector<const discovery::InstanceRecord*>> recs;
  std::vector<std::string> encoded;  // by batch
  size_t label_bytes = 0;

  TrackedRequests(int series, int instances)
      : records(instances),
        batches(series / 2000),
        outs(batches.size()),
        recs(batches.size()),
        encoded(batches.size()) {
    values.reserve(series);
    for (int i = 0; i < series; ++i) values.push_back("value-" + std::to_string(i));
    for (size_t i = 0; i < records.size(); ++i) records[i].instance_id = "i-" + std::to_string(i);
    for (size_t b = 0; b < batches.size(); ++b) {
      outs[b].resize(1);
      for (int k = 0; k < 2000; ++k) {
        const int i = static_cast<int>(b) * 2000 + k;
        proto::Series s;
        s.labels_begin = static_cast<uint32_t>(batches[b].labels.size());
        s.labels_count = 4;
        s.samples_begin = static_cast<uint32_t>(batches[b].samples.size());
        s.samples_count = 1;
        batches[b].labels.push_back({"__name__", "node_cpu_seconds_total"});
        batches[b].labels.push_back({"instance", records[i % instances].instance_id});
        batches[b].labels.push_back({"job", "node"});
        batches[b].labels.push_back({"series", values[i]});
        batches[b].samples.push_back({1.0, 1000});
        batches[b].series.push_back(s);
        recs[b].push_back(&records[i % instances]);
      }
      std::vector<std::pair<size_t, size_t>> spans;
      for (uint32_t k = 0; k < 2000; ++k) {
        const size_t at = encoded[b].size();
        proto::append_labels_v1(encoded[b], batches[b].labels_of(batches[b].series[k]));
        spans.emplace_back(at, encoded[b].size() - at);
      }
      label_bytes += encoded[b].size();
      for (uint32_t k = 0; k < 2000; ++k) {
        const auto labels = batches[b].labels_of(batches[b].series[k]);
        outs[b][0].push_back(
            {k, labels, proto::hash_labels(labels),
             std::string_view(encoded[b]).substr(spans[k].first, spans[k].second)});
      }
    }
  }
  void track(staleness::SeriesTracker& tracker, size_t b, uint32_t now_s) const {
    const std::vector<uint32_t> ids = {0};
    tracker.track({batches[b], outs[b], ids, recs[b], 1, now_s});
  }
};

// The tracker at the sizes the gateway meets: `series` distinct series (100,000 or
// 1,000,000) of 100 instances all tracked, and each iteration one request of 2000 of them
// touched in turn, so that the table is far larger than the caches, as in production.
void BM_TrackAtScale(benchmark::State& state) {
  const TrackedRequests w(static_cast<int>(state.range(0)), 100);
  staleness::SeriesTracker tracker;
  for (size_t b = 0; b < w.batches.size(); ++b) w.track(tracker, b, 100);
  size_t b = 0;
  for (auto _ : state) {
    w.track(tracker, b, 100);
    b = b + 1 == w.batches.size() ? 0 : b + 1;
  }
  if (tracker.series() != static_cast<size_t>(state.range(0))) std::abort();
  state.SetItemsProcessed(state.iterations() * 2000);
}
BENCHMARK(BM_TrackAtScale)->ArgName("series")->Arg(100000)->Arg(1000000);

// Memory per tracked series, all in (its share of the interned labels included): 200,000
// series of 100 instances tracked, the heap measured before and after (mallinfo2).
// Counters: bytes_per_series, and label_bytes_per_series (what the series' labels take
// encoded, which a tracker without interning would hold on top).
// Heap bytes in use: arena chunks and the large ones glibc maps on their own (a big
// table is one of those: counting arena chunks alone misses it).
size_t heap_in_use() {
  const struct mallinfo2 m = mallinfo2();
  return m.uordblks + m.hblkhd;
}

// The process's resident set, or its peak since reset_peak_rss() (VmHWM), in bytes.
size_t rss_bytes(const char* field) {
  std::FILE* f = std::fopen("/proc/self/status", "r");
  if (f == nullptr) return 0;
  char line[256];
  size_t kib = 0;
  const size_t n = std::strlen(field);
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::strncmp(line, field, n) == 0) kib = std::strtoull(line + n + 1, nullptr, 10);
  }
  std::fclose(f);
  return kib << 10;
}
// Writing 5 to clear_refs resets VmHWM to the current RSS (Linux 4.0 and later).
bool reset_peak_rss() {
  std::FILE* f = std::fopen("/proc/self/clear_refs", "w");
  if (f == nullptr) return false;
  const bool ok = std::fputs("5", f) >= 0;
  return std::fclose(f) == 0 && ok;
}

void BM_TrackerMemory(benchmark::State& state) {
  const auto series = static_cast<size_t>(state.range(0));
  double all_in = 0, label_bytes_each = 0, peak = 0;
  for (auto _ : state) {
    const TrackedRequests w(static_cast<int>(series), 100);
    const size_t before = heap_in_use();
    malloc_trim(0);  // what the requests' making freed goes back, so the tracker's pages count
    const bool peak_known = reset_peak_rss();
    const size_t rss_before = rss_bytes("VmRSS");
    {
      staleness::SeriesTracker tracker;
      for (size_t b = 0; b < w.batches.size(); ++b) w.track(tracker, b, 100);
      const size_t after = heap_in_use();
      if (tracker.series() != series) std::abort();
      all_in = static_cast<double>(after - before) / static_cast<double>(series);
      label_bytes_each = static_cast<double>(w.label_bytes) / static_cast<double>(series);
      // What growing the tables costs on top, while old and new are both held: the
      // process's peak, as the proxy benchmark's VmHWM sees it.
      if (peak_known) {
        peak = static_cast<double>(rss_bytes("VmHWM") - rss_before) / static_cast<double>(series);
      }
    }
  }
  state.counters["bytes_per_series"] = all_in;
  state.counters["peak_rss_bytes_per_series"] = peak;
  state.counters["label_bytes_per_series"] = label_bytes_each;
}
BENCHMARK(BM_TrackerMemory)->ArgName("series")->Arg(200000)->Arg(1000000)->Iterations(1);

}  // namespace
