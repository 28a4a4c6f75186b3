"""HA-pair deduplication through real parts: two Prometheus 2.42 agents, the replicas r1
and r2 of cluster c1 (external labels), scrape the same node_exporter and write to rwgate;
VictoriaMetrics behind it holds one copy of each series, without the replica label. When
r1's agent stops, r2 is elected after ha_dedup.failover_timeout, and the series go on with
a gap no longer than the timeout and a scrape."""
import json
import time
import unittest

import harness

FAILOVER_S = 3
SCRAPE_S = 1


def agent_config(target, rwgate_url, replica):
    return f"""
global:
  scrape_interval: {SCRAPE_S}s
  external_labels: {{ cluster: c1, __replica__: {replica} }}
scrape_configs:
  - job_name: node
    static_configs: [{{ targets: ['{target}'] }}]
remote_write:
  - url: {rwgate_url}/api/v1/write
    queue_config: {{ batch_send_deadline: 500ms }}
"""


class HaDedupTest(unittest.TestCase):
    def setUp(self):
        self.ws = harness.Workspace()
        self.addCleanup(self.ws.close)

    def elected(self, gw):
        status, _, body = harness.http("GET", gw.url + "/api/v1/ha-clusters")
        self.assertEqual(status, 200)
        clusters = json.loads(body)["clusters"]
        return {c["cluster"]: c["elected_replica"] for c in clusters}

    def test_one_copy_without_the_replica_label_and_failover_after_the_timeout(self):
        vm = self.ws.victoria_metrics()
        gw = self.ws.rwgate(f"""
ha_dedup: {{ failover_timeout: {FAILOVER_S}s }}
sinks:
  - name: vm
    remote_write:
      url: {vm.url}/api/v1/write
      queue: {{ batch_send_deadline: 200ms }}
""")
        target = self.ws.node_exporter()
        r1 = self.ws.prometheus_agent(agent_config(target, gw.url, "r1"), name="agent-r1")
        harness.wait_until(lambda: self.elected(gw) == {"c1": "r1"}, timeout=60, what="r1 elected")
        self.ws.prometheus_agent(agent_config(target, gw.url, "r2"), name="agent-r2")
        harness.wait_until(lambda: gw.metric("rwgate_ha_deduplicated_samples_total") > 0, timeout=60,
                           what="r2's samples deduplicated")
        time.sleep(3)
        self.assertEqual(self.elected(gw), {"c1": "r1"})

        self.assertEqual(r1.stop(), 0, r1.output())
        stopped = time.time()
        harness.wait_until(lambda: self.elected(gw) == {"c1": "r2"}, timeout=30, what="r2 elected")
        self.assertGreaterEqual(time.time() - stopped, FAILOVER_S - 1)
        time.sleep(4)
        self.assertEqual(gw.metric("rwgate_ha_failovers_total"), 1)

        series = vm.export('{job="node"}')
        self.assertGreater(len(series), 20)
        for labels in series:
            names = dict(labels)
            self.assertNotIn("__replica__", names)
            self.assertEqual(names.get("cluster"), "c1")
        up = [v for k, v in series.items() if dict(k)["__name__"] == "up"]
        self.assertEqual(len(up), 1)  # one series, not one per replica
        times = sorted(t for t, _ in up[0])
        gaps = [(b - a) / 1000 for a, b in zip(times, times[1:])]
        # One replica's scrapes at a time: never two copies a scrape interval apart...
        self.assertGreater(min(gaps), SCRAPE_S / 3, gaps)
        # ...and across the failover no gap longer than the timeout and a scrape (plus the
        # agents' send deadline and the scrape jitter).
        self.assertLessEqual(max(gaps), FAILOVER_S + SCRAPE_S + 1.5, gaps)
        self.assertGreater(times[-1] / 1000, stopped + FAILOVER_S)  # r2's samples after the switch


    def test_many_clusters_stay_bounded_and_a_replica_without_cluster_passes(self):
        store = harness.CapturingStore(self.ws)
        gw = self.ws.rwgate(f"""
ha_dedup: {{ max_clusters: 5 }}
sinks:
  - name: out
    remote_write:
      url: {store.url}/api/v1/write
      queue: {{ batch_send_deadline: 50ms, shards: 1 }}
""")
        now = int(time.time() * 1000)
        series = [({"__name__": "up", "cluster": f"c{i}", "__replica__": "r1"}, [(now, 1.0)]) for i in range(200)]
        series.append(({"__name__": "up", "__replica__": "lonely"}, [(now, 1.0)]))
        status, _, body = gw.write(harness.v1_request(series))
        self.assertEqual(status, 204, body)
        got = harness.pb1.WriteRequest.FromString(store.next()[2])
        self.assertEqual(len(got.timeseries), 201)  # every cluster new: each first replica elected
        names = [{l.name: l.value for l in ts.labels} for ts in got.timeseries]
        self.assertEqual(sum("__replica__" in n for n in names), 1)  # only the one without cluster
        self.assertEqual(gw.metric("rwgate_ha_clusters"), 5)
        self.assertEqual(gw.metric("rwgate_ha_clusters_evicted_total"), 195)
        self.assertEqual(gw.metric("rwgate_ha_series_without_cluster_total"), 1)
        self.assertEqual(len(json.loads(harness.http("GET", gw.url + "/api/v1/ha-clusters")[2])["clusters"]), 5)


if __name__ == "__main__":
    unittest.main()
