"""POST /api/v1/write as senders see it: status codes, reasons, counters, and what reaches
the store, checked with libprotobuf's Python classes as an independent decoder."""
import math
import struct
import unittest

import snappy

import harness

T0 = 1_700_000_000_000
STALE = struct.unpack("<d", struct.pack("<Q", harness.STALE_NAN_BITS))[0]


def bits(x):
    return struct.unpack("<Q", struct.pack("<d", x))[0]


def config(url, protocol="v1", max_request_bytes=None):
    server = f"server: {{ max_request_bytes: {max_request_bytes}, max_decoded_bytes: 1048576 }}" \
        if max_request_bytes else "server: { max_decoded_bytes: 1048576 }"
    return f"""
{server}
sinks:
  - name: out
    remote_write:
      url: {url}/api/v1/write
      protocol: {protocol}
      queue: {{ batch_send_deadline: 100ms, shards: 1 }}
"""


def rich_v1():
    req = harness.v1_request([
        ({"__name__": "up", "job": "node", "instance": "10.0.0.1:9100"}, [(T0, 1.0), (T0 + 1000, STALE)]),
    ])
    ts = req.timeseries.add()
    for k, v in [("__name__", "latency_seconds"), ("job", "api")]:
        lab = ts.labels.add()
        lab.name, lab.value = k, v
    h = ts.histograms.add()
    h.count_int, h.sum, h.schema, h.zero_threshold, h.zero_count_int = 8, 3.5, 3, 1e-128, 2
    span = h.positive_spans.add()
    span.offset, span.length = -2, 3
    h.positive_deltas.extend([1, 2, -1])
    h.timestamp = T0
    ex = ts.exemplars.add()
    lab = ex.labels.add()
    lab.name, lab.value = "trace_id", "abc123"
    ex.value, ex.timestamp = 0.25, T0
    md = req.metadata.add()
    md.type = harness.pb1.MetricMetadata.HISTOGRAM
    md.metric_family_name = "latency_seconds"
    md.help = "Request latency."
    return req


class IngestTest(unittest.TestCase):
    def setUp(self):
        self.ws = harness.Workspace()
        self.addCleanup(self.ws.close)
        self.store = harness.CapturingStore(self.ws)

    def test_v1_passes_through_unchanged_including_stale_nan_histograms_exemplars_metadata(self):
        gw = self.ws.rwgate(config(self.store.url))
        sent = rich_v1()
        status, headers, body = gw.write(sent)
        self.assertEqual(status, 204, body)
        self.assertNotIn("X-Prometheus-Remote-Write-Samples-Written", headers)
        ctype, version, raw = self.store.next()
        self.assertEqual(ctype, "application/x-protobuf")
        self.assertEqual(version, "0.1.0")
        got = harness.pb1.WriteRequest.FromString(raw)
        by_name = {dict((l.name, l.value) for l in ts.labels)["__name__"]: ts for ts in got.timeseries}
        up = by_name["up"]
        self.assertEqual([bits(s.value) for s in up.samples], [bits(1.0), harness.STALE_NAN_BITS])
        self.assertEqual(by_name["latency_seconds"].histograms[0], sent.timeseries[1].histograms[0])
        self.assertEqual(by_name["latency_seconds"].exemplars[0], sent.timeseries[1].exemplars[0])
        self.assertEqual(list(got.metadata), list(sent.metadata))

    def test_v1_in_v2_out_and_v2_in_v1_out(self):
        gw = self.ws.rwgate(config(self.store.url, protocol="v2"))
        sent = rich_v1()
        self.assertEqual(gw.write(sent)[0], 204)
        ctype, version, raw = self.store.next()
        self.assertEqual(ctype, "application/x-protobuf;proto=io.prometheus.write.v2.Request")
        self.assertEqual(version, "2.0.0")
        got = harness.pb2.Request.FromString(raw)
        self.assertEqual(got.symbols[0], "")
        series = {}
        for ts in got.timeseries:
            labels = {got.symbols[ts.labels_refs[i]]: got.symbols[ts.labels_refs[i + 1]]
                      for i in range(0, len(ts.labels_refs), 2)}
            series[labels["__name__"]] = (labels, ts)
        labels, up = series["up"]
        self.assertEqual(labels, {"__name__": "up", "job": "node", "instance": "10.0.0.1:9100"})
        self.assertEqual([bits(s.value) for s in up.samples], [bits(1.0), harness.STALE_NAN_BITS])
        _, lat = series["latency_seconds"]
        self.assertEqual(lat.histograms[0].SerializeToString(), sent.timeseries[1].histograms[0].SerializeToString())
        self.assertEqual(lat.metadata.type, harness.pb2.Metadata.METRIC_TYPE_HISTOGRAM)
        self.assertEqual(got.symbols[lat.metadata.help_ref], "Request latency.")

        # And back: RW 2.0 in, RW 1.0 out.
        store1 = harness.CapturingStore(self.ws)
        gw1 = self.ws.rwgate(config(store1.url, protocol="v1"), name="rwgate-v1")
        status, headers, _ = gw1.write(got, protocol="v2")
        self.assertEqual(status, 204)
        self.assertEqual(headers["X-Prometheus-Remote-Write-Samples-Written"], "2")
        self.assertEqual(headers["X-Prometheus-Remote-Write-Histograms-Written"], "1")
        self.assertEqual(headers["X-Prometheus-Remote-Write-Exemplars-Written"], "1")
        _, _, raw1 = store1.next()
        back = harness.pb1.WriteRequest.FromString(raw1)
        names = sorted(dict((l.name, l.value) for l in ts.labels)["__name__"] for ts in back.timeseries)
        self.assertEqual(names, ["latency_seconds", "up"])
        self.assertEqual({m.metric_family_name: m.help for m in back.metadata}["latency_seconds"], "Request latency.")

    def test_refusals_have_status_reason_and_counter(self):
        gw = self.ws.rwgate(config(self.store.url, max_request_bytes=65536))
        good = snappy.compress(harness.v1_request([({"__name__": "up"}, [(T0, 1.0)])]).SerializeToString())
        ct = {"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy"}

        def post(body, headers=ct, method="POST"):
            return harness.http(method, gw.url + "/api/v1/write", body, headers)

        cases = [
            ("GET", None, ct, 405, b"use POST", "method"),
            ("POST", good, {**ct, "Content-Encoding": "gzip"}, 415, b"Content-Encoding", "content_encoding"),
            ("POST", good, {**ct, "Content-Type": "application/json"}, 415, b"Content-Type", "content_type"),
            ("POST", good, {**ct, "Content-Type": "application/x-protobuf;proto=foo.Bar"}, 415, b"proto=", "content_type"),
            ("POST", b"\xff\xff\xff\xff\xff\xff", ct, 400, b"bad snappy", "snappy"),
            # A 6-byte body whose snappy header claims ~2 GiB: refused before any allocation.
            ("POST", b"\x80\x80\x80\x80\x08\x00", ct, 400, b"over the limit", "decoded_too_large"),
            ("POST", snappy.compress(b"\x0a\x05\x0a\x03"), ct, 400, b"invalid protobuf", "protobuf"),
            ("POST", snappy.compress(harness.v1_request([({"job": "x"}, [(T0, 1.0)])]).SerializeToString()), ct,
             400, b"no __name__", "labels"),
            ("POST", snappy.compress(b"\x22\x00\x2a\x04\x0a\x02\x01\x07"),
             {**ct, "Content-Type": "application/x-protobuf;proto=io.prometheus.write.v2.Request"},
             400, b"out of range", "symbols"),
            ("POST", b"x" * 70000, ct, 413, b"over the limit", "body_too_large"),
        ]
        for method, body, headers, want_status, want_text, reason in cases:
            with self.subTest(reason=reason, status=want_status):
                before = gw.metric(f'rwgate_rejected_requests_total{{reason="{reason}"}}')
                status, _, text = post(body, headers, method)
                self.assertEqual(status, want_status, text)
                self.assertIn(want_text, text)
                self.assertEqual(text.count(b"\n"), 1, "one line")
                self.assertEqual(gw.metric(f'rwgate_rejected_requests_total{{reason="{reason}"}}'), before + 1)
        # Still healthy, still serving.
        self.assertEqual(post(good)[0], 204)
        self.assertEqual(gw.proc.proc.poll(), None)

    def test_health_readiness_and_unknown_paths(self):
        gw = self.ws.rwgate(config(self.store.url))
        self.assertEqual(harness.http("GET", gw.url + "/-/healthy")[0], 200)
        self.assertEqual(harness.http("GET", gw.url + "/-/ready")[0], 200)
        self.assertEqual(harness.http("GET", gw.url + "/nope")[0], 404)
        status, headers, body = harness.http("GET", gw.url + "/metrics")
        self.assertEqual(status, 200)
        self.assertIn(b"rwgate_ingest_request_duration_seconds_bucket", body)

    def test_no_sink_configured_answers_503(self):
        gw = self.ws.rwgate(None)
        status, headers, body = gw.write(harness.v1_request([({"__name__": "up"}, [(T0, 1.0)])]))
        self.assertEqual(status, 503)
        self.assertIn(b"no sink", body)


if __name__ == "__main__":
    unittest.main()
