"""Discovery sources through the real binary: file_sd reacts to file changes and keeps the
last good content of a broken file; http_sd polls and keeps the last good list when the
endpoint fails; the gRPC push API over TLS (discovery.grpc_tls) takes only clients with a
certificate its client CA verifies."""
import json
import os
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import threading

import harness


def instances(gw):
    status, _, body = harness.http("GET", gw.url + "/api/v1/discovery")
    assert status == 200
    return {i["instance_id"]: i for i in json.loads(body)["instances"]}


def group(target, iid, state="InService"):
    return {"targets": [target], "labels": {"__meta_ec2_instance_id": iid, "__meta_asg_name": "web",
                                            "__meta_asg_lifecycle_state": state}}


class DiscoverySourcesTest(unittest.TestCase):
    def setUp(self):
        self.ws = harness.Workspace()
        self.addCleanup(self.ws.close)

    def sink(self):
        return """
sinks:
  - name: s
    remote_write: { url: 'http://127.0.0.1:9/w' }
"""

    def test_file_sd_follows_changes_and_keeps_the_last_good_content(self):
        path = self.ws.write("fleet.json", json.dumps([group("10.0.0.1:9100", "i-1")]))
        gw = self.ws.rwgate(f"""
discovery:
  sources:
    - file: {{ files: ['{self.ws.path("*.json")}'], refresh_interval: 1h }}
""" + self.sink())
        self.assertEqual(list(instances(gw)), ["i-1"])
        # Written by rename, as config management tools do; picked up via inotify, not the 1h refresh.
        tmp = self.ws.write("fleet.json.tmp", json.dumps([group("10.0.0.1:9100", "i-1", "Terminating:Wait"),
                                                         group("10.0.0.2:9100", "i-2")]))
        os.rename(tmp, path)
        harness.wait_until(lambda: instances(gw).get("i-2"), what="the change")
        self.assertEqual(instances(gw)["i-1"]["lifecycle_state"], "Terminating:Wait")
        with open(path, "w") as f:
            f.write("[{ broken")
        harness.wait_until(lambda: gw.metric('rwgate_discovery_refresh_errors_total{source="file[0]"}') >= 1,
                           what="the error counted")
        self.assertEqual(sorted(instances(gw)), ["i-1", "i-2"])

    def test_http_sd_polls_and_keeps_the_last_good_list(self):
        state = {"status": 200, "groups": [group("10.0.0.1:9100", "i-1")]}

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                body = json.dumps(state["groups"]).encode()
                self.send_response(state["status"])
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.ws.servers.append(server)
        gw = self.ws.rwgate(f"""
discovery:
  sources:
    - http: {{ url: 'http://127.0.0.1:{server.server_address[1]}/sd', refresh_interval: 300ms }}
""" + self.sink())
        self.assertEqual(list(instances(gw)), ["i-1"])
        state["status"] = 500
        harness.wait_until(lambda: gw.metric('rwgate_discovery_refresh_errors_total{source="http[0]"}') >= 2,
                           what="failed polls")
        self.assertEqual(list(instances(gw)), ["i-1"])
        state["status"] = 200
        state["groups"] = [group("10.0.0.1:9100", "i-1"), group("10.0.0.3:9100", "i-3")]
        harness.wait_until(lambda: "i-3" in instances(gw), what="the new list")

    def test_grpc_push_api_over_tls_with_client_certificates(self):
        import grpc
        pb, pb_grpc = harness.discovery_api()
        harness.make_pki(self.ws.dir)
        os.makedirs(self.ws.path("other"))
        harness.make_pki(self.ws.path("other"))
        port = harness.free_port()
        gw = self.ws.rwgate(f"""
discovery:
  grpc_listen_address: 127.0.0.1:{port}
  grpc_tls: {{ cert_file: {self.ws.path("server.pem")}, key_file: {self.ws.path("server.key")},
              client_ca_file: {self.ws.path("ca.pem")} }}
""" + self.sink())

        def read(*parts):
            with open(self.ws.path(*parts), "rb") as f:
                return f.read()

        def stub(key=None, cert=None):
            creds = grpc.ssl_channel_credentials(root_certificates=read("ca.pem"), private_key=key,
                                                 certificate_chain=cert)
            return pb_grpc.DiscoveryStub(grpc.secure_channel(f"localhost:{port}", creds))

        instance = pb.Instance(instance_id="i-0tls", asg_name="web", private_ip="10.0.0.9")
        good = stub(read("client.key"), read("client.pem"))
        self.assertGreater(good.Upsert(pb.UpsertRequest(instances=[instance]), timeout=10).generation, 0)
        self.assertIn("i-0tls", instances(gw))
        # Without a certificate, with one of another CA, and in plain text: refused.
        for bad in (stub(), stub(read("other", "client.key"), read("other", "client.pem")),
                    pb_grpc.DiscoveryStub(grpc.insecure_channel(f"127.0.0.1:{port}"))):
            with self.assertRaises(grpc.RpcError) as e:
                bad.Remove(pb.RemoveRequest(instance_ids=["i-0tls"]), timeout=5)
            self.assertEqual(e.exception.code(), grpc.StatusCode.UNAVAILABLE)
        self.assertIn("i-0tls", instances(gw))


if __name__ == "__main__":
    unittest.main()
