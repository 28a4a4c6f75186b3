"""oauth2 towards a store: rwgate gets bearer tokens from an OAuth 2.0 token endpoint
(client-credentials grant, tests/fixtures/oauth2.py) and writes to an endpoint that accepts
only valid tokens and passes the data to a real VictoriaMetrics. Tokens expire during the
test and are renewed before they do; a revoked token is replaced and its request resent; a
wrong client secret delivers nothing and says why. The token endpoint is reached through
an HTTP proxy (proxy_url of the oauth2 block)."""
import os
import sys
import time
import unittest

import harness

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fixtures"))
import oauth2  # noqa: E402
from http_proxy import HttpProxy  # noqa: E402


class StoreOAuth2Test(unittest.TestCase):
    def setUp(self):
        self.ws = harness.Workspace()
        self.addCleanup(self.ws.close)
        self.vm = self.ws.victoria_metrics()
        self.tokens = oauth2.TokenServer({"rwgate": "s3cret+with/odd=chars"}, lifetime_seconds=6)
        self.addCleanup(self.tokens.close)
        self.store = oauth2.ProtectedWriteEndpoint(self.tokens, self.vm.url + "/api/v1/write")
        self.addCleanup(self.store.close)

    def gateway(self, secret, extra="", name="rwgate"):
        secret_file = self.ws.write(name + "-client-secret", secret + "\n")
        return self.ws.rwgate(f"""
sinks:
  - name: store
    remote_write:
      url: {self.store.url}
      oauth2:
        client_id: rwgate
        client_secret_file: {secret_file}
        token_url: {self.tokens.url}
        scopes: [metrics.write, tenant]
        endpoint_params: {{ audience: "https://store.example" }}
        {extra}
      queue: {{ batch_send_deadline: 100ms, min_backoff: 10ms, max_backoff: 200ms }}
""", name=name)

    def test_tokens_are_fetched_renewed_and_replaced_after_a_refusal(self):
        proxy = HttpProxy()
        self.addCleanup(proxy.close)
        gw = self.gateway("s3cret+with/odd=chars", extra=f"proxy_url: {proxy.url}")
        gw.write_series("first")
        self.vm.wait_for_job("first", 5)
        first = self.tokens.requests[0]
        self.assertEqual(first["auth"], "basic")
        self.assertEqual(first["params"]["grant_type"], "client_credentials")
        self.assertEqual(first["params"]["scope"], "metrics.write tenant")
        self.assertEqual(first["params"]["audience"], "https://store.example")
        self.assertGreaterEqual(proxy.forwarded, 1)  # the token endpoint, through the proxy
        # Tokens live 6 s; the next is fetched at 80% of that, before the old one expires.
        time.sleep(8)
        gw.write_series("later")
        self.vm.wait_for_job("later", 5)
        self.assertGreaterEqual(self.tokens.issued, 2)
        self.assertEqual(self.store.count(status=401), 0)
        # The store stops accepting every token it was given: the request is refused once,
        # a new token is fetched at once, and the request goes again.
        self.tokens.lifetime_seconds = 3600
        time.sleep(5)  # the renewal due now is done, with the long lifetime
        issued = self.tokens.issued
        self.tokens.expire()
        gw.write_series("revoked")
        self.vm.wait_for_job("revoked", 5)
        self.assertGreaterEqual(self.store.count(status=401), 1)
        self.assertEqual(self.tokens.issued, issued + 1)
        self.assertEqual(gw.metric('rwgate_dropped_samples_total{reason="rejected",sink="store"}'), 0)
        self.assertNotIn("s3cret", gw.proc.output())

    def test_a_wrong_client_secret_delivers_nothing_and_says_why(self):
        gw = self.gateway("not-the-secret")
        gw.write_series("wrong")
        harness.wait_until(lambda: "invalid_client" in gw.proc.output(), timeout=30,
                           what="the token endpoint's refusal logged")
        harness.wait_until(lambda: gw.metric('rwgate_sends_total{sink="store",status="error"}') >= 2,
                           timeout=30, what="sends without a token counted as failed")
        self.assertEqual(self.store.count(), 0)  # nothing went out without a token
        self.assertEqual(len(self.vm.export('{job="wrong"}')), 0)
        self.assertNotIn("not-the-secret", gw.proc.output())


if __name__ == "__main__":
    unittest.main()
