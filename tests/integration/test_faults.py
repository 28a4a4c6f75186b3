"""Faults rwgate rides out without losing what it acknowledged: a store slower than the
timeout, connections reset mid-body, a store answering 500 for a minute, a disk that fills
up and frees again, a buffer directory made read-only, the wall clock set an hour forward
and back, SIGHUP reloads every second under load, and a discovery source that hangs.

Each test writes with harness.AckedWriter and looks for every request rwgate answered 2xx
in a real VictoriaMetrics. The store's faults come from tests/fixtures/faulty_store.py in
front of it; the disk's from a small tmpfs and a read-only bind mount (root only: the tests
that need them say so and skip elsewhere); the clock's from Debian's libfaketime."""
import json
import math
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import unittest

import harness

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fixtures"))
from faulty_store import FaultyStore  # noqa: E402

# How long the store answers 500 in the outage test: a minute, as operators see them.
OUTAGE_SECONDS = float(os.environ.get("RWGATE_FAULT_OUTAGE_SECONDS", "60"))
FAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"


def sink(url, name="store", timeout="2s", buffer=""):
    return f"""
  - name: {name}
    remote_write:
      url: {url}/api/v1/write
      timeout: {timeout}
      queue: {{ batch_send_deadline: 100ms, shards: 2, min_backoff: 50ms, max_backoff: 500ms }}
{buffer}"""


class FaultTest(unittest.TestCase):
    def setUp(self):
        self.ws = harness.Workspace()
        self.addCleanup(self.ws.close)
        self.vm = self.ws.victoria_metrics()

    def faulty(self, mode="pass", delay=3.0):
        store = FaultyStore(self.vm.url + "/api/v1/write", mode=mode, delay=delay)
        self.addCleanup(store.close)
        return store

    def mount(self, *args):
        r = subprocess.run(["mount", *args], capture_output=True, text=True)
        if r.returncode != 0:
            self.skipTest(f"mount {' '.join(args)}: {r.stderr.strip()} (needs root)")
        # Lazily: rwgate may still hold files there; it is stopped after this cleanup.
        self.addCleanup(subprocess.run, ["umount", "-l", args[-1]], capture_output=True)

    def ride_out(self, gw, store, mode, seconds):
        """Writes while the store fails as `mode` for `seconds` and for a second after it
        works again; every acknowledged request is then looked for in the store."""
        w = harness.AckedWriter(gw)
        w.start()
        time.sleep(0.5)
        store.mode = mode
        time.sleep(seconds)
        store.mode = "pass"
        time.sleep(1)
        w.finish()
        harness.wait_acked_stored(self.vm, w, timeout=90)
        self.assertGreater(store.counts[mode], 0)
        self.assertGreater(len(w.acked), 0)
        return w

    # --- the store -------------------------------------------------------------------

    def test_a_store_slower_than_the_timeout_loses_nothing(self):
        store = self.faulty(delay=3.0)
        gw = self.ws.rwgate("sinks:" + sink(store.url, timeout="1s"))
        w = self.ride_out(gw, store, "slow", 5)
        self.assertEqual(w.refused, 0)  # the queue holds what waits meanwhile
        self.assertGreater(gw.metric_sum("rwgate_send_retries_total"), 0)

    def test_connections_reset_mid_body_lose_nothing(self):
        store = self.faulty()
        gw = self.ws.rwgate("sinks:" + sink(store.url))
        w = self.ride_out(gw, store, "reset", 3)
        self.assertEqual(w.refused, 0)
        self.assertGreater(gw.metric_sum("rwgate_send_retries_total"), 0)

    def test_a_store_answering_500_for_a_minute_loses_nothing(self):
        store = self.faulty()
        gw = self.ws.rwgate("sinks:" + sink(store.url))
        w = self.ride_out(gw, store, "error", OUTAGE_SECONDS)
        self.assertEqual(w.refused, 0)
        self.assertGreater(gw.metric_sum("rwgate_send_retries_total"), 0)

    # --- the disk --------------------------------------------------------------------

    def test_a_full_disk_answers_503_and_takes_writes_again_once_delivered(self):
        buf = self.ws.path("buffer")
        os.makedirs(buf)
        # 3 MiB: far less than one segment (64 MiB at the default max_bytes), so the space
        # comes back only if the delivered write segment itself is let go.
        self.mount("-t", "tmpfs", "-o", "size=3m", "tmpfs", buf)
        store = self.faulty("error")
        gw = self.ws.rwgate("sinks:" + sink(store.url, buffer=f"      buffer: {{ type: disk, path: {buf} }}"))
        w = harness.AckedWriter(gw)
        w.start()
        harness.wait_until(lambda: w.refusals.get(503, 0) > 0, timeout=120, what="503 once the disk is full")
        self.assertIn(b"No space left on device", w.last_refusal[1])
        harness.wait_until(lambda: gw.metric_sum("rwgate_buffer_append_errors_total") > 0,
                           timeout=10, what="the failed appends counted")
        self.assertEqual(gw.proc.proc.poll(), None)
        full_at = len(w.acked)
        store.mode = "pass"
        harness.wait_until(lambda: len(w.acked) > full_at + 200, timeout=90, what="writes taken again")
        w.finish()
        harness.wait_acked_stored(self.vm, w, timeout=90)

    def test_a_read_only_buffer_directory_answers_503_and_recovers(self):
        buf = self.ws.path("buffer")
        os.makedirs(buf)
        store = self.faulty()
        # max_bytes 16 MiB: 1 MiB segments, so a new file is soon needed.
        gw = self.ws.rwgate("sinks:" + sink(
            store.url, buffer=f"      buffer: {{ type: disk, path: {buf}, max_bytes: 16777216 }}"))
        w = harness.AckedWriter(gw)
        w.start()
        harness.wait_until(lambda: len(w.acked) > 50, timeout=30, what="writes taken")
        # A read-only bind mount over the directory: what rwgate has open keeps working, as
        # on a file system remounted read-only; every new file, rename and delete fails.
        self.mount("--bind", buf, buf)
        self.mount("-o", "remount,bind,ro", buf)
        harness.wait_until(lambda: w.refusals.get(503, 0) > 0, timeout=120, what="503 once a new segment is needed")
        self.assertIn(b"Read-only file system", w.last_refusal[1])
        subprocess.run(["umount", buf], check=True)  # writable again
        ro_at = len(w.acked)
        harness.wait_until(lambda: len(w.acked) > ro_at + 200, timeout=60, what="writes taken again")
        w.finish()
        harness.wait_acked_stored(self.vm, w)
        harness.wait_until(lambda: gw.metric_sum("rwgate_buffer_append_errors_total") > 0,
                           timeout=10, what="the failed appends counted")

    # --- time, reloads and discovery ---------------------------------------------------

    def test_the_wall_clock_set_an_hour_forward_and_back(self):
        """Markers carry the series' own time (last sample + 1 ms), not the clock's, and
        missing_after runs on the steady clock: an hour back does not keep a gone instance
        an hour longer, an hour forward does not end a listed one."""
        self.assertTrue(os.path.exists(FAKETIME), "libfaketime is missing: run scripts/install-deps")
        clock = self.ws.write("faketime", "+0\n")
        env = dict(os.environ, LD_PRELOAD=FAKETIME, FAKETIME_TIMESTAMP_FILE=clock,
                   FAKETIME_CACHE_DURATION="1", FAKETIME_DONT_FAKE_MONOTONIC="1")
        fleet = {"127.0.0.5:9100": "i-a", "127.0.0.6:9100": "i-b", "127.0.0.7:9100": "i-c"}

        def write_fleet():
            groups = [{"targets": [t], "labels": {"__meta_ec2_instance_id": i, "__meta_asg_name": "web",
                                                  "__meta_asg_lifecycle_state": "InService"}}
                      for t, i in fleet.items()]
            self.ws.write("fleet.json.tmp", json.dumps(groups))
            os.replace(self.ws.path("fleet.json.tmp"), self.ws.path("fleet.json"))
        write_fleet()
        capture = harness.CapturingStore(self.ws)
        gw = self.ws.rwgate(f"""
discovery:
  sources:
    - file: {{ files: ['{self.ws.path("fleet.json")}'], refresh_interval: 1s }}
  missing_after: 5s
coverage: {{ emit_series: false }}
sinks:{sink(self.vm.url)}{sink(capture.url, name="capture")}""", env=env)
        harness.wait_until(lambda: len(json.loads(harness.http("GET", gw.url + "/api/v1/discovery")[2])["instances"]) == 3,
                           what="the fleet in discovery")

        def write_round():
            ts = int(time.time() * 1000)
            series = [({"__name__": "up", "job": "app", "instance": t}, [(ts, 1.0)]) for t in fleet]
            status, _, body = gw.write(harness.v1_request(series))
            self.assertEqual(status, 204, body)
            return ts

        markers = {}

        def collect():
            while not capture.requests.empty():
                req = harness.pb1.WriteRequest()
                req.ParseFromString(capture.next()[2])
                for s in req.timeseries:
                    labels = {lb.name: lb.value for lb in s.labels}
                    for smp in s.samples:
                        if struct.unpack("<Q", struct.pack("<d", smp.value))[0] == harness.STALE_NAN_BITS:
                            markers.setdefault(labels.get("instance"), []).append(smp.timestamp)
            return markers

        def set_clock(offset):
            with open(clock, "w") as f:
                f.write(offset + "\n")
            time.sleep(1.5)  # libfaketime reads the file once a second

        def leaves(target, last_ts, clock_then):
            """`target` leaves the fleet, the clock is set within its missing_after, and its
            series still end once missing_after has passed, at their own time."""
            del fleet[target]
            write_fleet()
            set_clock(clock_then)
            harness.wait_until(lambda: target in collect(), timeout=20, what=f"markers for {target}")
            self.assertEqual(set(markers[target]), {last_ts + 1})

        write_round()
        leaves("127.0.0.5:9100", write_round(), "+1h")
        leaves("127.0.0.6:9100", write_round(), "-1h")  # two hours back from there
        time.sleep(6)  # past missing_after: the listed instance has no markers
        self.assertNotIn("127.0.0.7:9100", collect())
        got = {dict(k)["instance"]: len([x for _, x in v if x is not None and not math.isnan(x)])
               for k, v in self.vm.export('{job="app"}').items()}
        self.assertEqual(got, {"127.0.0.5:9100": 2, "127.0.0.6:9100": 3, "127.0.0.7:9100": 3})

    def test_sighup_every_second_under_load_loses_nothing(self):
        store = self.faulty()
        configs = ["sinks:" + sink(store.url) + f"""
relabel_configs:
  - {{ target_label: reload, replacement: '{name}' }}
""" for name in ("a", "b")]
        gw = self.ws.rwgate(configs[0])
        w = harness.AckedWriter(gw)
        w.start()
        time.sleep(2)
        _, fds, nthreads = gw.resources()
        reloads = 15
        for k in range(reloads):
            self.ws.write("rwgate.yml", configs[(k + 1) % 2])
            os.kill(gw.proc.proc.pid, signal.SIGHUP)
            time.sleep(1)
        w.finish()
        harness.wait_until(lambda: gw.metric('rwgate_config_reloads_total{result="success"}') == reloads,
                           timeout=10, what=f"{reloads} reloads")
        self.assertEqual(gw.metric("rwgate_config_last_reload_successful"), 1)
        self.assertEqual(w.refused, 0)
        harness.wait_acked_stored(self.vm, w)
        # Each reload swaps what it must and leaks nothing: the same descriptors and threads.
        _, fds_after, threads_after = gw.resources()
        self.assertLessEqual(fds_after, fds + 4)
        self.assertLessEqual(threads_after, nthreads)
        self.assertEqual(set(dict(k).get("reload") for k in self.vm.export('{job="buffered"}')), {"a", "b"})

    def test_a_discovery_source_that_hangs_holds_up_nothing_else(self):
        # Accepts connections and never answers a byte.
        hang = socket.socket()
        hang.bind(("127.0.0.1", 0))
        hang.listen(16)
        held = []
        threading.Thread(target=lambda: [held.append(hang.accept()) for _ in iter(int, 1)], daemon=True).start()
        self.addCleanup(hang.close)
        self.ws.write("fleet.json", json.dumps([{"targets": ["host-0:9100"], "labels": {
            "__meta_ec2_instance_id": "i-0", "__meta_asg_name": "web"}}]))
        gw = self.ws.rwgate(f"""
discovery:
  sources:
    - http: {{ url: 'http://127.0.0.1:{hang.getsockname()[1]}/sd', refresh_interval: 2s }}
    - file: {{ files: ['{self.ws.path("fleet.json")}'], refresh_interval: 1s }}
coverage: {{ emit_series: false }}
sinks:{sink(self.vm.url)}""")
        harness.wait_until(lambda: json.loads(harness.http("GET", gw.url + "/api/v1/discovery")[2])["instances"],
                           what="the file's instance in discovery while the http source hangs")
        w = harness.AckedWriter(gw)
        w.start()
        time.sleep(3)
        w.finish()
        self.assertEqual(w.refused, 0)
        harness.wait_acked_stored(self.vm, w)
        enriched = [dict(k) for k in self.vm.export('{job="buffered", instance="host-0:9100"}')]
        self.assertTrue(enriched and all(m.get("asg") == "web" for m in enriched), enriched)
        harness.wait_until(lambda: gw.metric_sum("rwgate_discovery_refresh_errors_total") > 0,
                           timeout=40, what="the hanging source's refresh counted as failed")
        self.assertTrue(held)
        # Shutting down does not wait for the hanging request.
        gw.proc.proc.send_signal(signal.SIGTERM)
        self.assertEqual(gw.proc.proc.wait(timeout=20), 0)


if __name__ == "__main__":
    unittest.main()
