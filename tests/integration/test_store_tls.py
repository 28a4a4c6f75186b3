"""https towards the store: rwgate forwards to VictoriaMetrics behind a real nginx that
terminates TLS with a certificate from a test CA (made with the openssl command) and
checks basic auth (and, in a second case, a client certificate). The certificate is
verified against tls_config.ca_file and the name; without the CA or with another
server_name nothing is delivered and the failed sends are counted; insecure_skip_verify
skips the check."""
import os
import sys
import time
import unittest

import harness

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fixtures"))
from http_proxy import HttpProxy  # noqa: E402

NGINX_SERVER = """
  server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {dir}/server.pem;
    ssl_certificate_key {dir}/server.key;
    {extra}
    location / {{
      {auth}
      proxy_pass {vm};
    }}
  }}
"""


class StoreTlsTest(unittest.TestCase):
    def setUp(self):
        self.ws = harness.Workspace()
        self.addCleanup(self.ws.close)
        harness.make_pki(self.ws.dir)

    def store(self, auth="", extra=""):
        vm = self.ws.victoria_metrics()
        port = harness.free_port()
        self.ws.nginx(NGINX_SERVER.format(dir=self.ws.dir, port=port, vm=vm.url, auth=auth,
                                          extra=extra))
        time.sleep(0.3)
        return vm, port

    def gateway(self, url, tls, extra=""):
        return self.ws.rwgate(f"""
sinks:
  - name: store
    remote_write:
      url: {url}/api/v1/write
      tls_config: {tls}
      {extra}
      queue: {{ batch_send_deadline: 100ms, min_backoff: 10ms, max_backoff: 100ms }}
""")

    def test_verified_https_with_basic_auth(self):
        os.chmod(self.ws.write("htpasswd", "rwgate:{PLAIN}pw\n"), 0o644)
        vm, port = self.store(auth=f'auth_basic "s"; auth_basic_user_file {self.ws.path("htpasswd")};')
        gw = self.gateway(f"https://localhost:{port}", f"{{ ca_file: {self.ws.path('ca.pem')} }}",
                          "basic_auth: { username: rwgate, password: pw }")
        gw.write_series("a")
        vm.wait_for_job("a", 5, "series over verified https")
        # The same store by IP address: the certificate names it too.
        gw2 = self.gateway(f"https://127.0.0.1:{port}", f"{{ ca_file: {self.ws.path('ca.pem')} }}",
                           "basic_auth: { username: rwgate, password: pw }")
        gw2.write_series("b")
        vm.wait_for_job("b", 5, "series over https to an IP address")

    def test_unverifiable_certificates_deliver_nothing_unless_told_to_skip(self):
        vm, port = self.store()
        no_ca = self.gateway(f"https://localhost:{port}", "{}")
        wrong_name = self.gateway(f"https://localhost:{port}",
                                  f"{{ ca_file: {self.ws.path('ca.pem')}, server_name: store.example }}")
        for gw, job in [(no_ca, "no_ca"), (wrong_name, "wrong_name")]:
            gw.write_series(job)
        for gw in (no_ca, wrong_name):
            harness.wait_until(lambda: gw.metric('rwgate_sends_total{sink="store",status="error"}') >= 2,
                               timeout=30, what="failed handshakes counted")
        self.assertEqual(len(vm.export('{job=~"no_ca|wrong_name"}')), 0)
        skip = self.gateway(f"https://localhost:{port}", "{ insecure_skip_verify: true }")
        skip.write_series("skip")
        vm.wait_for_job("skip", 5, "series with insecure_skip_verify")

    def test_client_certificate(self):
        vm, port = self.store(extra=f"ssl_verify_client on; ssl_client_certificate {self.ws.path('ca.pem')};")
        ca = self.ws.path("ca.pem")
        without = self.gateway(f"https://localhost:{port}", f"{{ ca_file: {ca} }}")
        without.write_series("without")
        harness.wait_until(lambda: without.metric('rwgate_sends_total{sink="store",status="400"}') >= 1,
                           timeout=30, what="nginx refusing a client without a certificate")
        with_cert = self.gateway(
            f"https://localhost:{port}",
            f"{{ ca_file: {ca}, cert_file: {self.ws.path('client.pem')}, key_file: {self.ws.path('client.key')} }}")
        with_cert.write_series("with")
        vm.wait_for_job("with", 5, "series sent with a client certificate")
        self.assertEqual(len(vm.export('{job="without"}')), 0)

    def test_config_errors_name_the_tls_files(self):
        r = self.ws.rwgate("""
sinks:
  - name: s
    remote_write:
      url: https://localhost:1/api/v1/write
      tls_config: { ca_file: /nonexistent/ca.pem, min_version: TLS9 }
""", wait_ready=False)
        self.assertEqual(r.proc.proc.wait(timeout=30), 2)
        out = r.proc.output()
        self.assertIn("sinks[0].remote_write.tls_config.min_version", out)
        r = self.ws.rwgate("""
sinks:
  - name: s
    remote_write:
      url: https://localhost:1/api/v1/write
      tls_config: { ca_file: /nonexistent/ca.pem }
""", name="rwgate2", wait_ready=False)
        self.assertEqual(r.proc.proc.wait(timeout=30), 2)
        self.assertIn("/nonexistent/ca.pem", r.proc.output())

    def test_through_an_http_proxy(self):
        vm, port = self.store()
        proxy = HttpProxy(allow_connect_ports={port})
        self.addCleanup(proxy.close)
        ca = self.ws.path("ca.pem")
        # https: a CONNECT tunnel, TLS to the store inside it (the proxy sees no data).
        tunnelled = self.gateway(f"https://localhost:{port}", f"{{ ca_file: {ca} }}", f"proxy_url: {proxy.url}")
        tunnelled.write_series("tunnelled")
        vm.wait_for_job("tunnelled", 5, "series through the CONNECT tunnel")
        self.assertGreaterEqual(proxy.tunnels, 1)
        self.assertIn(("CONNECT", f"localhost:{port}"), proxy.requests)
        # Plain http: the whole URL asked of the proxy.
        plain = self.gateway(vm.url, "{}", f"proxy_url: {proxy.url}")
        plain.write_series("plain")
        vm.wait_for_job("plain", 5, "series through the proxy in absolute form")
        self.assertIn(("POST", vm.url + "/api/v1/write"), proxy.requests)
        # A proxy that refuses the tunnel: nothing delivered, the failed sends counted.
        proxy.allow_connect_ports = {1}
        refused = self.gateway(f"https://localhost:{port}", f"{{ ca_file: {ca} }}", f"proxy_url: {proxy.url}")
        refused.write_series("refused")
        harness.wait_until(lambda: refused.metric('rwgate_sends_total{sink="store",status="error"}') >= 2,
                           timeout=30, what="refused tunnels counted")
        self.assertEqual(len(vm.export('{job="refused"}')), 0)


if __name__ == "__main__":
    unittest.main()
