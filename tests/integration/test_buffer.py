"""Nothing lost: the disk buffer through store outages, kill -9 and restarts, corrupted
segment files, and a dead sink next to a live one. Real VictoriaMetrics as the store; every
sample the writer got a 2xx for is counted and looked for."""
import os
import signal
import sys
import struct
import threading
import time
import unittest
from http.server import BaseHTTPRequestHandler

import harness

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fixtures"))
import forward  # noqa: E402

SERIES = 20  # per request
DRAIN_SHARDS, DRAIN_REQUEST = 4, 500  # the backlog test's shards and max_samples_per_send


class UnevenStore:
    """VictoriaMetrics behind a stand-in with one slow ingester: one request in `every` is
    held `hold` seconds before it is passed on, so rwgate's shards finish out of order (the
    others deliver past the held one). `down`: answer 503 to everything (an outage)."""

    def __init__(self, backend, every=5, hold=1.0):
        self.down = False
        self.count = 0
        lock = threading.Lock()
        store = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = forward.read_body(self)
                with lock:
                    store.count += 1
                    slow = store.count % every == 0
                if store.down:
                    return forward.reply(self, 503, "down for the test\n")
                if slow:
                    time.sleep(hold)
                status, out, headers = forward.forward(backend, body, self.headers)
                forward.reply(self, status, out, headers=headers)

            def log_message(self, *args):
                pass

        self.server, _, _ = forward.start_server(Handler)
        self.server.handle_error = lambda *args: None  # rwgate killed mid-answer: expected
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self):
        forward.stop_server(self.server)


def segment_records(path):
    """(offset, size) of each record of a segment file, parsed the way rwgate writes them."""
    with open(path, "rb") as f:
        data = f.read()
    at, out = 16, []
    while at + 28 <= len(data):
        magic, length = struct.unpack_from("<II", data, at)
        if magic != 0x52475752:
            break
        out.append((at, 28 + length))
        at += 28 + length
    return out


class DiskBufferTest(unittest.TestCase):
    def setUp(self):
        self.ws = harness.Workspace()
        self.addCleanup(self.ws.close)
        self.buffer = self.ws.path("buffer")

    def vm_at(self, port, name="vm"):
        p = self.ws.start(name, ["victoria-metrics", f"-storageDataPath={self.ws.path('vm-data')}",
                                 f"-httpListenAddr=127.0.0.1:{port}", "-loggerLevel=ERROR",
                                 "-retentionPeriod=100y", "-search.latencyOffset=0s"])
        url = f"http://127.0.0.1:{port}"
        harness.wait_until(lambda: harness.http("GET", url + "/health")[0] == 200, what=name)
        return harness.VictoriaMetrics(url, p)

    def config(self, store_url, fsync="batch", extra_sinks=""):
        return f"""
sinks:
  - name: store
    remote_write:
      url: {store_url}/api/v1/write
      queue: {{ batch_send_deadline: 100ms, shards: 2, min_backoff: 50ms, max_backoff: 500ms }}
      buffer: {{ type: disk, path: {self.buffer}, fsync: {fsync} }}
{extra_sinks}"""

    def wait_stored(self, vm, timestamps, timeout=60):
        """Until the store holds a sample of every series at each of `timestamps` (or more)."""
        want = set(timestamps)
        harness.wait_until(lambda: want <= {t for t, n in harness.stored(vm).items() if n >= SERIES},
                           timeout=timeout, interval=0.5, what=f"{len(want)} requests' samples stored")
        time.sleep(1)  # and nothing more comes: duplicates would show now

    def test_store_outage_loses_nothing_and_duplicates_nothing(self):
        port = harness.free_port()
        vm = self.vm_at(port)
        gw = self.ws.rwgate(self.config(vm.url))
        w = harness.AckedWriter(gw)
        w.start()
        time.sleep(1)
        around_stop = w.ts  # requests from here on may be in flight when the store stops
        time.sleep(1)
        vm.proc.stop()  # the store goes away under load
        after_stop = w.ts
        time.sleep(4)
        during = len(w.acked)
        vm = self.vm_at(port, name="vm-again")
        time.sleep(2)
        w.finish()
        self.assertEqual(w.refused, 0)  # the buffer took everything while the store was down
        self.wait_stored(vm, w.acked)
        harness.wait_until(lambda: gw.metric('rwgate_buffer_undelivered_records{sink="store"}') == 0,
                           timeout=10, what="the buffer empty")
        got = harness.stored(vm)
        self.assertGreater(len(w.acked), during)
        self.assertEqual(set(got), set(w.acked))  # nothing lost
        self.assertEqual(min(got.values()), SERIES)
        # A request the store took but could not answer as it shut down is sent again, as
        # any remote_write sender would: only those may be stored twice, nothing else.
        twice = sorted(t for t, n in got.items() if n > SERIES)
        print(f"\n{len(w.acked)} requests acknowledged, all stored; {len(twice)} stored twice "
              f"(in flight when the store stopped)")
        self.assertTrue(all(around_stop <= t <= after_stop for t in twice), twice)
        self.assertTrue(all(n <= 2 * SERIES for n in got.values()))
        self.assertGreater(gw.metric('rwgate_send_retries_total{sink="store"}'), 0)

    def crash_and_count(self, fsync):
        vm = self.ws.victoria_metrics()
        cfg = self.config(vm.url, fsync=fsync)
        gw = self.ws.rwgate(cfg, name=f"rwgate-{fsync}")
        w = harness.AckedWriter(gw)
        w.start()
        time.sleep(3)
        gw.proc.proc.send_signal(signal.SIGKILL)
        gw.proc.proc.wait()
        acked_before_kill = len(w.acked)
        time.sleep(0.5)
        # Same address, same buffer: the writer's requests flow again once it is up.
        argv = gw.proc.proc.args
        gw.proc = self.ws.start(f"rwgate-{fsync}-again", argv)
        harness.wait_until(lambda: harness.http("GET", gw.url + "/-/ready")[0] == 200, what="restarted")
        time.sleep(1)
        w.finish()
        try:
            self.wait_stored(vm, w.acked, timeout=30)
        except AssertionError:
            pass  # counted below
        got = harness.stored(vm)
        lost = [t for t in w.acked if got.get(t, 0) < SERIES]
        replayed = gw.metric('rwgate_buffer_replayed_records_total{sink="store"}')
        print(f"\nfsync={fsync}: {len(w.acked)} requests acknowledged ({acked_before_kill} before kill -9), "
              f"{len(lost)} lost, {replayed:.0f} records replayed after the restart")
        return w, lost, gw

    def crash_while_the_backlog_drains(self, fsync):
        """A store outage under load, then kill -9 while the backlog drains through a store
        with a slow ingester: (acknowledged samples, lost, stored more than once)."""
        vm = self.ws.victoria_metrics(name=f"vm-{fsync}")
        store = UnevenStore(vm.url + "/api/v1/write")
        self.addCleanup(store.close)
        cfg = (self.config(store.url, fsync=fsync)
               .replace("shards: 2", f"shards: {DRAIN_SHARDS}, max_samples_per_send: {DRAIN_REQUEST}")
               .replace(self.buffer, f"{self.buffer}-{fsync}"))
        gw = self.ws.rwgate(cfg, name=f"rwgate-drain-{fsync}")
        w = harness.AckedWriter(gw, job=f"drain-{fsync}")
        w.start()
        time.sleep(1)
        store.down = True
        time.sleep(4)  # the backlog builds up on disk
        store.down = False
        time.sleep(1.5)  # draining, shards out of order around the held requests
        gw.proc.proc.send_signal(signal.SIGKILL)
        gw.proc.proc.wait()
        gw.proc = self.ws.start(f"rwgate-drain-{fsync}-again", gw.proc.proc.args)
        harness.wait_until(lambda: harness.http("GET", gw.url + "/-/ready")[0] == 200, what="restarted")
        time.sleep(1)
        w.finish()
        want = set(w.acked)
        harness.wait_until(lambda: want <= {t for t, n in harness.stored(vm, w.job).items() if n >= SERIES},
                           timeout=60, interval=0.5, what="every acknowledged sample stored")
        harness.wait_until(lambda: gw.metric('rwgate_buffer_undelivered_records{sink="store"}') == 0,
                           timeout=30, what="the buffer empty")
        time.sleep(1)
        got = harness.stored(vm, w.job)
        acked = len(w.acked) * SERIES
        lost = sum(SERIES - min(SERIES, got.get(t, 0)) for t in w.acked)
        twice = sum(max(0, n - SERIES) for n in got.values())
        gw.proc.stop()
        print(f"\nfsync={fsync}: {acked} samples acknowledged, {lost} lost, {twice} stored more than once "
              f"({100 * twice / max(1, acked):.2f}%)")
        return acked, lost, twice

    def test_kill_9_while_a_backlog_drains_sends_again_only_what_was_in_flight(self):
        # Shards deliver out of order. Every delivery is written down at once (`done`), so a
        # restart sends again only the requests in flight at the kill (which any sender
        # must: the store may have taken them), not everything delivered after the oldest
        # undelivered record (36-66% of the samples here before).
        for fsync in ("always", "batch", "never"):
            with self.subTest(fsync=fsync):
                acked, lost, twice = self.crash_while_the_backlog_drains(fsync)
                self.assertGreater(acked, 0)
                self.assertEqual(lost, 0)
                self.assertLessEqual(twice, DRAIN_SHARDS * DRAIN_REQUEST)

    def test_kill_9_with_fsync_always_loses_no_acknowledged_sample(self):
        w, lost, gw = self.crash_and_count("always")
        self.assertEqual(lost, [])
        self.assertGreater(len(w.acked), 0)
        self.assertGreater(gw.metric('rwgate_buffer_fsyncs_total{sink="store"}'), 0)

    def test_kill_9_with_fsync_batch_reports_what_was_lost(self):
        # A process crash leaves written data in the page cache: batch loses nothing to
        # kill -9 either (it may lose the last ~5 ms to power loss, which a test cannot do).
        w, lost, _ = self.crash_and_count("batch")
        self.assertEqual(lost, [])

    def test_corrupt_segments_start_deliver_the_intact_records_and_count_the_rest(self):
        port = harness.free_port()
        gw = self.ws.rwgate(self.config(f"http://127.0.0.1:{port}").replace("shards: 2", "shards: 1"))
        w = harness.AckedWriter(gw)
        for _ in range(30):
            self.assertEqual(w.send_one(), 204)  # buffered: the store is not there
        gw.proc.stop()
        segs = sorted(f for f in os.listdir(self.buffer) if f.endswith(".seg"))
        records = [(s, off, size) for s in segs for off, size in segment_records(os.path.join(self.buffer, s))]
        self.assertEqual(len(records), 30)
        # A flipped byte in the body of record 10, and the last record cut in half.
        seg, off, size = records[10]
        with open(os.path.join(self.buffer, seg), "r+b") as f:
            f.seek(off + 28 + size // 3)
            b = f.read(1)
            f.seek(off + 28 + size // 3)
            f.write(bytes([b[0] ^ 0x40]))
        seg, off, size = records[-1]
        os.truncate(os.path.join(self.buffer, seg), off + size // 2)

        vm = self.vm_at(port)
        gw = self.ws.rwgate(self.config(vm.url).replace("shards: 2", "shards: 1"), name="rwgate-again")
        damaged = {w.acked[10], w.acked[-1]}
        self.wait_stored(vm, set(w.acked) - damaged)
        got = harness.stored(vm)
        self.assertEqual(set(got), set(w.acked) - damaged)
        self.assertEqual(gw.metric('rwgate_buffer_corrupt_records_total{sink="store"}'), 1)
        self.assertGreater(gw.metric('rwgate_buffer_truncated_bytes_total{sink="store"}'), 0)
        self.assertIn("torn write", gw.proc.output())

    def test_a_dead_sink_with_a_disk_buffer_does_not_stall_a_live_one(self):
        vm = self.ws.victoria_metrics()
        dead = f"http://127.0.0.1:{harness.free_port()}"
        cfg = f"""
sinks:
  - name: live
    remote_write:
      url: {vm.url}/api/v1/write
      queue: {{ batch_send_deadline: 100ms }}
  - name: dead
    remote_write:
      url: {dead}/api/v1/write
      queue: {{ batch_send_deadline: 100ms, min_backoff: 50ms, max_backoff: 1s }}
      buffer: {{ type: disk, path: {self.buffer} }}
"""
        gw = self.ws.rwgate(cfg)
        w = harness.AckedWriter(gw)
        t0 = time.time()
        for _ in range(300):
            self.assertEqual(w.send_one(), 204)
        elapsed = time.time() - t0
        # A request's series are spread over the sink's shards, each sending on its own clock:
        # wait for every series at every timestamp, not for every timestamp.
        self.wait_stored(vm, w.acked, timeout=15)
        self.assertEqual(harness.stored(vm), {t: SERIES for t in w.acked})
        harness.wait_until(lambda: gw.metric('rwgate_buffer_undelivered_records{sink="dead"}') > 0,
                           timeout=10, what="the dead sink's records kept on disk")
        self.assertEqual(gw.metric('rwgate_ingest_requests_total{code="503"}'), 0)
        print(f"\n300 requests through a live and a dead sink in {elapsed:.2f} s")


if __name__ == "__main__":
    unittest.main()
