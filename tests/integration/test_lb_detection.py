"""Load-balancer detection against a real load balancer: three node_exporters behind nginx
(round-robin upstream), a real Prometheus agent scraping job `via_lb` through nginx and job
`direct` each exporter directly, both writing through rwgate to VictoriaMetrics."""
import json
import time
import unittest

import harness

NGINX_SERVERS = """
  upstream exporters {{
{servers}
  }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://exporters;
      proxy_buffering off;
    }}
  }}
"""


def lb_targets(gw):
    status, _, body = harness.http("GET", gw.url + "/api/v1/lb-targets")
    assert status == 200, body
    return json.loads(body)["targets"]


class LoadBalancerDetectionTest(unittest.TestCase):
    def setUp(self):
        self.ws = harness.Workspace()
        self.addCleanup(self.ws.close)

    def exporter(self, port, name):
        self.ws.start(name, ["prometheus-node-exporter", f"--web.listen-address=127.0.0.1:{port}",
                             "--collector.disable-defaults", "--collector.loadavg",
                             "--collector.meminfo"])
        harness.wait_until(lambda: harness.http("GET", f"http://127.0.0.1:{port}/metrics")[0] == 200,
                           what=name)

    def config(self, vm, jobs=""):
        return f"""
load_balancer_detection:
  action: annotate
{jobs}
sinks:
  - name: store
    remote_write:
      url: {vm.url}/api/v1/write
      queue: {{ batch_send_deadline: 100ms }}
"""

    def assert_no_direct_target_flagged(self, gw):
        flagged = [t for t in lb_targets(gw) if t["job"] != "via_lb"]
        self.assertEqual(flagged, [], "a direct target was flagged")

    def test_targets_behind_nginx_are_flagged_annotated_and_dropped(self):
        vm = self.ws.victoria_metrics()
        ports = [harness.free_port() for _ in range(3)]
        procs = {}
        for i, p in enumerate(ports):
            self.exporter(p, f"exporter{i}")
            procs[i] = self.ws.procs[-1]
            time.sleep(0.05)  # distinct process_start_time_seconds (10 ms resolution)
        lb_port = harness.free_port()
        self.ws.nginx(NGINX_SERVERS.format(
            port=lb_port, servers="\n".join(f"    server 127.0.0.1:{p};" for p in ports)))
        harness.wait_until(lambda: harness.http("GET", f"http://127.0.0.1:{lb_port}/metrics")[0] == 200,
                           what="nginx")
        gw = self.ws.rwgate(self.config(vm))
        direct = ", ".join(f"'127.0.0.1:{p}'" for p in ports)
        self.ws.prometheus_agent(f"""
global: {{ scrape_interval: 1s, scrape_timeout: 900ms }}
scrape_configs:
  - job_name: via_lb
    static_configs: [{{ targets: ['127.0.0.1:{lb_port}'] }}]
  - job_name: direct
    static_configs: [{{ targets: [{direct}] }}]
remote_write:
  - url: {gw.url}/api/v1/write
    queue_config: {{ batch_send_deadline: 200ms }}
""")

        # Flagged by behaviour within a bounded number of scrapes.
        def confirmed():
            self.assert_no_direct_target_flagged(gw)
            return [t for t in lb_targets(gw) if t["job"] == "via_lb" and t["verdict"] == "confirmed"]
        found = harness.wait_until(confirmed, timeout=60, interval=0.2, what="via_lb confirmed")
        detected_ms = int(time.time() * 1000)
        target = found[0]
        self.assertEqual(target["instance"], f"127.0.0.1:{lb_port}")
        self.assertEqual(target["evidence"], "behaviour")
        reason = target["reasons"][0]
        self.assertRegex(reason, r"^process_start_time_seconds: [23] distinct values in the last \d+ "
                                 r"scrapes, \d+ switches, \d+ back to an earlier value$")
        scrapes = int(reason.split("in the last ")[1].split(" ")[0])
        self.assertLessEqual(scrapes, 8, reason)  # round robin over 3: confirmed at the 5th
        self.assertIn("job_name: via_lb", target["fix"])
        self.assertIn("ec2_sd_configs", target["fix"])
        self.assertIn(f"port: {lb_port}", target["fix"])

        # From then on every via_lb sample carries scrape_via="load_balancer"; direct never does.
        time.sleep(4)
        annotated_seen = False
        for series, samples in vm.export('{job="via_lb"}').items():
            labels = dict(series)
            if labels.get("scrape_via") == "load_balancer":
                annotated_seen = True
            else:
                late = [t for t, _ in samples if t > detected_ms]
                self.assertEqual(late, [], f"unannotated via_lb sample after detection: {labels}")
        self.assertTrue(annotated_seen)
        self.assertFalse([s for s in vm.export('{job="direct"}') if "scrape_via" in dict(s)])
        self.assertGreater(gw.metric('rwgate_lb_series_total{action="annotated"}'), 0)
        self.assertEqual(gw.metric('rwgate_lb_flagged_targets{evidence="behaviour",job="via_lb",'
                                   'verdict="confirmed"}'), 1)
        self.assertGreater(lb_targets(gw)[0]["series"], 50)

        # A restart of one exporter (same port) is a new start time, not a load balancer.
        procs[1].stop()
        time.sleep(1.5)
        self.exporter(ports[1], "exporter1-again")
        for _ in range(10):
            time.sleep(1)
            self.assert_no_direct_target_flagged(gw)

        # drop for this job (a per-job override), applied by reload: the verdict survives it.
        with open(self.ws.path("rwgate.yml"), "w") as f:
            f.write(self.config(vm, jobs="  jobs: { via_lb: drop }"))
        status, _, body = harness.http("POST", gw.url + "/-/reload")
        self.assertEqual(status, 200, body)
        reloaded_ms = int(time.time() * 1000)
        time.sleep(4)
        late = [t for samples in vm.export('{job="via_lb"}').values() for t, _ in samples
                if t > reloaded_ms]
        self.assertEqual(late, [], "via_lb samples stored after drop")
        recent_direct = [t for samples in vm.export('{job="direct"}').values() for t, _ in samples
                         if t > reloaded_ms]
        self.assertGreater(len(recent_direct), 0)
        self.assertGreater(gw.metric('rwgate_lb_series_total{action="dropped"}'), 0)
        self.assert_no_direct_target_flagged(gw)

    def test_cloud_load_balancer_names_are_flagged_at_once(self):
        vm = self.ws.victoria_metrics()
        gw = self.ws.rwgate(self.config(vm, jobs="  host_patterns: ['lb-[0-9]+\\.corp\\.example']\n"
                                                 "  jobs: { nlb: drop }"))
        now = int(time.time() * 1000)
        series = [
            ({"__name__": "up", "job": "alb", "instance": "internal-web-1234567890.us-east-1.elb.amazonaws.com:9100"},
             [(now, 1)]),
            ({"__name__": "up", "job": "nlb", "instance": "api-0123456789abcdef.elb.eu-west-1.amazonaws.com:80"},
             [(now, 1)]),
            ({"__name__": "up", "job": "own", "instance": "lb-7.corp.example:8080"}, [(now, 1)]),
            ({"__name__": "up", "job": "host", "instance": "10.0.0.7:9100"}, [(now, 1)]),
        ]
        status, _, body = gw.write(harness.v1_request(series))
        self.assertEqual(status, 204, body)
        time.sleep(1.5)
        got = {dict(s)["job"]: dict(s) for s in vm.export('{__name__="up"}')}
        self.assertEqual(got["alb"].get("scrape_via"), "load_balancer")
        self.assertEqual(got["own"].get("scrape_via"), "load_balancer")
        self.assertNotIn("scrape_via", got["host"])
        self.assertNotIn("nlb", got)  # dropped by its job's override
        self.assertEqual(gw.metric('rwgate_lb_series_total{action="dropped"}'), 1)
        targets = {t["job"]: t for t in lb_targets(gw)}
        self.assertEqual(sorted(targets), ["alb", "nlb", "own"])
        self.assertEqual(targets["alb"]["evidence"], "name")
        self.assertIn("region: us-east-1", targets["alb"]["fix"])
        self.assertIn("region: eu-west-1", targets["nlb"]["fix"])
        self.assertIn("host_patterns", targets["own"]["reasons"][0])


if __name__ == "__main__":
    unittest.main()
