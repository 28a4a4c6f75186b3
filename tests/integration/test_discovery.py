"""Discovery sources through the real binary: file_sd reacts to file changes and keeps the
last good content of a broken file; http_sd polls and keeps the last good list when the
endpoint fails."""
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


if __name__ == "__main__":
    unittest.main()
