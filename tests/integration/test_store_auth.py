"""Authentication towards the store: rwgate forwards with `basic_auth` (and, in a second
case, `authorization` with a bearer token from a file) to VictoriaMetrics behind a real
nginx that checks the credentials. A password rotated in its file while data is queued
loses nothing (the 401 makes rwgate re-read the file and send again); a wrong one is
dropped after the 401 and counted; the secret never shows in rwgate's log or endpoints."""
import os
import time
import unittest

import harness

NGINX_SERVER = """
  server {{
    listen 127.0.0.1:{port};
    location / {{
      {auth}
      proxy_pass {vm};
    }}
  }}
"""


class StoreAuthTest(unittest.TestCase):
    def setUp(self):
        self.ws = harness.Workspace()
        self.addCleanup(self.ws.close)

    def store_behind_nginx(self, auth):
        vm = self.ws.victoria_metrics()
        port = harness.free_port()
        self.ws.nginx(NGINX_SERVER.format(port=port, vm=vm.url, auth=auth))
        harness.wait_until(lambda: harness.http("GET", f"http://127.0.0.1:{port}/health")[0] in
                           (200, 401, 403), what="nginx")
        return vm, f"http://127.0.0.1:{port}"

    def test_basic_auth_and_a_rotated_password_file(self):
        # nginx's {PLAIN} scheme: the passwords are written as they are.
        os.chmod(self.ws.write("htpasswd", "rwgate:{PLAIN}first\n"), 0o644)
        vm, url = self.store_behind_nginx(
            f'auth_basic "store"; auth_basic_user_file {self.ws.path("htpasswd")};')
        password = self.ws.write("password", "first\n")
        gw = self.ws.rwgate(f"""
sinks:
  - name: store
    remote_write:
      url: {url}/api/v1/write
      basic_auth: {{ username: rwgate, password_file: {password} }}
      queue: {{ batch_send_deadline: 100ms, min_backoff: 10ms, max_backoff: 50ms }}
""")
        gw.write_series("a", 10)
        vm.wait_for_job("a", 10, "the first series through nginx's basic auth")
        # Rotate: the store knows only the new password, and so does the file afterwards.
        os.chmod(self.ws.write("htpasswd", "rwgate:{PLAIN}second\n"), 0o644)
        time.sleep(0.2)
        self.ws.write("password", "second\n")
        gw.write_series("b", 10)
        vm.wait_for_job("b", 10, "the series sent across the rotation")
        # A password the store refuses, and no new one: dropped after the 401, counted.
        self.ws.write("password", "wrong\n")
        time.sleep(1.2)
        gw.write_series("c", 5)
        harness.wait_until(
            lambda: gw.metric('rwgate_dropped_samples_total{reason="rejected",sink="store"}') >= 5,
            timeout=30, what="the refused request dropped and counted")
        self.assertEqual(len(vm.export('{job="c"}')), 0)
        self.assertGreaterEqual(gw.metric('rwgate_sends_total{sink="store",status="401"}'), 1)
        # Nothing sent before the wrong password was lost on the way.
        self.assertEqual(len(vm.export('{job=~"a|b"}')), 20)
        log = gw.proc.output()
        for secret in ("first", "second", "wrong"):
            self.assertNotIn(f"rwgate:{secret}", log)
        status, _, config_page = harness.http("GET", gw.url + "/api/v1/discovery")
        self.assertNotIn(b"second", config_page)

    def test_bearer_token_from_a_file(self):
        vm, url = self.store_behind_nginx(
            'if ($http_authorization != "Bearer t0ken") { return 401; }')
        token = self.ws.write("token", "t0ken")
        gw = self.ws.rwgate(f"""
sinks:
  - name: store
    remote_write:
      url: {url}/api/v1/write
      authorization: {{ credentials_file: {token} }}
      queue: {{ batch_send_deadline: 100ms }}
""")
        gw.write_series("t", 3)
        vm.wait_for_job("t", 3, "series sent with the bearer token")

    def test_config_errors_name_the_secret_file_and_both_methods(self):
        r = self.ws.rwgate("""
sinks:
  - name: s
    remote_write:
      url: http://127.0.0.1:1/api/v1/write
      basic_auth: { username: u, password: p, password_file: /nonexistent/secret }
      authorization: { credentials: x }
""", wait_ready=False)
        self.assertEqual(r.proc.proc.wait(timeout=30), 2)
        out = r.proc.output()
        self.assertIn("sinks[0].remote_write.basic_auth.password_file", out)
        self.assertIn("password and password_file are mutually exclusive", out)
        self.assertIn("sinks[0].remote_write.authorization", out)
        self.assertIn("basic_auth and authorization are mutually exclusive", out)
        self.assertNotIn(": p\n", out)


if __name__ == "__main__":
    unittest.main()
