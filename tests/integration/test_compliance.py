"""The upstream remote-write compliance suite's receiver cases (prometheus/compliance,
remotewrite/receiver) that Prometheus 3 senders exercise: UTF-8 names, native histograms
(valid and not), start timestamps in their rc.3 and rc.4 forms, metadata. Each is sent over
RW 1.0 and RW 2.0 to one rwgate with an RW 1.0 sink and an RW 2.0 sink, so both directions
of the conversion are crossed; the stores decode with libprotobuf. The histograms also go
to a real Prometheus 2.42 (native histograms on) and are queried back."""
import time
import unittest

import harness

# Compliance-suite shapes: integer histograms, buckets as deltas.
# (labels, {field: value}, positive spans, positive deltas, negative spans, negative deltas)
HISTOGRAMS = {
    "basic_histogram": ({"__name__": "test_histogram"},
                        dict(count_int=27, sum=1.0, schema=0, zero_count_int=1),
                        [(0, 3), (2, 2)], [1, 2, 1, 3, 1], [(0, 2)], [1, 1]),
    "custom_buckets_histogram": ({"__name__": "test_histogram_custom"},
                                 dict(count_int=30, sum=1.0, schema=-53, custom_values=[0.1, 0.5, 1, 2.5, 5, 10]),
                                 [(0, 6)], [2, 1, 2, 3, -1, -2], [], []),
    "positive_only_histogram": ({"__name__": "test_histogram", "job": "test"},
                                dict(count_int=24, sum=1.0, schema=0, zero_count_int=1),
                                [(0, 3), (2, 2)], [1, 2, 1, 3, 1], [], []),
    "negative_only_histogram": ({"__name__": "test_histogram", "instance": "localhost"},
                                dict(count_int=3, sum=1.0, schema=0), [], [], [(0, 2)], [1, 1]),
    "minimal_histogram": ({"__name__": "minimal_hist"}, dict(count_int=1, sum=1.0, schema=0, zero_count_int=1),
                          [], [], [], []),
    "empty_histogram": ({"__name__": "empty_hist"}, dict(count_int=0, sum=0.0, schema=0), [], [], [], []),
}
BAD_COUNT = ({"__name__": "minimal_hist"}, dict(count_int=99, sum=1.0, schema=0), [(0, 3), (2, 2)], [1, 2, 1, 3, 1],
             [], [])

# UTF-8 names and values the suite sends (dots, spaces, newlines, emoji), in unsorted order.
UTF8_SERIES = [
    {"instance.name": "localhost:9090", "job.name": "test", "__name__": "resource.cpu.usage"},
    {"job name": "test", "__name__": "resource cpu usage", "instance name": "localhost:9090"},
    {"job": "test\njob\n", "__name__": "up"},
    {"region": "\U0001F30D", "__name__": "test_metric", "environment": "test\U0001F680"},
]


def fill_histogram(h, fields, pos_spans, pos, neg_spans, neg, t):
    for k, v in fields.items():
        if k == "custom_values":
            h.custom_values.extend(v)
        else:
            setattr(h, k, v)
    for spans, field in ((pos_spans, h.positive_spans), (neg_spans, h.negative_spans)):
        for offset, length in spans:
            sp = field.add()
            sp.offset, sp.length = offset, length
    h.positive_deltas.extend(pos)
    h.negative_deltas.extend(neg)
    h.timestamp = t


class Request:
    """One request's content, written as RW 1.0 or RW 2.0; labels keep the given order."""

    def __init__(self, protocol):
        self.protocol = protocol
        self.pb = harness.pb1.WriteRequest() if protocol == "v1" else harness.pb2.Request()
        self.index = {}
        if protocol == "v2":
            self.ref("")

    def ref(self, s):
        if s not in self.index:
            self.index[s] = len(self.pb.symbols)
            self.pb.symbols.append(s)
        return self.index[s]

    def series(self, labels):
        ts = self.pb.timeseries.add()
        for k, v in labels.items():
            if self.protocol == "v1":
                lab = ts.labels.add()
                lab.name, lab.value = k, v
            else:
                ts.labels_refs.extend([self.ref(k), self.ref(v)])
        return ts


def labels_of(req, ts):
    if isinstance(req, harness.pb1.WriteRequest):
        return [(l.name, l.value) for l in ts.labels]
    return [(req.symbols[ts.labels_refs[i]], req.symbols[ts.labels_refs[i + 1]])
            for i in range(0, len(ts.labels_refs), 2)]


class ComplianceCasesTest(unittest.TestCase):
    def setUp(self):
        self.ws = harness.Workspace()
        self.addCleanup(self.ws.close)
        self.stores = {"v1": harness.CapturingStore(self.ws), "v2": harness.CapturingStore(self.ws)}
        sinks = "".join(f"""
  - name: to_{p}
    remote_write:
      url: {self.stores[p].url}/api/v1/write
      protocol: {p}
      queue: {{ batch_send_deadline: 50ms, shards: 1 }}""" for p in ("v1", "v2"))
        self.gw = self.ws.rwgate("sinks:" + sinks)

    def received(self, protocol):
        """The next request the store behind the `protocol` sink got, decoded."""
        ctype, _, raw = self.stores[protocol].next()
        return (harness.pb1.WriteRequest if protocol == "v1" else harness.pb2.Request).FromString(raw)

    def write(self, req, samples=0, histograms=0, exemplars=0):
        status, headers, body = self.gw.write(req.pb, protocol=req.protocol)
        self.assertEqual(status, 204, body)
        if req.protocol == "v2":
            self.assertEqual(headers["X-Prometheus-Remote-Write-Samples-Written"], str(samples))
            self.assertEqual(headers["X-Prometheus-Remote-Write-Histograms-Written"], str(histograms))
            self.assertEqual(headers["X-Prometheus-Remote-Write-Exemplars-Written"], str(exemplars))
        else:  # the suite's RW 1.0 case: no non-zero counts on a 1.0 answer
            self.assertNotIn("X-Prometheus-Remote-Write-Samples-Written", headers)

    def test_utf8_names_and_values_pass_through_both_protocols_sorted(self):
        now = int(time.time() * 1000)
        for protocol in ("v1", "v2"):
            req = Request(protocol)
            for labels in UTF8_SERIES:
                s = req.series(labels).samples.add()
                s.value, s.timestamp = 1.0, now
            self.write(req, samples=len(UTF8_SERIES))
            for out in ("v1", "v2"):
                got = self.received(out)
                self.assertEqual([labels_of(got, ts) for ts in got.timeseries],
                                 [sorted(labels.items()) for labels in UTF8_SERIES], (protocol, out))

    def test_compliance_histograms_cross_both_protocols_byte_for_byte(self):
        now = int(time.time() * 1000)
        for protocol in ("v1", "v2"):
            req = Request(protocol)
            sent = []
            for labels, fields, ps, pd, ns, nd in HISTOGRAMS.values():
                h = req.series(labels).histograms.add()
                fill_histogram(h, fields, ps, pd, ns, nd, now)
                sent.append(h.SerializeToString())
            self.write(req, histograms=len(HISTOGRAMS))
            for out in ("v1", "v2"):
                got = self.received(out)
                self.assertEqual([ts.histograms[0].SerializeToString() for ts in got.timeseries], sent,
                                 (protocol, out))

    def test_an_invalid_histogram_refuses_the_request_and_nothing_of_it_is_sent(self):
        now = int(time.time() * 1000)
        for protocol in ("v1", "v2"):
            req = Request(protocol)
            s = req.series({"__name__": "valid_in_the_same_request"}).samples.add()
            s.value, s.timestamp = 1.0, now
            fill_histogram(req.series(BAD_COUNT[0]).histograms.add(), *BAD_COUNT[1:], now)
            status, _, body = self.gw.write(req.pb, protocol=protocol)
            self.assertEqual(status, 400)
            self.assertEqual(body.decode().strip(),
                             "invalid histogram: series 1: 23 observations found in buckets, but the Count field "
                             "is 99: histogram's observation count should equal the number of observations found "
                             "in the buckets (in absence of NaN)")
        self.assertEqual(self.gw.metric('rwgate_rejected_requests_total{reason="histogram"}'), 2)
        # Nothing of either request went out: the next request each store sees is this one.
        marker = Request("v1")
        s = marker.series({"__name__": "after"}).samples.add()
        s.value, s.timestamp = 1.0, now
        self.write(marker, samples=1)
        for out in ("v1", "v2"):
            got = self.received(out)
            self.assertEqual([labels_of(got, ts) for ts in got.timeseries], [[("__name__", "after")]])

    def test_start_timestamps_rc3_and_rc4_in_both_forms_out_and_none_to_rw1(self):
        now = int(time.time() * 1000)
        start = now - 3600_000
        req = Request("v2")
        rc3 = req.series({"__name__": "http_requests_total", "job": "rc3"})
        rc3.created_timestamp = start
        s = rc3.samples.add()
        s.value, s.timestamp = 100.0, now
        rc4 = req.series({"__name__": "http_requests_total", "job": "rc4"})
        s = rc4.samples.add()
        s.value, s.timestamp, s.start_timestamp = 100.0, now, start
        labels, fields, ps, pd, ns, nd = HISTOGRAMS["basic_histogram"]
        hist_rc3 = req.series({**labels, "job": "rc3"})
        hist_rc3.created_timestamp = start - 1
        fill_histogram(hist_rc3.histograms.add(), fields, ps, pd, ns, nd, now)
        hist_rc4 = req.series({**labels, "job": "rc4"})
        fill_histogram(hist_rc4.histograms.add(), fields, ps, pd, ns, nd, now)
        hist_rc4.histograms[0].start_timestamp = start - 1
        # No zero sample is made up at the start: the counts are what was sent.
        self.write(req, samples=2, histograms=2)

        got = self.received("v2")
        self.assertEqual(len(got.timeseries), 4)
        for ts in got.timeseries:
            points = list(ts.samples) + list(ts.histograms)
            self.assertEqual(len(points), 1)
            want = start if ts.samples else start - 1
            self.assertEqual((points[0].start_timestamp, ts.created_timestamp), (want, want), labels_of(got, ts))
        got1 = self.received("v1")
        self.assertEqual([len(ts.samples) + len(ts.histograms) for ts in got1.timeseries], [1, 1, 1, 1])
        self.assertEqual([s.SerializeToString() for ts in got1.timeseries for s in ts.samples],
                         [harness.pb1.Sample(value=100.0, timestamp=now).SerializeToString()] * 2)

    def test_rw1_metadata_requests_reach_rw2_series_and_rw2_series_without_points_are_refused(self):
        now = int(time.time() * 1000)
        md_only = Request("v1")
        md = md_only.pb.metadata.add()
        md.type = harness.pb1.MetricMetadata.COUNTER
        md.metric_family_name, md.help, md.unit = "orders", "Orders placed.", "count"
        self.write(md_only)
        self.assertEqual(list(self.received("v1").metadata), [md])  # RW 1.0 keeps its form
        series = Request("v1")
        s = series.series({"__name__": "orders_total", "shop": "a"}).samples.add()
        s.value, s.timestamp = 5.0, now
        self.write(series, samples=1)
        got = self.received("v2")
        meta = got.timeseries[0].metadata
        self.assertEqual((meta.type, got.symbols[meta.help_ref], got.symbols[meta.unit_ref]),
                         (harness.pb2.Metadata.METRIC_TYPE_COUNTER, "Orders placed.", "count"))
        self.received("v1")

        # The suite's metadata_without_data and exemplars_without_data: Prometheus 3 answers
        # 400, and a 2.0 store given one would refuse the request it came in.
        for case in ("metadata", "exemplar"):
            req = Request("v2")
            ts = req.series({"__name__": "orphan_metric"})
            if case == "metadata":
                ts.metadata.type = harness.pb2.Metadata.METRIC_TYPE_COUNTER
            else:
                e = ts.exemplars.add()
                e.labels_refs.extend([req.ref("trace_id"), req.ref("orphan_trace")])
                e.value, e.timestamp = 42.0, now
            status, _, body = self.gw.write(req.pb, protocol="v2")
            self.assertEqual((status, body.decode().strip()),
                             (400, "series 0: TimeSeries must contain at least one sample or histogram"), case)
        self.assertEqual(self.gw.metric('rwgate_rejected_requests_total{reason="empty_series"}'), 2)


class HistogramsIntoPrometheusTest(unittest.TestCase):
    """The exponential compliance histograms, sent over RW 2.0, reach a real Prometheus over
    RW 1.0 and read back with their counts; the invalid one never reaches it."""

    def test_histograms_read_back_from_prometheus(self):
        ws = harness.Workspace()
        self.addCleanup(ws.close)
        store = ws.prometheus_store(features=("native-histograms",))
        gw = ws.rwgate(f"""
sinks:
  - name: prometheus
    remote_write:
      url: {store.url}/api/v1/write
      queue: {{ batch_send_deadline: 50ms }}
""")
        now = int(time.time() * 1000)
        req = Request("v2")
        want = {}
        for name in ("basic_histogram", "positive_only_histogram", "negative_only_histogram", "minimal_histogram"):
            labels, fields, ps, pd, ns, nd = HISTOGRAMS[name]
            labels = {**labels, "case": name}
            h = req.series(labels).histograms.add()
            fill_histogram(h, fields, ps, pd, ns, nd, now)
            h.start_timestamp = now - 60_000  # rc.4's field 17: unknown to 2.42, which skips it
            want[name] = str(fields["count_int"])
        status, _, body = gw.write(req.pb, protocol="v2")
        self.assertEqual(status, 204, body)
        bad = Request("v2")
        fill_histogram(bad.series({**BAD_COUNT[0], "case": "bad_count"}).histograms.add(), *BAD_COUNT[1:], now)
        self.assertEqual(gw.write(bad.pb, protocol="v2")[0], 400)

        def counts():
            return {m["case"]: v for m, v in store.query("histogram_count({case!=\"\"})")}
        harness.wait_until(lambda: counts() == want, what=f"histogram counts {want} in Prometheus")


if __name__ == "__main__":
    unittest.main()
