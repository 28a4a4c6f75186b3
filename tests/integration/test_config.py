"""Config validation, `rwgate check config`, reload by HTTP and SIGHUP."""
import signal
import subprocess
import unittest

import harness

GOOD = """
sinks:
  - name: a
    remote_write:
      url: http://127.0.0.1:9/api/v1/write
"""

BAD = """
server:
  listen_address: 127.0.0.1:0
  worker_threads: many
sinks:
  - name: a
    remote_write:
      url: ftp://x/y
      protocol: v3
      queue: { shards: 0, batch_send_deadline: 5 minutes }
      headers: { Content-Type: text/plain }
      colour: blue
  - name: a
    remote_write: { url: "http://127.0.0.1:1/w" }
"""


class ConfigTest(unittest.TestCase):
    def setUp(self):
        self.ws = harness.Workspace()
        self.addCleanup(self.ws.close)

    def check(self, text):
        path = self.ws.write("c.yml", text)
        return subprocess.run([harness.RWGATE, "check", "config", path], capture_output=True, text=True)

    def test_check_config_prints_every_error_with_its_path_and_exits_2(self):
        r = self.check(BAD)
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        for expected in [
            "server.worker_threads (line 4): must be an integer",
            "sinks[0].remote_write.url (line 8): scheme \"ftp\" is not supported",
            "sinks[0].remote_write.protocol (line 9): must be v1 or v2",
            "sinks[0].remote_write.queue.shards (line 10): must be between 1 and 1000",
            "sinks[0].remote_write.queue.batch_send_deadline (line 10): not a valid duration",
            "sinks[0].remote_write.headers.Content-Type (line 11): header is set by rwgate",
            "sinks[0].remote_write.colour (line 12): unknown key",
            "sinks[1].name (line 13): duplicate sink name \"a\"",
        ]:
            self.assertIn(expected, r.stderr)

    def test_check_config_accepts_the_example(self):
        import os
        example = os.path.join(os.path.dirname(__file__), "../../examples/minimal.yml")
        r = subprocess.run([harness.RWGATE, "check", "config", example], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_bad_config_at_start_exits_2(self):
        path = self.ws.write("bad.yml", BAD)
        r = subprocess.run([harness.RWGATE, f"--config.file={path}"], capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 2)
        self.assertIn("unknown key", r.stderr)

    def test_reload_applies_a_good_config_and_refuses_a_bad_one(self):
        gw = self.ws.rwgate(GOOD, name="gw")
        cfg = self.ws.path("gw.yml")
        # Bad: refused with 500 and every error; the old config keeps running.
        with open(cfg, "w") as f:
            f.write(BAD)
        status, _, body = harness.http("POST", gw.url + "/-/reload")
        self.assertEqual(status, 500)
        self.assertIn(b"unknown key", body)
        self.assertEqual(gw.metric("rwgate_config_last_reload_successful"), 0)
        self.assertEqual(harness.http("GET", gw.url + "/-/ready")[0], 200)
        # Good, with a second sink: applied.
        with open(cfg, "w") as f:
            f.write(GOOD + """  - name: b
    remote_write:
      url: http://127.0.0.1:9/other
""")
        status, _, body = harness.http("POST", gw.url + "/-/reload")
        self.assertEqual(status, 200, body)
        self.assertIn('rwgate_queue_capacity_bytes{sink="b"}', gw.metrics())
        # SIGHUP does the same.
        with open(cfg, "w") as f:
            f.write(GOOD.replace("name: a", "name: c"))
        gw.proc.proc.send_signal(signal.SIGHUP)
        harness.wait_until(lambda: gw.metric('rwgate_config_reloads_total{result="success"}') == 2,
                           what="SIGHUP reload")
        self.assertEqual(gw.metric("rwgate_config_last_reload_successful"), 1)


if __name__ == "__main__":
    unittest.main()
