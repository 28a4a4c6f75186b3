"""--web.config.file: a real Prometheus agent writes to rwgate with basic_auth (the users'
bcrypt hashes made by python3-bcrypt, another implementation than rwgate's libxcrypt);
requests without or with wrong credentials get 401 with WWW-Authenticate and are counted;
the file's headers are on every response; a user added to the file is accepted without a
restart; `rwgate check web-config` reports errors with their YAML paths."""
import subprocess
import time
import unittest

import bcrypt

import harness


def hashed(password, cost=4):
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(cost)).decode()


class WebConfigTest(unittest.TestCase):
    def setUp(self):
        self.ws = harness.Workspace()
        self.addCleanup(self.ws.close)

    def start(self, users):
        self.web = self.ws.write("web.yml", self.web_config(users))
        vm = self.ws.victoria_metrics()
        gw = self.ws.rwgate(f"""
sinks:
  - name: vm
    remote_write: {{ url: {vm.url}/api/v1/write }}
""", args=[f"--web.config.file={self.web}"], auth=("prometheus", "s3cret"))
        return vm, gw

    @staticmethod
    def web_config(users):
        lines = ["basic_auth_users:"] + [f"  {u}: '{h}'" for u, h in users.items()]
        lines += ["http_server_config:", "  headers:", "    X-Frame-Options: deny"]
        return "\n".join(lines) + "\n"

    def test_prometheus_writes_with_basic_auth_and_strangers_get_401(self):
        vm, gw = self.start({"prometheus": hashed("s3cret")})
        target = self.ws.node_exporter()
        self.ws.node_agent(target, f"""
  - url: {gw.url}/api/v1/write
    basic_auth: {{ username: prometheus, password: s3cret }}
    queue_config: {{ batch_send_deadline: 1s }}
""")
        harness.wait_until(lambda: len(vm.export('{job="node"}')) > 20, timeout=60,
                           what="the agent's series in VictoriaMetrics through rwgate")
        self.assertGreater(gw.metric('rwgate_ingest_requests_total{code="204"}'), 0)

        body = harness.v1_request([({"__name__": "m", "job": "x"}, [(int(time.time() * 1000), 1.0)])])
        status, headers, text = gw.write(body, headers={"Authorization": ""})
        self.assertEqual(status, 401, text)
        self.assertEqual(headers.get("WWW-Authenticate"), "Basic")
        status, _, _ = gw.write(body, headers=harness.basic_auth_header("prometheus", "wrong"))
        self.assertEqual(status, 401)
        status, _, _ = gw.write(body, headers=harness.basic_auth_header("mallory", "s3cret"))
        self.assertEqual(status, 401)
        status, _, _ = gw.write(body, headers={"Authorization": "Basic !!!not-base64"})
        self.assertEqual(status, 401)
        # Every endpoint needs it, as in Prometheus; the configured header is on every answer.
        status, headers, _ = harness.http("GET", gw.url + "/metrics")
        self.assertEqual(status, 401)
        self.assertEqual(headers.get("X-Frame-Options"), "deny")
        m = gw.metrics()
        self.assertEqual(m['rwgate_http_auth_failures_total{reason="wrong_password"}'], 1)
        self.assertEqual(m['rwgate_http_auth_failures_total{reason="unknown_user"}'], 1)
        self.assertEqual(m['rwgate_http_auth_failures_total{reason="malformed"}'], 1)
        self.assertGreaterEqual(m['rwgate_http_auth_failures_total{reason="missing"}'], 2)
        self.assertEqual(m['rwgate_rejected_requests_total{reason="unauthorized"}'], 4)
        self.assertNotIn("s3cret", gw.proc.output())

    def test_a_user_added_to_the_file_is_accepted_without_a_restart(self):
        vm, gw = self.start({"prometheus": hashed("s3cret")})
        body = harness.v1_request([({"__name__": "m", "job": "x"}, [(int(time.time() * 1000), 1.0)])])
        carol = harness.basic_auth_header("carol", "n3w")
        self.assertEqual(gw.write(body, headers=carol)[0], 401)
        time.sleep(1.1)  # a new modification time, whatever the file system's resolution
        open(self.web, "w").write(self.web_config({"prometheus": hashed("s3cret"),
                                                   "carol": hashed("n3w")}))
        harness.wait_until(lambda: gw.write(body, headers=carol)[0] == 204, timeout=10,
                           what="the new user accepted")
        # A broken file keeps the last good one.
        time.sleep(1.1)
        open(self.web, "w").write("basic_auth_users: [nonsense\n")
        time.sleep(1.5)
        self.assertEqual(gw.write(body, headers=carol)[0], 204)

    def test_check_web_config_reports_every_error_with_its_path(self):
        good = self.ws.write("good.yml", self.web_config({"a": hashed("x")}))
        r = subprocess.run([harness.RWGATE, "check", "web-config", good], capture_output=True,
                           text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("ok (1 user, plain HTTP)", r.stdout)
        bad = self.ws.write("bad.yml", """
basic_auth_users:
  a: plaintext
http_server_config:
  headers:
    X-Powered-By: me
    X-Frame-Options: always
tls_server_config: { cert_file: c.pem, key_file: k.pem }
unknown: 1
""")
        r = subprocess.run([harness.RWGATE, "check", "web-config", bad], capture_output=True,
                           text=True)
        self.assertEqual(r.returncode, 2)
        for path in ["basic_auth_users.a (line 3)", "http_server_config.headers.X-Powered-By",
                     "http_server_config.headers.X-Frame-Options", "tls_server_config",
                     "unknown"]:
            self.assertIn(path, r.stderr)
        # And the proxy refuses to start on it.
        r = subprocess.run([harness.RWGATE, f"--web.config.file={bad}"], capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(r.returncode, 2)
        self.assertIn("basic_auth_users.a", r.stderr)


if __name__ == "__main__":
    unittest.main()
