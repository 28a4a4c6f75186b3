"""Stale-target cleanup: a terminated instance's series end at once in the store, not after
Prometheus' 5-minute lookback. Real Prometheus agent + node_exporter (enriched by a file_sd
fleet) -> rwgate -> a real Prometheus 2.42 with --web.enable-remote-write-receiver."""
import json
import os
import time
import unittest

import harness


event = harness.eventbridge_event


TERMINATE_LIFECYCLE = ("EC2 Instance-terminate Lifecycle Action",
                       {"LifecycleActionToken": "87654321-4321-4321-4321-210987654321",
                        "LifecycleHookName": "drain", "LifecycleTransition": "autoscaling:EC2_INSTANCE_TERMINATING"})
TERMINATE_SUCCESSFUL = ("EC2 Instance Terminate Successful",
                        {"StatusCode": "InProgress", "Description": "Terminating EC2 instance",
                         "ActivityId": "9cabb81f-42de-417d-8aa7-ce16bf026590", "Cause": "scale in"})


class StalenessTest(unittest.TestCase):
    def setUp(self):
        self.ws = harness.Workspace()
        self.addCleanup(self.ws.close)

    def gateway(self, store, targets, staleness="", missing_after="2m"):
        self.ws.write("fleet.json", json.dumps([{
            "targets": [t], "labels": {"__meta_ec2_instance_id": iid, "__meta_asg_name": "web",
                                       "__meta_ec2_availability_zone": "us-east-1a",
                                       "__meta_asg_lifecycle_state": "InService"}}
            for t, iid in targets]))
        key = self.ws.write("eventbridge.key", "s3cret\n")
        gw = self.ws.rwgate(f"""
discovery:
  sources:
    - file: {{ files: ['{self.ws.path("fleet.json")}'], refresh_interval: 1m }}
  eventbridge: {{ enabled: true, api_key_file: {key} }}
  missing_after: {missing_after}
{staleness}
coverage: {{ emit_series: false }}  # the queries by instance_id count the sender's series only
sinks:
  - name: store
    remote_write:
      url: {store.url}/api/v1/write
      queue: {{ batch_send_deadline: 100ms }}
""")
        # Ready does not wait for the first file_sd read: on a busy machine a write right
        # after start could come before the fleet is known, and go out without enrichment.
        want = {iid for _, iid in targets}

        def listed():
            status, _, body = harness.http("GET", gw.url + "/api/v1/discovery")
            return status == 200 and want <= {i["instance_id"] for i in json.loads(body)["instances"]}
        harness.wait_until(listed, timeout=30, what=f"{sorted(want)} in discovery")
        return gw

    def post_event(self, gw, kind, instance_id):
        status, _, body = harness.http("POST", gw.url + "/api/v1/aws/events", event(kind[0], instance_id, **kind[1]),
                                       {"X-Api-Key": "s3cret", "Content-Type": "application/json"})
        self.assertEqual(status, 200, body)
        self.assertIn(b"applied", body)

    def test_terminated_instance_series_end_at_once(self):
        store = self.ws.prometheus_store()
        target = self.ws.node_exporter()
        gw = self.gateway(store, [(target, "i-0abc")])
        agent = self.ws.node_agent(target, f"""
  - url: {gw.url}/api/v1/write
    queue_config: {{ batch_send_deadline: 200ms }}
""")
        q = 'up{instance_id="i-0abc"}'
        found = harness.wait_until(lambda: store.query(q), timeout=60, what="up in the store")
        self.assertEqual(found[0][0]["lifecycle_state"], "InService")
        series_before = len(store.query('{instance_id="i-0abc"}'))
        self.assertGreater(series_before, 50)

        # Scale-in starts: the lifecycle hook holds the instance in Terminating:Wait. Its
        # InService series end now; only the Terminating:Wait ones stay visible.
        self.post_event(gw, TERMINATE_LIFECYCLE, "i-0abc")
        states = lambda: sorted({m["lifecycle_state"] for m, _ in store.query('{instance_id="i-0abc"}')})
        harness.wait_until(lambda: states() == ["Terminating:Wait"], timeout=15,
                           what="only Terminating:Wait series visible")
        self.assertEqual(len(store.query('{instance_id="i-0abc"}')), series_before)

        # Terminated, and its exporter stops: every series leaves the store's answers.
        self.post_event(gw, TERMINATE_SUCCESSFUL, "i-0abc")
        self.ws.procs[1].stop()  # node_exporter
        harness.wait_until(lambda: store.query('{instance_id="i-0abc"}') == [], timeout=15,
                           what="the terminated instance's series ended")
        # The agent keeps scraping the dead target (up=0): those late samples are dropped,
        # so nothing resurrects the series.
        harness.wait_until(lambda: gw.metric("rwgate_staleness_late_samples_dropped_total") > 0,
                           timeout=15, what="late samples dropped")
        time.sleep(2)
        self.assertEqual(store.query('{instance_id="i-0abc"}'), [])
        self.assertEqual(store.query('up{job="node"}'), [])
        self.assertGreaterEqual(gw.metric("rwgate_staleness_markers_total"), 2 * series_before)
        agent.stop()

    def write_up(self, gw, instance, ts):
        series = [({"__name__": "up", "job": "app", "instance": instance}, [(ts, 1)]),
                  ({"__name__": "requests_total", "job": "app", "instance": instance}, [(ts, 42)])]
        status, _, body = gw.write(harness.v1_request(series))
        self.assertEqual(status, 204, body)

    def test_an_instance_no_source_lists_ends_after_missing_after(self):
        store = self.ws.prometheus_store()
        gw = self.gateway(store, [("127.0.0.5:9100", "i-0a"), ("127.0.0.6:9100", "i-0b")], missing_after="1s")
        now = int(time.time() * 1000)
        for k in range(3):
            self.write_up(gw, "127.0.0.5:9100", now - 3000 + 1000 * k)
            self.write_up(gw, "127.0.0.6:9100", now - 3000 + 1000 * k)
        harness.wait_until(lambda: len(store.query('{job="app", asg="web"}')) == 4, timeout=60, what="4 series")
        # The fleet file no longer lists i-0a (scale-in without any event).
        with open(self.ws.path("fleet.json")) as f:
            fleet = [g for g in json.load(f) if g["labels"]["__meta_ec2_instance_id"] == "i-0b"]
        self.ws.write("fleet.json.tmp", json.dumps(fleet))
        os.replace(self.ws.path("fleet.json.tmp"), self.ws.path("fleet.json"))
        harness.wait_until(lambda: sorted(m["instance_id"] for m, _ in store.query('{job="app", asg="web"}')) == ["i-0b", "i-0b"],
                           timeout=20, what="i-0a's series ended")
        # A late sample of the gone instance is dropped, and counted.
        self.write_up(gw, "127.0.0.5:9100", now + 1000)
        self.assertEqual(gw.metric("rwgate_staleness_late_samples_dropped_total"), 2)

    def test_nothing_is_ended_when_on_terminate_is_off(self):
        store = self.ws.prometheus_store()
        gw = self.gateway(store, [("127.0.0.5:9100", "i-0a")],
                          staleness="staleness: { on_terminate: false, drop_late_samples: false }")
        now = int(time.time() * 1000)
        self.write_up(gw, "127.0.0.5:9100", now - 1000)
        harness.wait_until(lambda: len(store.query('{instance_id="i-0a"}')) == 2, timeout=30, what="2 series")
        self.post_event(gw, TERMINATE_SUCCESSFUL, "i-0a")
        time.sleep(3)
        self.assertEqual(len(store.query('{instance_id="i-0a"}')), 2)
        self.assertEqual(gw.metric("rwgate_staleness_markers_total"), 0)
        # drop_late_samples off: a sample after termination still goes through (enriched as Terminated).
        self.write_up(gw, "127.0.0.5:9100", now)
        harness.wait_until(lambda: any(m["lifecycle_state"] == "Terminated" for m, _ in store.query('{instance_id="i-0a"}')),
                           timeout=15, what="late sample forwarded")


if __name__ == "__main__":
    unittest.main()
