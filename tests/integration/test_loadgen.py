"""rwgate-loadgen, the benchmark tool, through the real path: it sends its workload to
rwgate, which enriches every series from the fleet file loadgen wrote and forwards to
loadgen's null receiver. The counts on all three must agree, so the figures in
docs/performance.md rest on a tool that is itself tested. No timing is asserted."""
import json
import os
import subprocess
import unittest

import harness

LOADGEN = os.path.join(harness.BUILD_DIR, "bin", "rwgate-loadgen")


class LoadgenTest(unittest.TestCase):
    def setUp(self):
        self.ws = harness.Workspace()
        self.addCleanup(self.ws.close)
        self.recv_port = harness.free_port()
        self.ws.start("receiver", [LOADGEN, "receive", f"--listen=127.0.0.1:{self.recv_port}"])
        harness.wait_until(lambda: self.stats() is not None, what="null receiver")

    def stats(self):
        status, _, body = harness.http("GET", f"http://127.0.0.1:{self.recv_port}/stats")
        return json.loads(body) if status == 200 else None

    def send(self, url, *flags):
        out = subprocess.run([LOADGEN, "send", f"--url={url}", *flags],
                             capture_output=True, text=True, timeout=120)
        self.assertEqual(out.returncode, 0, out.stderr)
        return json.loads(out.stdout)

    def rwgate_to_receiver(self, targets):
        fleet = self.ws.path("fleet.json")
        subprocess.run([LOADGEN, "fleet", f"--file={fleet}", f"--targets={targets}"], check=True)
        return self.ws.rwgate(f"""
discovery:
  sources:
    - file:
        files: [{fleet}]
coverage: {{ emit_series: false }}  # the receiver counts exactly what the load generator sent
sinks:
  - name: receiver
    remote_write:
      url: http://127.0.0.1:{self.recv_port}/api/v1/write
      queue:
        batch_send_deadline: 100ms
""")

    def test_every_accepted_sample_arrives_enriched_in_both_protocols(self):
        gw = self.rwgate_to_receiver(targets=20)
        accepted = 0
        for protocol in ("v1", "v2"):
            r = self.send(gw.url + "/api/v1/write", "--targets=20", "--series-per-target=100",
                          "--batch=500", "--connections=2", "--duration=2", f"--protocol={protocol}")
            self.assertEqual(set(r["codes"]), {"204"}, r)
            self.assertGreaterEqual(r["accepted_samples"], 2000, r)  # at least one full round
            accepted += r["accepted_samples"]
        stats = harness.wait_until(lambda: (s := self.stats())["samples"] >= accepted and s,
                                   what="all accepted samples at the receiver")
        self.assertEqual(stats["samples"], accepted)
        self.assertEqual(stats["series"], accepted)  # one sample per series per request
        self.assertEqual(stats["rejected"], 0)
        # Every target is in the fleet, so every series carries the fleet's labels.
        self.assertEqual(stats["enriched_series"], stats["series"])
        self.assertEqual(stats["distinct_series"], 2000)
        self.assertEqual(gw.metric("rwgate_received_samples_total"), accepted)
        self.assertEqual(gw.metric("rwgate_enrich_hits_total"), accepted)

    def test_paced_sending_never_runs_ahead_of_the_rate(self):
        gw = self.rwgate_to_receiver(targets=10)
        # 1000 samples/s on one connection, 1000-sample requests: sends at 0 s and 1 s, and
        # the one due at 2 s is past the end.
        r = self.send(gw.url + "/api/v1/write", "--targets=10", "--series-per-target=100",
                      "--batch=1000", "--connections=1", "--rate=1000", "--duration=2")
        self.assertLessEqual(r["accepted_samples"], 2000, r)
        self.assertGreaterEqual(r["accepted_samples"], 1000, r)

    def test_unknown_flags_and_bad_urls_are_refused(self):
        for args in (["send", "--url=http://127.0.0.1:1/x", "--tragets=5"],
                     ["send", "--url=ftp://127.0.0.1:1/x"],
                     ["send", "--url=https://127.0.0.1:1/x", "--ca-file=/nonexistent/ca.pem"],
                     ["receive", "--listen=127.0.0.1:0", "--tls-cert=/x.pem"],
                     ["receive", "--listen=127.0.0.1:0", "--rate=5"],
                     ["nonsense"]):
            out = subprocess.run([LOADGEN, *args], capture_output=True, text=True, timeout=30)
            self.assertEqual(out.returncode, 2, args)
            self.assertIn("rwgate-loadgen:", out.stderr)


if __name__ == "__main__":
    unittest.main()
