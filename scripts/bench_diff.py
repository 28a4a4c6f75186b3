"""Before/after table of two benchmark runs of rwgate (scripts/bench-against makes them).

    bench_diff.py BASE_DIR NEW_DIR BASE_REV NEW_REV

Each DIR holds codec.json (Google Benchmark JSON of codec_bench) and compare.json
(bench/compare-vmagent --peers=rwgate). Prints a markdown table: the figure before, after,
and after / before."""
import json
import sys

base_dir, new_dir, base_rev, new_rev = sys.argv[1:5]


def medians(path):
    out = {}
    for b in json.load(open(path))["benchmarks"]:
        if b.get("aggregate_name") == "median":
            out[b["run_name"]] = b
    return out


def runs(path):
    return {(r["peer"], r["phase"]): r for r in json.load(open(path))["runs"]}


bm_base, bm_new = medians(f"{base_dir}/codec.json"), medians(f"{new_dir}/codec.json")
cmp_base, cmp_new = runs(f"{base_dir}/compare.json"), runs(f"{new_dir}/compare.json")
rows = []


def row(what, before, after, fmt, lower_is_better=True):
    ratio = after / before if before else float("nan")
    better = "lower is better" if lower_is_better else "higher is better"
    rows.append(f"| {what} ({better}) | {before:{fmt}} | {after:{fmt}} | {ratio:.2f} |")


for name, what in [
    ("BM_DecodeV1_Rwgate", "decode RW 1.0, ns/series"),
    ("BM_DecodeV2_Rwgate", "decode RW 2.0, ns/series"),
    ("BM_EncodeV1_Rwgate", "encode RW 1.0, ns/series"),
    ("BM_RelabelCached", "relabel, cached, ns/series"),
    ("BM_RelabelCachedFlattenedKey", "relabel, cached with a built key, ns/series"),
    ("BM_RelabelCacheMissPath", "relabel, cache miss, ns/series"),
    ("BM_EnrichDirect/lb_check:0", "enrichment only (direct path), ns/series"),
    ("BM_EnrichDirect/lb_check:1", "enrichment and lb check (direct path), ns/series"),
    ("BM_TrackSteadyState", "series tracker, steady state, ns/series"),
]:
    if name in bm_base and name in bm_new:
        row(what, bm_base[name]["real_time"] / 2000, bm_new[name]["real_time"] / 2000, ".1f")

for peer, label in [("rwgate", "enrichment, no tracking"), ("rwgate-tracking", "with stale-target tracking")]:
    for phase in ["max", "fixed"]:
        b, n = cmp_base.get((peer, phase)), cmp_new.get((peer, phase))
        if b is None or n is None:
            continue
        if phase == "max":
            row(f"proxy, {label}: max sustained samples/s", b["sustained_per_second"],
                n["sustained_per_second"], ",.0f", lower_is_better=False)
        row(f"proxy, {label}: CPU s per million samples ({phase} rate)",
            b["cpu_seconds_per_million"], n["cpu_seconds_per_million"], ".2f")
        if phase == "fixed":
            row(f"proxy, {label}: p99 latency at the fixed rate, ms", b["latency_ms"]["p99"],
                n["latency_ms"]["p99"], ".2f")
        row(f"proxy, {label}: peak RSS, MiB ({phase} phase)", b["peak_rss_mib"], n["peak_rss_mib"], ".0f")

fixed = (json.load(open(f"{base_dir}/compare.json")).get("fixed_rate"),
         json.load(open(f"{new_dir}/compare.json")).get("fixed_rate"))
print(f"| measure | before ({base_rev}) | after ({new_rev}) | after / before |")
print("|---|---:|---:|---:|")
print("\n".join(rows))
print()
if fixed[0] == fixed[1]:
    print(f"Both fixed-rate phases ran at {fixed[0]:,} samples/s (half the max rate before).")
else:
    print(f"The fixed-rate phases ran at {fixed[0]:,} samples/s before and {fixed[1]:,} after:"
          " their CPU and latency figures are not comparable.")
