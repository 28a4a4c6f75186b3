"""Enrichment end to end: a real Prometheus agent scrapes node_exporter and writes through
rwgate to VictoriaMetrics; a file_sd file tells rwgate which instance, ASG and zone that
address is; EventBridge lifecycle events change the state on the next samples."""
import json
import time
import unittest

import harness

LAUNCH_SUCCESSFUL = {
    "version": "0", "id": "7bf73129-1428-4cd3-a780-95db273d1602",
    "detail-type": "EC2 Instance Launch Successful", "source": "aws.autoscaling",
    "account": "123456789012", "time": "2026-11-25T10:00:00Z", "region": "us-east-1",
    "resources": ["arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:uuid:autoScalingGroupName/web"],
    "detail": {"StatusCode": "InProgress", "Description": "Launching a new EC2 instance: i-0abc",
               "AutoScalingGroupName": "web", "ActivityId": "9cabb81f-42de-417d-8aa7-ce16bf026590",
               "Details": {"Availability Zone": "us-east-1a", "Subnet ID": "subnet-95bfcebe"},
               "RequestId": "9cabb81f-42de-417d-8aa7-ce16bf026590", "EndTime": "2026-11-25T10:00:05Z",
               "EC2InstanceId": "i-0abc", "StartTime": "2026-11-25T09:59:40Z", "Cause": "scale out"}}

TERMINATE_LIFECYCLE = {
    "version": "0", "id": "468fee84-6f4f-4b0c-a7de-f4bd3a2dcc1b",
    "detail-type": "EC2 Instance-terminate Lifecycle Action", "source": "aws.autoscaling",
    "account": "123456789012", "time": "2026-11-25T10:05:00Z", "region": "us-east-1",
    "resources": ["arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:uuid:autoScalingGroupName/web"],
    "detail": {"LifecycleActionToken": "87654321-4321-4321-4321-210987654321", "AutoScalingGroupName": "web",
               "LifecycleHookName": "drain", "EC2InstanceId": "i-0abc",
               "LifecycleTransition": "autoscaling:EC2_INSTANCE_TERMINATING"}}


class EnrichTest(unittest.TestCase):
    def setUp(self):
        self.ws = harness.Workspace()
        self.addCleanup(self.ws.close)

    def test_series_carry_fleet_context_and_lifecycle_events_change_it(self):
        vm = self.ws.victoria_metrics()
        target = self.ws.node_exporter()
        self.ws.write("fleet.json", json.dumps([{
            "targets": [target],
            "labels": {"__meta_ec2_instance_id": "i-0abc", "__meta_asg_name": "web",
                       "__meta_ec2_availability_zone": "us-east-1a", "__meta_asg_lifecycle_state": "InService",
                       "__meta_ec2_tag_Team": "payments"}}]))
        key = self.ws.write("eventbridge.key", "s3cret\n")
        gw = self.ws.rwgate(f"""
discovery:
  sources:
    - file: {{ files: ['{self.ws.path("*.json")}'], refresh_interval: 1m }}
  eventbridge: {{ enabled: true, api_key_file: {key} }}
sinks:
  - name: store
    remote_write:
      url: {vm.url}/api/v1/write
      queue: {{ batch_send_deadline: 200ms }}
""")
        self.ws.node_agent(target, f"""
  - url: {gw.url}/api/v1/write
    queue_config: {{ batch_send_deadline: 500ms }}
""")
        harness.wait_until(lambda: gw.metric("rwgate_enrich_hits_total") > 0, timeout=60, what="enriched series")
        time.sleep(2)
        exported = vm.export('{job="node"}')
        self.assertGreater(len(exported), 50)
        for series in exported:
            labels = dict(series)
            self.assertEqual(labels["instance_id"], "i-0abc", labels)
            self.assertEqual(labels["asg"], "web")
            self.assertEqual(labels["availability_zone"], "us-east-1a")
            self.assertEqual(labels["lifecycle_state"], "InService")
            self.assertFalse([k for k in labels if k.startswith("__meta_")])
        self.assertEqual(gw.metric("rwgate_enrich_misses_total"), 0)

        # The discovery cache as JSON.
        status, _, body = harness.http("GET", gw.url + "/api/v1/discovery")
        self.assertEqual(status, 200)
        instances = json.loads(body)["instances"]
        self.assertEqual([(i["instance_id"], i["asg"], i["tags"]) for i in instances],
                         [("i-0abc", "web", {"Team": "payments"})])

        # EventBridge: the key is required; a malformed body is 400; a terminate
        # lifecycle action flips lifecycle_state on the next samples.
        events = gw.url + "/api/v1/aws/events"
        self.assertEqual(harness.http("POST", events, json.dumps(TERMINATE_LIFECYCLE).encode())[0], 401)
        self.assertEqual(harness.http("POST", events, b"{not json", {"X-Api-Key": "s3cret"})[0], 400)
        unknown = dict(LAUNCH_SUCCESSFUL, **{"detail-type": "EC2 Instance Launch Unsuccessful"})
        self.assertEqual(harness.http("POST", events, json.dumps(unknown).encode(), {"X-Api-Key": "s3cret"})[0], 200)
        status, _, body = harness.http("POST", events, json.dumps(TERMINATE_LIFECYCLE).encode(),
                                       {"X-Api-Key": "s3cret"})
        self.assertEqual(status, 200, body)
        flipped_at = int(time.time() * 1000)

        def states_after_flip():
            rows = vm.export('up{job="node"}')
            return {dict(s)["lifecycle_state"] for s, samples in rows.items() if any(t > flipped_at for t, _ in samples)}

        harness.wait_until(lambda: "Terminating:Wait" in states_after_flip(), timeout=30, what="Terminating:Wait")
        m = gw.metrics()
        self.assertEqual(m['rwgate_eventbridge_events_total{result="applied",type="EC2 Instance-terminate Lifecycle Action"}'], 1)
        self.assertEqual(m['rwgate_eventbridge_events_total{result="unauthorized",type="other"}'], 1)
        self.assertEqual(m['rwgate_eventbridge_events_total{result="malformed",type="other"}'], 1)
        self.assertEqual(m['rwgate_eventbridge_events_total{result="ignored",type="other"}'], 1)

    def test_grpc_push_adds_an_instance_that_a_second_target_then_matches(self):
        import grpc
        pb, pb_grpc = harness.discovery_api()
        vm = self.ws.victoria_metrics()
        grpc_port = harness.free_port()
        gw = self.ws.rwgate(f"""
discovery:
  grpc_listen_address: 127.0.0.1:{grpc_port}
sinks:
  - name: store
    remote_write:
      url: {vm.url}/api/v1/write
      queue: {{ batch_send_deadline: 200ms }}
""")
        # A second node_exporter on another loopback address, as a second instance.
        second = self.ws.node_exporter(host="127.0.0.2", name="node_exporter_2")
        self.ws.node_agent(second, f"""
  - url: {gw.url}/api/v1/write
    queue_config: {{ batch_send_deadline: 500ms }}
""")
        harness.wait_until(lambda: gw.metric("rwgate_enrich_misses_total") > 0, timeout=60, what="unmatched series")

        channel = grpc.insecure_channel(f"127.0.0.1:{grpc_port}")
        stub = pb_grpc.DiscoveryStub(channel)
        watch = stub.Watch(pb.WatchRequest(), timeout=30)
        with self.assertRaises(grpc.RpcError) as bad:
            stub.Upsert(pb.UpsertRequest(instances=[pb.Instance(asg_name="x")]), timeout=10)
        self.assertEqual(bad.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        res = stub.Upsert(pb.UpsertRequest(instances=[pb.Instance(
            instance_id="i-0def", asg_name="web", availability_zone="us-east-1b", lifecycle_state="InService",
            private_ip="127.0.0.2")]), timeout=10)
        self.assertGreater(res.generation, 0)
        event = next(watch)
        self.assertEqual(event.kind, pb.ChangeEvent.ADDED)
        self.assertEqual(event.after.instance_id, "i-0def")
        watch.cancel()
        listed = stub.List(pb.ListRequest(), timeout=10)
        self.assertEqual([(i.instance_id, i.source) for i in listed.instances], [("i-0def", "grpc")])
        pushed_at = int(time.time() * 1000)

        def enriched_after_push():
            rows = vm.export('up{job="node"}')
            return [dict(s) for s, samples in rows.items()
                    if any(t > pushed_at for t, _ in samples) and dict(s).get("instance_id") == "i-0def"]

        rows = harness.wait_until(enriched_after_push, timeout=30, what="series of the pushed instance")
        self.assertEqual((rows[0]["asg"], rows[0]["availability_zone"], rows[0]["lifecycle_state"]),
                         ("web", "us-east-1b", "InService"))
        channel.close()

    def test_on_miss_annotate_and_the_senders_labels_win(self):
        store_rows = []
        import snappy

        def respond(handler, body):
            store_rows.append(harness.pb1.WriteRequest.FromString(snappy.uncompress(body)))
            return 204, {}, b""

        store = self.ws.http_peer(respond)
        self.ws.write("fleet.yml", """
- targets: ['10.1.2.3:9100']
  labels: { __meta_ec2_instance_id: i-1, __meta_asg_name: api, __meta_ec2_availability_zone: eu-west-1b,
            __meta_asg_lifecycle_state: InService }
""")
        gw = self.ws.rwgate(f"""
discovery:
  sources:
    - file: {{ files: ['{self.ws.path("fleet.yml")}'] }}
enrich:
  on_miss: annotate
sinks:
  - name: s
    remote_write: {{ url: '{store}/api/v1/write', queue: {{ batch_send_deadline: 100ms, shards: 1 }} }}
""")
        req = harness.v1_request([
            ({"__name__": "up", "instance": "10.1.2.3:9100", "asg": "from-sender"}, [(1_700_000_000_000, 1.0)]),
            ({"__name__": "up", "instance": "10.9.9.9:9100"}, [(1_700_000_000_000, 1.0)]),
        ])
        self.assertEqual(gw.write(req)[0], 204)
        def sent():  # by instance; the store also gets rwgate's own fleet coverage series
            labels = [dict((l.name, l.value) for l in ts.labels) for row in list(store_rows) for ts in row.timeseries]
            return {l["instance"]: l for l in labels if "instance" in l}
        harness.wait_until(lambda: len(sent()) == 2, what="both series at the store")
        got = sent()
        self.assertEqual(got["10.1.2.3:9100"]["asg"], "from-sender")  # the sender's word wins
        self.assertEqual(got["10.1.2.3:9100"]["availability_zone"], "eu-west-1b")
        self.assertEqual(got["10.9.9.9:9100"]["enrichment"], "miss")
        self.assertNotIn("asg", got["10.9.9.9:9100"])


if __name__ == "__main__":
    unittest.main()
