"""Relabeling as Prometheus does it, proved against a real Prometheus: the same rules as
Prometheus' own write_relabel_configs and as rwgate's relabel_configs + write_relabel_configs
must leave the same series in two stores. And `rwgate relabel` on the command line."""
import json
import os
import subprocess
import time
import unittest

import harness

# Every action, with the corners that matter; no two labels map to the same name in a
# labelmap (the one place where Prometheus 2.42 and newer versions iterate differently).
GLOBAL_RULES = """
  - source_labels: [__name__]
    regex: 'node_(cpu|memory|network|filesystem|load).*|up|scrape_.*'
    action: keep
  - source_labels: [__name__]
    regex: 'node_memory_(Hug|Swap|Dirty).*'
    action: drop
  - source_labels: [instance]
    regex: '(.*):(\\d+)'
    target_label: host_port
    replacement: '${2}/$1'
  - source_labels: [device, mountpoint]
    separator: '@'
    target_label: where
  - source_labels: [job]
    target_label: JOB_UPPER
    action: uppercase
  - source_labels: [JOB_UPPER]
    target_label: job_lower
    action: lowercase
"""
WRITE_RULES = """
  - source_labels: [__name__, instance]
    target_label: shard
    action: hashmod
    modulus: 7
  - action: labelmap
    regex: 'host_(port)'
    replacement: 'copied_$1'
  - action: labeldrop
    regex: 'host_port|fstype'
  - source_labels: [mode]
    regex: '(idle|user)'
    target_label: '${1}_mode'
    replacement: 'yes'
  - source_labels: [job]
    target_label: job_lower
    action: dropequal
  - source_labels: [JOB_UPPER]
    target_label: JOB_UPPER
    action: keepequal
  - source_labels: [cpu]
    regex: '1'
    target_label: cpu
    replacement: ''
"""


def indent(rules, n):
    return "\n".join((" " * n + line[2:]) if line.strip() else line for line in rules.strip("\n").splitlines())


class RelabelAgainstPrometheusTest(unittest.TestCase):
    def setUp(self):
        self.ws = harness.Workspace()
        self.addCleanup(self.ws.close)

    def test_same_rules_give_the_same_series_as_prometheus_write_relabel(self):
        """Rules on which 2.x and 3.x agree, under 2.x's name validation (`legacy`)."""
        vm_prom = self.ws.victoria_metrics("vm-prometheus")
        vm_gate = self.ws.victoria_metrics("vm-rwgate")
        gw = self.ws.rwgate(f"""
name_validation_scheme: legacy
relabel_configs:
{indent(GLOBAL_RULES, 2)}
sinks:
  - name: store
    remote_write:
      url: {vm_gate.url}/api/v1/write
      write_relabel_configs:
{indent(WRITE_RULES, 8)}
      queue: {{ batch_send_deadline: 500ms }}
""")
        target = self.ws.node_exporter()
        agent = self.ws.prometheus_agent(f"""
global: {{ scrape_interval: 1s }}
scrape_configs:
  - job_name: Node
    static_configs: [{{ targets: ['{target}'] }}]
remote_write:
  - url: {vm_prom.url}/api/v1/write
    queue_config: {{ batch_send_deadline: 1s }}
    write_relabel_configs:
{indent(GLOBAL_RULES + WRITE_RULES, 6)}
  - url: {gw.url}/api/v1/write
    queue_config: {{ batch_send_deadline: 1s }}
""")
        harness.wait_until(lambda: gw.metric('rwgate_forwarded_samples_total{sink="store"}') > 0, timeout=60,
                           what="data through rwgate")
        time.sleep(4)
        self.assertEqual(agent.stop(), 0, agent.output())
        harness.wait_until(lambda: gw.metric('rwgate_queue_bytes{sink="store"}') == 0, what="drained")

        want = vm_prom.export()
        got = vm_gate.export()
        self.assertGreater(len(want), 20)
        only_prom = sorted(str(sorted(s)) for s in set(want) - set(got))[:3]
        only_gate = sorted(str(sorted(s)) for s in set(got) - set(want))[:3]
        self.assertEqual(set(want), set(got), f"only in Prometheus' store: {only_prom}\nonly in rwgate's: {only_gate}")
        for series in want:
            self.assertEqual(sorted(want[series]), sorted(got[series]))
        # The rules did work: every action left its mark.
        names = {k for s in got for k, _ in s}
        for label in ["shard", "copied_port", "where", "JOB_UPPER", "idle_mode"]:
            self.assertIn(label, names)
        self.assertNotIn("host_port", names)
        self.assertGreater(gw.metric('rwgate_relabel_dropped_series_total{sink="store"}'), 0)
        self.assertGreater(gw.metric("rwgate_relabel_cache_hits_total"), gw.metric("rwgate_relabel_cache_misses_total"))


class Prometheus3SemanticsTest(unittest.TestCase):
    """Prometheus 3 relabeling through the real path: UTF-8 names and newlines in values, sent
    over RW 1.0 and 2.0, relabelled with rules pasted from Prometheus 3's tests, and stored by
    VictoriaMetrics; `name_validation_scheme: legacy` refuses the same rules as 2.x does."""

    RULES = """
relabel_configs:
  - source_labels: [a]
    regex: 'line1.*line2'
    target_label: utf-8.label
    replacement: 'match${1}'
  - source_labels: [a]
    regex: '(line1).*(?<second>line2)'
    target_label: 'label2_$1'
    replacement: 'val_$second'
"""

    def setUp(self):
        self.ws = harness.Workspace()
        self.addCleanup(self.ws.close)

    def test_utf8_names_and_dotall_regexes_reach_the_store(self):
        vm = self.ws.victoria_metrics()
        gw = self.ws.rwgate(self.RULES + f"""
sinks:
  - name: vm
    remote_write: {{ url: {vm.url}/api/v1/write, queue: {{ batch_send_deadline: 100ms }} }}
""")
        now = int(time.time() * 1000)
        for protocol, job in (("v1", "one"), ("v2", "two")):
            body = (harness.v1_request if protocol == "v1" else harness.v2_request)(
                [({"__name__": "http.server.duration", "job": job, "k8s.pod-name": "web-0", "a": "line1\nline2"},
                  [(now, 1.0)])])
            status, _, text = gw.write(body, protocol=protocol)
            self.assertEqual(status, 204, text)
        got = harness.wait_until(lambda: [dict(s) for s in vm.export('{__name__="http.server.duration"}')]
                                 if len(vm.export('{__name__="http.server.duration"}')) == 2 else None,
                                 timeout=30, what="both series in the store")
        for labels in got:
            self.assertEqual(labels["utf-8.label"], "match")
            self.assertEqual(labels["label2_line1"], "val_line2")
            self.assertEqual(labels["k8s.pod-name"], "web-0")
        # Invalid UTF-8 is refused with the series named.
        bad = harness.pb1.WriteRequest()
        ts = bad.timeseries.add()
        for k, v in (("__name__", "m"), ("job", "x")):
            lab = ts.labels.add()
            lab.name, lab.value = k, v
        ts.samples.add(timestamp=now, value=1.0)
        raw = bad.SerializeToString().replace(b"\x03job\x12\x01x", b"\x03job\x12\x01\xff")
        status, _, text = harness.http("POST", gw.url + "/api/v1/write", harness.snappy.compress(raw),
                                       {"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf",
                                        "X-Prometheus-Remote-Write-Version": "0.1.0"})
        self.assertEqual(status, 400, text)
        self.assertIn(b'series 0: value of label "job" is not valid UTF-8', text)

    def test_legacy_scheme_refuses_what_prometheus_2_refuses(self):
        path = self.ws.write("rwgate.yml", "name_validation_scheme: legacy\n" + self.RULES +
                             "sinks: [{name: s, remote_write: {url: 'http://127.0.0.1:9/w'}}]\n")
        r = subprocess.run([harness.RWGATE, "check", "config", path], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 2, r.stdout)
        self.assertIn("relabel_configs[0] (line 4): \"utf-8.label\" is invalid 'target_label' for replace action",
                      r.stderr)
        # The default, utf8, takes it.
        path = self.ws.write("rwgate2.yml", self.RULES + "sinks: [{name: s, remote_write: {url: 'http://127.0.0.1:9/w'}}]\n")
        r = subprocess.run([harness.RWGATE, "check", "config", path], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)


class RelabelCommandTest(unittest.TestCase):
    def setUp(self):
        self.ws = harness.Workspace()
        self.addCleanup(self.ws.close)

    def relabel(self, rules, lines):
        path = self.ws.write("rules.yml", rules)
        return subprocess.run([harness.RWGATE, "relabel", "--rules", path], input="\n".join(lines) + "\n",
                              capture_output=True, text=True, timeout=30)

    def test_prints_each_result_with_sorted_keys_or_null(self):
        r = self.relabel("""
- source_labels: [__address__]
  regex: '(.*):\\d+'
  target_label: host
- source_labels: [env]
  regex: dev
  action: drop
- action: labelmap
  regex: __meta_(.+)
""", [json.dumps({"__address__": "10.0.0.7:9100", "__meta_zone": "a", "__tmp_x": "kept"}),
      json.dumps({"env": "dev"}),
      "not json",
      json.dumps({"a": "é\"\\"})])
        self.assertEqual(r.returncode, 0, r.stderr)
        out = r.stdout.splitlines()
        self.assertEqual(out[0], '{"__address__":"10.0.0.7:9100","__meta_zone":"a","__tmp_x":"kept",'
                                 '"host":"10.0.0.7","zone":"a"}')
        self.assertEqual(out[1], "null")
        self.assertEqual(json.loads(out[2]), {"a": "é\"\\"})
        self.assertEqual(len(out), 3)
        self.assertIn("line 3:", r.stderr)

    def test_invalid_rule_file_lists_every_problem_and_exits_2(self):
        r = self.relabel("""
- action: replace
- action: hashmod
  target_label: x
- action: keep
  regex: '(unclosed'
""", [])
        self.assertEqual(r.returncode, 2)
        errs = r.stderr.splitlines()
        self.assertEqual(len(errs), 3, r.stderr)
        self.assertIn("rules[0] (line 2): relabel configuration for replace action requires 'target_label' value", errs[0])
        self.assertIn("rules[1] (line 3): relabel configuration for hashmod requires non-zero modulus", errs[1])
        self.assertIn("rules[2] (line 5): error parsing regexp", errs[2])


if __name__ == "__main__":
    unittest.main()


class RelabelReloadTest(unittest.TestCase):
    def setUp(self):
        self.ws = harness.Workspace()
        self.addCleanup(self.ws.close)

    def test_reload_applies_new_rules_to_series_already_cached(self):
        import queue
        import snappy
        got = queue.Queue()

        def respond(handler, body):
            got.put(harness.pb1.WriteRequest.FromString(snappy.uncompress(body)))
            return 204, {}, b""

        store = self.ws.http_peer(respond)
        # One ingest thread: the cache is per thread, and each urllib request is a new
        # connection that could land on another thread's cache.
        config = """
server: {{ worker_threads: 1 }}
relabel_configs:
  - target_label: rule
    replacement: {value}
sinks:
  - name: s
    remote_write:
      url: {store}/api/v1/write
      queue: {{ batch_send_deadline: 100ms, shards: 1 }}
"""
        gw = self.ws.rwgate(config.format(value="first", store=store), name="gw")

        def send_and_read(ts):
            self.assertEqual(gw.write(harness.v1_request([({"__name__": "up", "job": "a"}, [(ts, 1.0)])]))[0], 204)
            req = got.get(timeout=10)
            return {l.name: l.value for l in req.timeseries[0].labels}["rule"]

        self.assertEqual(send_and_read(1_700_000_000_000), "first")
        self.assertEqual(send_and_read(1_700_000_001_000), "first")  # now from the cache
        self.assertGreater(gw.metric("rwgate_relabel_cache_hits_total"), 0)
        with open(self.ws.path("gw.yml"), "w") as f:
            f.write(config.format(value="second", store=store))
        self.assertEqual(harness.http("POST", gw.url + "/-/reload")[0], 200)
        self.assertEqual(send_and_read(1_700_000_002_000), "second")
