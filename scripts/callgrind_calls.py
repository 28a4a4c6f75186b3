"""Instructions per call of the functions matching PATTERN, from a callgrind run made with
--dump-instr=yes (each call site counted apart, so a benchmark's warm-up call shows apart
from its timed loop). Stable across runs, unlike wall-clock time on a shared VM.

    valgrind --tool=callgrind --dump-instr=yes --callgrind-out-file=OUT \\
        build-bench/bin/codec_bench --benchmark_filter=BM_RelabelCached$ --benchmark_min_time=0.05
    callgrind_calls.py OUT 'LabelPipeline::run\\('

Prints one line per call site: calls, instructions in all, instructions per call."""
import re
import sys

path, pattern = sys.argv[1], re.compile(sys.argv[2])
names, current, sites = {}, None, []
lines = open(path).read().split("\n")
for i, line in enumerate(lines):
    m = re.match(r"c?fn=\((\d+)\)(?: (.*))?", line)
    if m:
        if m.group(2):
            names[m.group(1)] = m.group(2)
        if line.startswith("cfn="):
            current = names.get(m.group(1), "")
    if line.startswith("calls=") and current and pattern.search(current):
        calls = int(line.split("=")[1].split()[0])
        cost = int(lines[i + 1].split()[-1])
        sites.append((calls, cost))
for calls, cost in sorted(sites):
    print(f"{calls} calls, {cost:,} instructions, {cost // calls:,} per call")
