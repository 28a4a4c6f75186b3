"""rwgate as the service discovery that fixes load-balancer scraping, end to end.

Three node_exporters on 127.0.0.2-4 are the three instances of Auto Scaling group `web`,
which tests/fixtures/aws_emulator.py describes behind one application load balancer; a
round-robin nginx on 127.0.0.5 stands in for that balancer (the emulator gives the
balancer nginx's address as its DNS name). A real Prometheus 2.42 agent scrapes job `web`
through nginx, the classic mistake. rwgate flags it and prints a fix: an http_sd_configs
block at its own /api/v1/sd, filled in. The test pastes the fix into the agent's config
(only its refresh_interval shortened, to keep the test short) and reloads the agent: it
then scrapes each instance itself, the store gets each instance's series with its fleet
labels, and the nginx target leaves /api/v1/lb-targets. An instance put into Standby
stops being scraped at the next refresh."""
import json
import os
import signal
import sys
import unittest

import yaml

import harness

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fixtures"))
import aws_emulator  # noqa: E402

KEY_ID, SECRET = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
LB_HOST = "127.0.0.5"


def get_json(url):
    status, _, body = harness.http("GET", url)
    assert status == 200, (url, status, body)
    return json.loads(body)


class ServedDiscoveryTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        ws = cls.ws = harness.Workspace()
        cls.port = harness.free_port()
        cls.instances = {}
        fleet = cls.fleet = aws_emulator.Fleet()
        fleet.add_group("web")
        fleet.add_group("batch")
        for n, iid in enumerate(["i-0aaa", "i-0bbb", "i-0ccc"]):
            host = f"127.0.0.{n + 2}"
            fleet.launch("web", iid, host, az=f"us-east-1{'abc'[n]}")
            ws.node_exporter(host=host, name=f"node{n}", port=cls.port)
            cls.instances[iid] = f"{host}:{cls.port}"
        fleet.launch("batch", "i-0ddd", "10.9.9.9")
        lb_port = harness.free_port()
        fleet.add_load_balancer("web-alb", "application", groups=["web"], port=cls.port, dns=LB_HOST)
        ws.nginx(f"""
  upstream backends {{ {" ".join(f"server {t};" for t in cls.instances.values())} }}
  server {{ listen {LB_HOST}:{lb_port}; location / {{ proxy_pass http://backends; }} }}
""")
        cls.lb_target = f"{LB_HOST}:{lb_port}"
        cls.emu = aws_emulator.Emulator(fleet, {KEY_ID: (SECRET, None)})
        secret = ws.write("aws-secret", SECRET + "\n")
        cls.vm = ws.victoria_metrics()
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(HOME=ws.dir, AWS_EC2_METADATA_DISABLED="true")
        cls.gw = ws.rwgate(f"""
discovery:
  sources:
    - aws:
        region: us-east-1
        endpoint: {cls.emu.url}
        refresh_interval: 1s
        access_key_id: {KEY_ID}
        secret_access_key_file: {secret}
sinks:
  - name: store
    remote_write:
      url: {cls.vm.url}/api/v1/write
      queue: {{ batch_send_deadline: 200ms }}
""", env=env)
        cls.agent_config = {
            "global": {"scrape_interval": "1s"},
            "scrape_configs": [{"job_name": "web", "static_configs": [{"targets": [cls.lb_target]}]}],
            "remote_write": [{"url": cls.gw.url + "/api/v1/write",
                              "queue_config": {"batch_send_deadline": "500ms"}}],
        }
        cls.agent = ws.prometheus_agent(yaml.safe_dump(cls.agent_config))

    @classmethod
    def tearDownClass(cls):
        cls.emu.close()
        cls.ws.close()

    def sd(self, query, expect=200):
        status, headers, body = harness.http("GET", self.gw.url + "/api/v1/sd" + query)
        self.assertEqual(status, expect, body)
        return json.loads(body) if expect == 200 else body.decode()

    def scraped(self):
        """The agent's active targets of job `web`: {instance: health}."""
        targets = get_json(self.agent.url + "/api/v1/targets?state=active")["data"]["activeTargets"]
        return {t["labels"]["instance"]: t["health"] for t in targets if t["labels"]["job"] == "web"}

    def test_the_fix_rwgate_prints_replaces_the_load_balancer_scrape(self):
        # 1. Flagged: the balancer's address is the DNS name of a load balancer discovery lists.
        def flagged():
            return [t for t in get_json(self.gw.url + "/api/v1/lb-targets")["targets"]
                    if t["instance"] == self.lb_target]
        harness.wait_until(flagged, timeout=60, interval=0.5, what="the nginx target flagged")
        fix = flagged()[0]["fix"]
        self.assertNotIn("<", fix, fix)  # nothing left to fill in
        self.assertIn(f"/api/v1/sd?lb={LB_HOST}&port={self.port}", fix)
        # The status page shows the same fix.
        _, _, page = harness.http("GET", self.gw.url + "/")
        self.assertIn(f"/api/v1/sd?lb={LB_HOST}&amp;port={self.port}", page.decode())

        # 2. The user pastes it in place of the job and reloads Prometheus.
        pasted = yaml.safe_load(fix)
        self.assertEqual(len(pasted), 1)
        job = pasted[0]
        self.assertEqual(job["job_name"], "web")
        job["http_sd_configs"][0]["refresh_interval"] = "2s"  # the test's only change
        self.agent_config["scrape_configs"] = [job]
        with open(self.agent.config_file, "w") as f:
            yaml.safe_dump(self.agent_config, f)
        self.agent.proc.send_signal(signal.SIGHUP)

        # 3. Prometheus scrapes each instance itself; the store has each one, enriched.
        every = {t: "up" for t in self.instances.values()}
        harness.wait_until(lambda: self.scraped() == every, timeout=60, interval=0.5,
                           what=f"the agent scraping {sorted(every)}")
        def stored():
            series = [dict(s) for s in
                      self.vm.export('{__name__="node_load1",job="web",instance!="%s"}' % self.lb_target)]
            return {s["instance"]: s.get("instance_id") for s in series}
        harness.wait_until(lambda: stored() == {t: i for i, t in self.instances.items()}, timeout=60,
                           interval=0.5, what="node_load1 of each instance in the store")
        # ... and the balancer's target has ended: rwgate no longer lists it.
        harness.wait_until(lambda: not flagged(), timeout=60, interval=0.5,
                           what="the nginx target gone from /api/v1/lb-targets")
        self.assertEqual(self.gw.metric('rwgate_sd_requests_total{code="200"}') > 0, True)

        # 4. An instance put into Standby is not scraped after the next refresh.
        self.emu.control("/_emulator/lifecycle", {"instance_id": "i-0bbb", "state": "Standby"})
        del every[self.instances["i-0bbb"]]
        harness.wait_until(lambda: self.scraped() == every, timeout=30, interval=0.5,
                           what="the agent no longer scraping the instance in Standby")
        standby = self.sd(f"?lifecycle=Standby&port={self.port}")
        self.assertEqual([g["targets"] for g in standby], [[self.instances["i-0bbb"]]])

    def test_the_endpoint_selects_and_refuses(self):
        harness.wait_until(lambda: len(self.sd("?lifecycle=any")) == 4, timeout=30, what="4 instances")
        groups = self.sd(f"?asg=web&zone=us-east-1c&port={self.port}")
        self.assertEqual([g["targets"] for g in groups], [[self.instances["i-0ccc"]]])
        labels = groups[0]["labels"]
        self.assertEqual(labels["__meta_ec2_instance_id"], "i-0ccc")
        self.assertEqual(labels["__meta_asg_name"], "web")
        self.assertEqual(labels["__meta_ec2_availability_zone"], "us-east-1c")
        self.assertEqual(labels["__meta_ec2_private_ip"], "127.0.0.4")
        # lb= alone: the groups behind it, on the port it forwards to.
        by_lb = self.sd(f"?lb={LB_HOST}&lifecycle=any")
        self.assertEqual(sorted(g["targets"][0] for g in by_lb), sorted(self.instances.values()))
        self.assertEqual(self.sd("?asg=batch&port=9100")[0]["targets"], ["10.9.9.9:9100"])
        self.assertIn("no load balancer", self.sd("?lb=elsewhere.example", expect=404))
        self.assertIn('unknown parameter "asgs"', self.sd("?asgs=web", expect=400))
        self.assertIn("port", self.sd("?port=http", expect=400))
        self.assertGreater(self.gw.metric('rwgate_sd_requests_total{code="400"}'), 0)


class NotYetListedTest(unittest.TestCase):
    def test_sd_is_unavailable_until_every_source_listed_and_404_without_discovery(self):
        ws = harness.Workspace()
        self.addCleanup(ws.close)
        # An http_sd source whose server does not answer: never listed.
        gw = ws.rwgate(f"""
discovery:
  sources:
    - http: {{ url: 'http://127.0.0.1:{harness.free_port()}/sd', refresh_interval: 1s }}
sinks: [{{name: nowhere, remote_write: {{url: 'http://127.0.0.1:9/api/v1/write'}}}}]
""")
        status, _, body = harness.http("GET", gw.url + "/api/v1/sd")
        self.assertEqual(status, 503, body)
        self.assertIn(b"has not listed", body)
        off = ws.rwgate("sinks: [{name: nowhere, remote_write: {url: 'http://127.0.0.1:9/api/v1/write'}}]",
                        name="rwgate-off")
        status, _, body = harness.http("GET", off.url + "/api/v1/sd")
        self.assertEqual(status, 404, body)
        self.assertIn(b"discovery is off", body)


if __name__ == "__main__":
    unittest.main()
