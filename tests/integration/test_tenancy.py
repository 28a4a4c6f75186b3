"""Tenants through real parts. Three Prometheus 2.42 agents write to rwgate with basic auth:
one's series carry a tenant label, one's user is mapped to a tenant (tenancy.senders), one's
is not and gets tenancy.default. rwgate sends them on to VictoriaMetrics with the tenant in
the URL (?extra_label=tenant={tenant}) and to a store stand-in that records each request's
X-Scope-OrgID: every request holds one tenant and every series is where its tenant says.
One tenant's store path failing does not slow the others, and loses nothing of its own.
Then the bad input (no tenant, a bad name, one tenant too many) and the limits (429 over a
rate while another tenant is not slowed, max_series keeping the old series)."""
import json
import threading
import time
import unittest

import bcrypt

import harness

PASSWORD = "pw"
JOB_TENANT = {"a": "team-a", "b": "team-b", "c": "shared"}


def hashed(password):
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()


def agent_config(target, gw, job, user, external=""):
    return f"""
global: {{ scrape_interval: 1s{external} }}
scrape_configs:
  - job_name: {job}
    static_configs: [{{ targets: ['{target}'] }}]
remote_write:
  - url: {gw.url}/api/v1/write
    basic_auth: {{ username: {user}, password: {PASSWORD} }}
    queue_config: {{ batch_send_deadline: 500ms, min_backoff: 100ms, max_backoff: 500ms }}
"""


class TenantRecorder:
    """A store stand-in that keeps, per request, its X-Scope-OrgID and the (job, team label,
    newest timestamp) of its series; it answers 503 to the tenants in `failing`."""

    def __init__(self, ws):
        self.lock = threading.Lock()
        self.requests = []  # (arrival time, tenant, [(job, team, max ts ms, samples)])
        self.failing = set()

        def respond(handler, body):
            tenant = handler.headers.get("X-Scope-OrgID", "")
            if tenant in self.failing:
                return 503, {}, b"down for this tenant"
            req = harness.pb1.WriteRequest.FromString(harness.snappy.uncompress(body))
            series = []
            for ts in req.timeseries:
                labels = {l.name: l.value for l in ts.labels}
                series.append((labels.get("job"), labels.get("team"),
                               max((s.timestamp for s in ts.samples), default=0), len(ts.samples)))
            with self.lock:
                self.requests.append((time.time(), tenant, series))
            return 204, {}, b""

        self.url = ws.http_peer(respond)

    def snapshot(self):
        with self.lock:
            return list(self.requests)

    def samples_between(self, tenant, t0, t1):
        return sum(n for at, t, series in self.snapshot() if t == tenant and t0 <= at < t1
                   for _, _, _, n in series)


class TenancyTest(unittest.TestCase):
    def setUp(self):
        self.ws = harness.Workspace()
        self.addCleanup(self.ws.close)

    def test_three_tenants_one_per_request_and_a_failing_tenant_holds_up_no_other(self):
        vm = self.ws.victoria_metrics()
        peer = TenantRecorder(self.ws)
        users = {u: hashed(PASSWORD) for u in ("agent-a", "agent-b", "agent-c")}
        web = self.ws.write("web.yml", "basic_auth_users:\n" +
                            "".join(f"  {u}: '{h}'\n" for u, h in users.items()))
        gw = self.ws.rwgate(f"""
tenancy:
  label: team
  label_remove: true
  from_sender: true
  senders: {{ agent-b: team-b }}
  default: shared
sinks:
  - name: vm
    remote_write:
      url: '{vm.url}/api/v1/write?extra_label=tenant={{tenant}}'
      queue: {{ batch_send_deadline: 200ms }}
  - name: mimir
    remote_write:
      url: {peer.url}/api/v1/push
      tenant_header: X-Scope-OrgID
      queue: {{ batch_send_deadline: 200ms, min_backoff: 50ms, max_backoff: 200ms }}
""", args=[f"--web.config.file={web}"], auth=("agent-a", PASSWORD))
        target = self.ws.node_exporter()
        self.ws.prometheus_agent(agent_config(target, gw, "a", "agent-a",
                                              ", external_labels: { team: team-a }"), name="agent-a")
        self.ws.prometheus_agent(agent_config(target, gw, "b", "agent-b"), name="agent-b")
        self.ws.prometheus_agent(agent_config(target, gw, "c", "agent-c"), name="agent-c")
        for job in JOB_TENANT:
            harness.wait_until(lambda: len(vm.export(f'{{job="{job}"}}')) > 20, timeout=60,
                               what=f"job {job} in VictoriaMetrics")

        # VictoriaMetrics: each series under its tenant, the tenant label taken off.
        for labels in vm.export('{job=~"a|b|c"}'):
            m = dict(labels)
            self.assertEqual(m.get("tenant"), JOB_TENANT[m["job"]], m)
            self.assertNotIn("team", m)

        # The header store: one tenant a request, and only that tenant's series in it.
        time.sleep(2)
        seen = set()
        for _, tenant, series in peer.snapshot():
            jobs = {job for job, _, _, _ in series}
            self.assertEqual({JOB_TENANT[j] for j in jobs}, {tenant}, jobs)
            self.assertTrue(all(team is None for _, team, _, _ in series))
            seen.add(tenant)
        self.assertEqual(seen, {"team-a", "team-b", "shared"})

        # team-b's store path fails for 6 s: the others keep their pace.
        t0 = time.time()
        time.sleep(4)
        before = {t: peer.samples_between(t, t0, t0 + 4) for t in ("team-a", "shared")}
        peer.failing.add("team-b")
        outage = time.time()
        time.sleep(6)
        peer.failing.discard("team-b")
        restored = time.time()
        during = {t: peer.samples_between(t, outage, outage + 6) for t in ("team-a", "shared")}
        for t in before:
            self.assertGreater(during[t] / 6, 0.6 * before[t] / 4, (t, before, during))
        self.assertEqual(peer.samples_between("team-b", outage + 0.5, restored), 0)
        self.assertGreater(gw.metric('rwgate_send_retries_total{sink="mimir",tenant="team-b"}'), 0)
        # What team-b sent meanwhile arrives after it is back: nothing of it was lost.
        def team_b_caught_up():
            newest = [ts for at, t, series in peer.snapshot() if t == "team-b" and at >= restored
                      for _, _, ts, _ in series]
            return newest and min(newest) / 1000 < restored
        harness.wait_until(team_b_caught_up, timeout=30, what="team-b's queued samples delivered")
        self.assertEqual(gw.metric('rwgate_dropped_samples_total{reason="rejected",sink="mimir",tenant="team-b"}'), 0)

        status, _, body = harness.http("GET", gw.url + "/api/v1/tenants", headers=gw.auth_headers)
        self.assertEqual(status, 200)
        tenants = {t["tenant"]: t for t in json.loads(body)["tenants"]}
        self.assertEqual(set(tenants), {"team-a", "team-b", "shared"})
        for t in tenants.values():
            self.assertGreater(t["samples_total"], 0)

    def test_no_tenant_a_bad_name_and_one_tenant_too_many_are_400s(self):
        store = harness.CapturingStore(self.ws)
        gw = self.ws.rwgate(f"""
tenancy: {{ label_list: [team, tenant], max_tenants: 2 }}
sinks:
  - name: out
    remote_write: {{ url: '{store.url}/api/v1/write', tenant_header: X-Scope-OrgID,
                     queue: {{ batch_send_deadline: 50ms }} }}
""")
        now = int(time.time() * 1000)

        def write(*label_sets):
            return gw.write(harness.v1_request([(dict(l, __name__="m"), [(now, 1.0)]) for l in label_sets]))

        status, _, body = write({"team": "a"}, {"job": "x"})
        self.assertEqual(status, 400)
        self.assertEqual(body.decode().strip(), 'series {__name__="m", job="x"} has no tenant: no '
                         'tenant label, no tenancy.default')
        status, _, body = write({"tenant": "a/b"})
        self.assertEqual(status, 400)
        self.assertIn("tenant name \"a/b\" has '/'", body.decode())
        self.assertEqual(write({"team": "a"}, {"tenant": "b"})[0], 204)
        status, _, body = write({"team": "c"})
        self.assertEqual(status, 400)
        self.assertIn("tenancy.max_tenants (2)", body.decode())
        self.assertEqual(gw.metric('rwgate_rejected_requests_total{reason="tenant"}'), 2)
        self.assertEqual(gw.metric('rwgate_rejected_requests_total{reason="tenant_limit"}'), 1)
        # Only the good request's series went on: none of the refused ones.
        got = []
        for _ in range(2):
            got.append(harness.pb1.WriteRequest.FromString(store.next()[2]))
        values = sorted(l.value for r in got for ts in r.timeseries for l in ts.labels if l.name != "__name__")
        self.assertEqual(values, ["a", "b"])

    def test_a_tenant_over_its_rate_gets_429_and_another_is_not_slowed(self):
        vm = self.ws.victoria_metrics()
        gw = self.ws.rwgate(f"""
tenancy: {{ label: team }}
limits:
  default: {{ ingestion_rate: 1000, ingestion_burst: 2000 }}
  tenants:
    big: {{ ingestion_rate: 1000000, ingestion_burst: 1000000, max_series: 500 }}
sinks:
  - name: vm
    remote_write: {{ url: '{vm.url}/api/v1/write', queue: {{ batch_send_deadline: 100ms }} }}
""")

        def write(team, n, first=0):
            now = int(time.time() * 1000)
            return gw.write(harness.v1_request(
                [({"__name__": "m", "team": team, "i": str(first + i)}, [(now, 1.0)]) for i in range(n)]))

        codes = {"small": [], "big": []}
        retry_after = set()
        end = time.time() + 3
        while time.time() < end:
            status, headers, _ = write("small", 500)
            codes["small"].append(status)
            if status == 429:
                retry_after.add(headers.get("Retry-After"))
            codes["big"].append(write("big", 500)[0])
            time.sleep(0.05)
        self.assertEqual(set(codes["big"]), {204})
        self.assertIn(429, codes["small"])
        self.assertIn(204, codes["small"])
        self.assertEqual(retry_after, {"1"})
        # Accepted: the burst, then about the rate (1000/s of 500-sample requests).
        accepted_small = codes["small"].count(204) * 500
        self.assertLessEqual(accepted_small, 2000 + 1000 * 4)
        self.assertGreater(gw.metric('rwgate_discarded_samples_total{reason="rate_limited",tenant="small"}'), 0)
        self.assertEqual(gw.metric('rwgate_ingest_requests_total{code="429"}'), codes["small"].count(429))

        # max_series: big has its 500 active series; 20 new ones are refused, the old flow.
        status, _, body = write("big", 520)
        self.assertEqual(status, 400)
        self.assertIn("limits.max_series (500)", body.decode())
        harness.wait_until(lambda: len(vm.export('{team="big"}')) == 500, timeout=20,
                           what="big's 500 series in VictoriaMetrics")
        time.sleep(1)
        self.assertEqual(len(vm.export('{team="big"}')), 500)
        self.assertEqual(gw.metric('rwgate_discarded_samples_total{reason="max_series",tenant="big"}'), 20)
        tenants = {t["tenant"]: t for t in json.loads(harness.http("GET", gw.url + "/api/v1/tenants")[2])["tenants"]}
        self.assertEqual(tenants["big"]["active_series"], 500)
        self.assertEqual(tenants["big"]["limits"]["max_series"], 500)
        self.assertGreater(tenants["small"]["refused_samples"]["rate_limited"], 0)


if __name__ == "__main__":
    unittest.main()
