"""Fleet coverage through real parts: a file_sd fleet of four InService instances of group
`web` (node_exporters on 127.0.0.2-5) and two of group `api` behind an nginx that the fleet
file declares as a load balancer; a real Prometheus agent scrapes three of the four `web`
instances directly and `api` only through nginx, writing through rwgate to
VictoriaMetrics. The store and /api/v1/coverage say which instances nobody monitors, and
why; an instance scraped but down stays monitored, one taken out of the scrape config turns
unmonitored, and one put into Standby leaves the expected set with its series ended."""
import json
import os
import queue
import signal
import struct
import time
import unittest

import harness

WINDOW_S = 15  # coverage.window (interval 1s): room for a slow machine's remote-write delays
STALE_NAN = struct.pack("<Q", 0x7ff0000000000002)


class CoverageTest(unittest.TestCase):
    def setUp(self):
        self.ws = harness.Workspace()
        self.addCleanup(self.ws.close)

    def fleet(self, web, api, nginx, standby=()):
        groups = [{"targets": [t], "labels": {
            "__meta_ec2_instance_id": iid, "__meta_asg_name": asg,
            "__meta_ec2_availability_zone": "us-east-1a",
            "__meta_asg_lifecycle_state": "Standby" if iid in standby else "InService"}}
            for asg, targets in (("web", web), ("api", api)) for iid, t in targets]
        groups.append({"targets": [nginx], "labels": {"__meta_lb_name": "api-lb", "__meta_lb_type": "nginx",
                                                      "__meta_lb_asgs": "api"}})
        # Written whole, then renamed: file_sd never reads half a file.
        self.ws.write("fleet.json.tmp", json.dumps(groups))
        os.replace(self.ws.path("fleet.json.tmp"), self.ws.path("fleet.json"))

    def agent_config(self, web_targets, nginx):
        return f"""
global: {{ scrape_interval: 1s }}
scrape_configs:
  - job_name: web
    static_configs: [{{ targets: {json.dumps(web_targets)} }}]
  - job_name: via_lb
    static_configs: [{{ targets: ['{nginx}'] }}]
remote_write:
  - url: {self.gw.url}/api/v1/write
    queue_config: {{ batch_send_deadline: 200ms }}
"""

    def coverage(self):
        status, _, body = harness.http("GET", self.gw.url + "/api/v1/coverage")
        self.assertEqual(status, 200, body)
        return json.loads(body)

    def unmonitored(self):
        """{instance_id: (reason, detail)} from /api/v1/coverage."""
        return {i["instance_id"]: (i["reason"], i["detail"])
                for g in self.coverage()["groups"] for i in g["unmonitored"]}

    def monitored_in_store(self):
        """{instance_id: value} of rwgate_fleet_instance_monitored in VictoriaMetrics now."""
        return {dict(k)["instance_id"]: v for k, v in
                self.vm.query("rwgate_fleet_instance_monitored").items()}

    def marker_captured(self, labels):
        """Whether a request the capturing sink got since the last call ends `labels`."""
        while True:
            try:
                _, _, body = self.capture.next(timeout=0.1)
            except queue.Empty:
                return False
            req = harness.pb1.WriteRequest()
            req.ParseFromString(body)
            for ts in req.timeseries:
                if {l.name: l.value for l in ts.labels} == labels and any(
                        struct.pack("<d", s.value) == STALE_NAN for s in ts.samples):
                    return True

    def test_the_store_and_the_endpoint_name_what_nobody_monitors(self):
        self.vm = self.ws.victoria_metrics()
        self.capture = harness.CapturingStore(self.ws)  # sees the staleness markers themselves
        web = [(f"i-web{n}", self.ws.node_exporter(host=f"127.0.0.{n + 1}", name=f"web{n}")) for n in range(1, 5)]
        api = [(f"i-api{n}", self.ws.node_exporter(name=f"api{n}")) for n in range(1, 3)]
        nginx_port = harness.free_port()
        servers = "".join(f"server {t};" for _, t in api)
        self.ws.nginx(f"upstream api {{ {servers} }}\n"
                      f"server {{ listen 127.0.0.6:{nginx_port}; location / {{ proxy_pass http://api; }} }}")
        nginx = f"127.0.0.6:{nginx_port}"
        self.fleet(web, api, nginx)
        self.gw = self.ws.rwgate(f"""
discovery:
  sources:
    - file: {{ files: ['{self.ws.path("fleet.json")}'], refresh_interval: 1m }}
coverage: {{ window: {WINDOW_S}s, interval: 1s }}
sinks:
  - name: vm
    remote_write:
      url: {self.vm.url}/api/v1/write
      queue: {{ batch_send_deadline: 200ms }}
  - name: capture
    remote_write:
      url: {self.capture.url}/api/v1/write
      queue: {{ batch_send_deadline: 200ms }}
      write_relabel_configs: [{{ source_labels: [__name__], regex: 'rwgate_fleet_.*', action: keep }}]
""")
        scraped = [t for _, t in web[:3]]  # i-web4 is left out of the config
        agent = self.ws.prometheus_agent(self.agent_config(scraped, nginx))

        want = {"i-web1": "1", "i-web2": "1", "i-web3": "1", "i-web4": "0", "i-api1": "0", "i-api2": "0"}
        harness.wait_until(lambda: self.monitored_in_store() == want, timeout=60,
                           what=f"coverage {want} in the store")
        want_groups = {"web/true": "3", "web/false": "1", "api/true": "0", "api/false": "2"}
        harness.wait_until(lambda: {dict(k)["asg"] + "/" + dict(k)["monitored"]: v
                                    for k, v in self.vm.query("rwgate_fleet_instances").items()} == want_groups,
                           timeout=30, what=f"group counts {want_groups} in the store")
        harness.wait_until(lambda: set(self.unmonitored()) == {"i-web4", "i-api1", "i-api2"}, timeout=30,
                           what="i-web4 and the api instances unmonitored")
        missing = self.unmonitored()
        self.assertEqual(missing["i-web4"][0], "never_seen")
        self.assertEqual(missing["i-api1"],
                         ("load_balancer", f"its group is scraped through load balancer api-lb at {nginx} (job via_lb)"))
        harness.wait_until(lambda: self.gw.metric("rwgate_coverage_unmonitored_instances") == 3, timeout=10,
                           what="the unmonitored gauge at 3")

        # Down but scraped: Prometheus still sends up=0 for it, so it is monitored.
        next(p for p in self.ws.procs if p.name == "web1").stop()
        harness.wait_until(lambda: "0" in self.vm.query('up{instance_id="i-web1"}').values(), timeout=30,
                           what="up 0 of i-web1 in the store")
        time.sleep(WINDOW_S + 2)  # more than a window of nothing but up=0 and scrape_* series
        self.assertNotIn("i-web1", self.unmonitored())

        # Out of the scrape config: it stops sending, and turns unmonitored.
        self.ws.write("prometheus.yml", self.agent_config(scraped[1:], nginx))
        agent.proc.send_signal(signal.SIGHUP)
        harness.wait_until(lambda: self.unmonitored().get("i-web1", ("",))[0] == "stopped_sending",
                           timeout=WINDOW_S + 30, what="i-web1 stopped sending")
        self.assertRegex(self.unmonitored()["i-web1"][1], r"^it stopped sending at 20\d\d-")
        harness.wait_until(lambda: self.monitored_in_store().get("i-web1") == "0", timeout=20,
                           what="i-web1 0 in the store")

        # Standby: no longer expected; its series ends with a staleness marker, none replaces it.
        self.fleet(web, api, nginx, standby={"i-web2"})
        want = {"__name__": "rwgate_fleet_instance_monitored", "asg": "web", "availability_zone": "us-east-1a",
                "instance_id": "i-web2", "lifecycle_state": "InService"}
        harness.wait_until(lambda: self.marker_captured(want), timeout=30, what="a staleness marker for i-web2")
        harness.wait_until(lambda: "i-web2" not in self.monitored_in_store(), timeout=30,
                           what="the coverage series of i-web2 ended in the store")
        self.assertEqual(self.vm.query('rwgate_fleet_instance_monitored{lifecycle_state="Standby"}'), {})
        web_total = sum(int(g["expected"]) for g in self.coverage()["groups"] if g["asg"] == "web")
        self.assertEqual(web_total, 3)


if __name__ == "__main__":
    unittest.main()
