"""A real Prometheus agent writes to VictoriaMetrics A directly and to B through rwgate:
B must hold exactly the series and samples of A."""
import os
import time
import unittest

import harness


class EndToEndTest(unittest.TestCase):
    def setUp(self):
        self.ws = harness.Workspace()
        self.addCleanup(self.ws.close)

    def test_store_behind_rwgate_holds_exactly_what_the_direct_store_holds(self):
        vm_a = self.ws.victoria_metrics("vm-a")
        vm_b = self.ws.victoria_metrics("vm-b")
        # The shipped example, pointed at store B.
        example = open(os.path.join(os.path.dirname(__file__), "../../examples/minimal.yml")).read()
        self.assertIn("http://127.0.0.1:8428/api/v1/write", example)
        gw = self.ws.rwgate(example.replace("http://127.0.0.1:8428", vm_b.url))
        target = self.ws.node_exporter()
        agent = self.ws.prometheus_agent(f"""
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: node
    static_configs: [{{ targets: ['{target}'] }}]
remote_write:
  - url: {vm_a.url}/api/v1/write
    queue_config: {{ batch_send_deadline: 1s }}
  - url: {gw.url}/api/v1/write
    queue_config: {{ batch_send_deadline: 1s }}
""")
        # A few scrapes reach both stores.
        harness.wait_until(lambda: gw.metric('rwgate_forwarded_samples_total{sink="longterm"}') > 0, timeout=60,
                           what="samples forwarded through rwgate")
        time.sleep(5)
        # Stop the sender cleanly (it flushes both queues), then let rwgate drain.
        self.assertEqual(agent.stop(), 0, agent.output())
        harness.wait_until(lambda: gw.metric('rwgate_queue_bytes{sink="longterm"}') == 0, what="rwgate queue drained")
        received = gw.metric("rwgate_received_samples_total")
        forwarded = gw.metric('rwgate_forwarded_samples_total{sink="longterm"}')
        self.assertEqual(received, forwarded)

        a = vm_a.export()
        b = vm_b.export()
        self.assertGreater(len(a), 50, "node_exporter should give many series")
        self.assertEqual(set(a), set(b), "same label sets in both stores")
        total = 0
        for series, samples in a.items():
            self.assertEqual(sorted(samples), sorted(b[series]), dict(series))
            total += len(samples)
        self.assertGreaterEqual(total, 3 * len(a), "at least three scrapes of each series")
        self.assertEqual(gw.metric('rwgate_ingest_requests_total{code="204"}'),
                         sum(v for k, v in gw.metrics().items() if k.startswith("rwgate_ingest_requests_total")))


if __name__ == "__main__":
    unittest.main()
