"""Delivery: retries until a failing store recovers, drops what a store rejects, refuses
what no queue has room for, and drains on SIGTERM."""
import threading
import time
import unittest

import harness

T0 = 1_700_000_000_000


def batches(n_requests, n_series, start=T0):
    """Distinct series and timestamps, so every sample can be counted in the store."""
    out = []
    for r in range(n_requests):
        out.append(harness.v1_request([
            ({"__name__": "rwgate_it_total", "series": str(s), "job": "it"}, [(start + r * 1000, float(r))])
            for s in range(n_series)]))
    return out


def sink_config(url, extra_queue="", buffer=""):
    return f"""
sinks:
  - name: store
    remote_write:
      url: {url}/api/v1/write
      timeout: 5s
      queue: {{ batch_send_deadline: 200ms, max_samples_per_send: 1000, min_backoff: 50ms, max_backoff: 400ms{extra_queue} }}
{buffer}"""


class DeliveryTest(unittest.TestCase):
    def setUp(self):
        self.ws = harness.Workspace()
        self.addCleanup(self.ws.close)

    def test_store_answering_500_for_a_while_loses_nothing(self):
        vm = self.ws.victoria_metrics()
        failing = {"left": 15, "seen": 0}
        lock = threading.Lock()

        def respond(handler, body):
            with lock:
                failing["seen"] += 1
                if failing["left"] > 0:
                    failing["left"] -= 1
                    return 500, {}, b"store is down\n"
            # Healthy again: pass the request to the real store unchanged.
            status, _, out = harness.http("POST", vm.url + "/api/v1/write", body, {
                "Content-Encoding": "snappy", "Content-Type": handler.headers["Content-Type"]})
            return status, {}, out

        peer = self.ws.http_peer(respond)
        gw = self.ws.rwgate(sink_config(peer))
        reqs = batches(40, 50)
        for r in reqs:
            status, _, body = gw.write(r)
            self.assertEqual(status, 204, body)
        harness.wait_until(lambda: gw.metric('rwgate_queue_bytes{sink="store"}') == 0, timeout=60,
                           what="queue drained after the store recovered")
        self.assertGreater(gw.metric('rwgate_sends_total{sink="store",status="500"}'), 0)
        self.assertGreater(gw.metric('rwgate_send_retries_total{sink="store"}'), 0)
        self.assertEqual(gw.metric('rwgate_dropped_samples_total{reason="rejected",sink="store"}'), 0)
        exported = vm.export('{__name__="rwgate_it_total"}')
        self.assertEqual(len(exported), 50)
        for series, samples in exported.items():
            timestamps = [t for t, _ in samples]
            # Every acknowledged sample, exactly once.
            self.assertEqual(sorted(timestamps), [T0 + r * 1000 for r in range(40)], dict(series))

    def test_store_answering_400_drops_and_counts(self):
        peer = self.ws.http_peer(lambda h, body: (400, {}, b"out of bounds\n"))
        gw = self.ws.rwgate(sink_config(peer))
        for r in batches(5, 20):
            self.assertEqual(gw.write(r)[0], 204)
        harness.wait_until(lambda: gw.metric('rwgate_dropped_samples_total{reason="rejected",sink="store"}') == 100,
                           what="100 samples dropped")
        self.assertGreater(gw.metric('rwgate_sends_total{sink="store",status="400"}'), 0)
        self.assertEqual(gw.metric('rwgate_send_retries_total{sink="store"}'), 0)
        self.assertIn('status=400', gw.proc.output())

    def test_429_is_retried_only_when_configured(self):
        seen = {"n": 0}

        def respond(h, body):
            seen["n"] += 1
            return (429, {"Retry-After": "0"}, b"slow down\n") if seen["n"] <= 3 else (204, {}, b"")

        gw = self.ws.rwgate(sink_config(self.ws.http_peer(respond)))
        self.assertEqual(gw.write(batches(1, 10)[0])[0], 204)
        harness.wait_until(lambda: gw.metric('rwgate_forwarded_samples_total{sink="store"}') == 10,
                           what="delivered after 429s")
        self.assertEqual(gw.metric('rwgate_sends_total{sink="store",status="429"}'), 3)

        gw2 = self.ws.rwgate(sink_config(self.ws.http_peer(lambda h, b: (429, {}, b"no\n")),
                                         extra_queue=", retry_on_http_429: false"), name="rwgate-no429")
        self.assertEqual(gw2.write(batches(1, 10)[0])[0], 204)
        harness.wait_until(lambda: gw2.metric('rwgate_dropped_samples_total{reason="rejected",sink="store"}') == 10,
                           what="429 dropped when retry_on_http_429 is false")

    def test_full_queue_answers_503_with_retry_after_and_memory_stays_bounded(self):
        # Nothing listens at the store address: every send fails, so the queue only fills.
        port = harness.free_port()  # nothing listens here
        gw = self.ws.rwgate(sink_config(f"http://127.0.0.1:{port}", buffer="""
      buffer: { max_bytes: 1048576 }"""))
        statuses = []
        big = batches(1, 5000)[0]  # ~250 KB decoded
        for _ in range(12):
            status, headers, body = gw.write(big)
            statuses.append(status)
            if status == 503:
                self.assertIn("Retry-After", headers)
                self.assertIn(b"queue is full", body)
        self.assertIn(204, statuses)
        self.assertIn(503, statuses)
        self.assertLessEqual(gw.metric('rwgate_queue_bytes{sink="store"}'), 1048576 + 400_000)
        self.assertGreater(gw.metric('rwgate_rejected_requests_total{reason="queue_full"}'), 0)

    def test_sigterm_drains_the_queue_then_exits_zero(self):
        vm = self.ws.victoria_metrics()
        # A long batch deadline: data sits in the open request until shutdown flushes it.
        gw = self.ws.rwgate(f"""
sinks:
  - name: store
    remote_write:
      url: {vm.url}/api/v1/write
      queue: {{ batch_send_deadline: 1h, max_samples_per_send: 100000 }}
""")
        for r in batches(3, 30):
            self.assertEqual(gw.write(r)[0], 204)
        time.sleep(0.3)
        self.assertEqual(len(vm.export('{__name__="rwgate_it_total"}')), 0, "nothing sent before shutdown")
        self.assertEqual(gw.proc.stop(), 0, gw.proc.output())
        exported = vm.export('{__name__="rwgate_it_total"}')
        self.assertEqual(sum(len(v) for v in exported.values()), 90)


if __name__ == "__main__":
    unittest.main()
