"""TLS on rwgate's listener, from the tls_server_config of --web.config.file (Prometheus's
web config format, relative paths as in exporter-toolkit). A real Prometheus 2.42 agent
writes over https with basic_auth, and in a second case with a client certificate; rwgate
forwards over https with basic auth to VictoriaMetrics behind a real nginx that terminates
TLS and checks the password, and that store holds exactly what a direct path holds. Bad
input gets a clear answer or a closed connection and a counter: plain HTTP on the TLS
port, garbage instead of a ClientHello, no client certificate, one from another CA, a
header sent a byte a second, a client that never starts the handshake. Certificates
rotate without a restart."""
import os
import socket
import ssl
import time
import unittest

import bcrypt

import harness

NGINX_SERVER = """
  server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {dir}/server.pem;
    ssl_certificate_key {dir}/server.key;
    location / {{
      auth_basic "store";
      auth_basic_user_file {dir}/htpasswd;
      proxy_pass {vm};
    }}
  }}
"""


class IngestTlsTest(unittest.TestCase):
    def setUp(self):
        self.ws = harness.Workspace()
        self.addCleanup(self.ws.close)
        harness.make_pki(self.ws.dir)
        os.makedirs(self.ws.path("other"))
        harness.make_pki(self.ws.path("other"))  # another CA, and a client certificate of it

    def context(self, cert=None):
        ctx = ssl.create_default_context(cafile=self.ws.path("ca.pem"))
        if cert:
            ctx.load_cert_chain(*cert)
        return ctx

    def client_cert(self, d=""):
        return (os.path.join(self.ws.path(d), "client.pem"), os.path.join(self.ws.path(d), "client.key"))

    def gateway(self, web, sink_url, sink_extra="", tls=None, auth=None):
        path = self.ws.write("web.yml", web)
        return self.ws.rwgate(f"""
sinks:
  - name: store
    remote_write:
      url: {sink_url}/api/v1/write
      {sink_extra}
      queue: {{ batch_send_deadline: 200ms, min_backoff: 10ms, max_backoff: 200ms }}
""", args=[f"--web.config.file={path}"], tls=tls or self.context(self.client_cert()), auth=auth)

    def test_prometheus_over_https_with_basic_auth_to_a_tls_store_holds_what_a_direct_path_holds(self):
        vm_a = self.ws.victoria_metrics("vm-a")
        vm_b = self.ws.victoria_metrics("vm-b")
        os.chmod(self.ws.write("htpasswd", "rwgate:{PLAIN}store-pw\n"), 0o644)
        nginx_port = harness.free_port()
        self.ws.nginx(NGINX_SERVER.format(dir=self.ws.dir, port=nginx_port, vm=vm_b.url))
        hashed = bcrypt.hashpw(b"agent-pw", bcrypt.gensalt(4)).decode()
        gw = self.gateway(f"""
tls_server_config: {{ cert_file: server.pem, key_file: server.key }}
basic_auth_users: {{ agent: '{hashed}' }}
""", f"https://localhost:{nginx_port}",
            f"tls_config: {{ ca_file: {self.ws.path('ca.pem')} }}\n      basic_auth: {{ username: rwgate, password: store-pw }}",
            tls=self.context(), auth=("agent", "agent-pw"))
        target = self.ws.node_exporter()
        agent = self.ws.node_agent(target, f"""
  - url: {vm_a.url}/api/v1/write
    queue_config: {{ batch_send_deadline: 1s }}
  - url: {gw.url}/api/v1/write
    tls_config: {{ ca_file: {self.ws.path('ca.pem')} }}
    basic_auth: {{ username: agent, password: agent-pw }}
    queue_config: {{ batch_send_deadline: 1s }}
""")
        harness.wait_until(lambda: gw.metric('rwgate_forwarded_samples_total{sink="store"}') > 0, timeout=60,
                           what="samples through https in and out")
        time.sleep(4)
        self.assertEqual(agent.stop(), 0, agent.output())
        harness.wait_until(lambda: gw.metric('rwgate_queue_bytes{sink="store"}') == 0, what="rwgate queue drained")
        a, b = vm_a.export(), vm_b.export()
        self.assertGreater(len(a), 50)
        self.assertEqual(set(a), set(b), "same label sets in both stores")
        for series, samples in a.items():
            self.assertEqual(sorted(samples), sorted(b[series]), dict(series))
        self.assertEqual(gw.metric('rwgate_http_auth_failures_total{reason="missing"}'), 0)

    def test_client_certificates_and_bad_clients(self):
        vm = self.ws.victoria_metrics()
        gw = self.gateway("""
tls_server_config:
  cert_file: server.pem
  key_file: server.key
  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: ca.pem
""", vm.url)
        # A real Prometheus agent with its client certificate.
        target = self.ws.node_exporter()
        cert, key = self.client_cert()
        self.ws.node_agent(target, f"""
  - url: {gw.url}/api/v1/write
    tls_config: {{ ca_file: {self.ws.path('ca.pem')}, cert_file: {cert}, key_file: {key} }}
    queue_config: {{ batch_send_deadline: 1s }}
""")
        harness.wait_until(lambda: len(vm.export('{job="node"}')) > 20, timeout=60,
                           what="the agent's series through a client-certificate listener")

        def failures(reason):
            return gw.metric(f'rwgate_http_tls_handshake_failures_total{{reason="{reason}"}}')

        port = int(gw.url.rsplit(":", 1)[1])
        # No client certificate; one from another CA.
        for ctx, reason in [(self.context(), "no_client_certificate"),
                            (self.context(self.client_cert("other")), "bad_client_certificate")]:
            with self.assertRaises((ssl.SSLError, ConnectionError, OSError)):
                harness.http("GET", gw.url + "/-/ready", context=ctx)
            harness.wait_until(lambda: failures(reason) >= 1, timeout=10, what=f"{reason} counted")
        # Plain HTTP on the TLS port: the one-line answer Go's servers give.
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"POST /api/v1/write HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
            answer = s.recv(4096)
        self.assertTrue(answer.startswith(b"HTTP/1.0 400 Bad Request"), answer)
        self.assertIn(b"Client sent an HTTP request to an HTTPS server", answer)
        self.assertGreaterEqual(failures("plain_http"), 1)
        # Garbage instead of a ClientHello: the connection is closed.
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(os.urandom(64) + b"\x16\x03\x01\xff\xff" + os.urandom(300))
            self.assertEqual(s.recv(4096)[:1] in (b"", b"\x15"), True)  # closed, or a TLS alert
        harness.wait_until(lambda: failures("protocol") >= 1, timeout=10, what="garbage counted")
        # A client that connects and never starts the handshake is cut off after 10 s.
        stalled = socket.create_connection(("127.0.0.1", port), timeout=30)
        start = time.time()
        self.assertEqual(stalled.recv(1), b"")
        self.assertLess(time.time() - start, 20)
        stalled.close()
        self.assertGreaterEqual(failures("timeout"), 1)
        # A header sent one byte a second is cut off too, well before it could finish.
        slow = self.context(self.client_cert()).wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=30),
                                                           server_hostname="localhost")
        start = time.time()
        closed = False
        for ch in b"GET /-/ready HTTP/1.1\r\nHost: localhost\r\nX-Padding: " + b"a" * 40:
            try:
                slow.sendall(bytes([ch]))
            except (ssl.SSLError, OSError):
                closed = True
                break
            time.sleep(1)
            if time.time() - start > 25:
                break
        if not closed:
            slow.settimeout(5)
            try:
                closed = slow.recv(1) == b""
            except (ssl.SSLError, OSError):
                closed = True
        slow.close()
        self.assertTrue(closed, "a trickling header must not hold the connection")
        self.assertLess(time.time() - start, 25)
        # rwgate still serves after all of it.
        status, _, _ = harness.http("GET", gw.url + "/-/ready", context=self.context(self.client_cert()))
        self.assertEqual(status, 200)

    def test_certificates_rotate_without_a_restart(self):
        vm = self.ws.victoria_metrics()
        gw = self.gateway("tls_server_config: { cert_file: server.pem, key_file: server.key }\n", vm.url,
                          tls=self.context())
        port = int(gw.url.rsplit(":", 1)[1])

        def served_certificate():
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                with self.context().wrap_socket(s, server_hostname="localhost") as t:
                    return t.getpeercert(binary_form=True)

        before = served_certificate()
        # A new certificate from the same CA (the other directory's server pair is of
        # another CA; sign a fresh one here instead).
        harness.openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=server2", "-keyout", "new.key",
                        "-out", "new.csr", cwd=self.ws.dir)
        harness.openssl("x509", "-req", "-in", "new.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                        "-days", "2", "-extfile", "server.ext", "-out", "new.pem", cwd=self.ws.dir)
        os.replace(self.ws.path("new.key"), self.ws.path("server.key"))
        os.replace(self.ws.path("new.pem"), self.ws.path("server.pem"))
        harness.wait_until(lambda: served_certificate() != before, timeout=10, what="the new certificate served")
        self.assertIsNone(gw.proc.proc.poll())


if __name__ == "__main__":
    unittest.main()
