"""Shared pieces for rwgate's integration tests.

Every test starts real servers (rwgate, Prometheus, VictoriaMetrics, node_exporter, and
small Python HTTP peers) on 127.0.0.1 with free ports, in a temp dir, and stops them.
Requests are built with libprotobuf's Python classes generated from our .proto files and
compressed with python3-snappy: a second implementation next to rwgate's own codec.
"""
import base64
import importlib.util
import json
import os
import queue
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import snappy

BUILD_DIR = os.environ.get("RWGATE_BUILD_DIR", os.path.join(os.path.dirname(__file__), "../../build"))
RWGATE = os.path.join(BUILD_DIR, "bin", "rwgate")
GEN = os.path.join(BUILD_DIR, "proto", "gen", "python")


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# Loaded by path: the v2 package starts with `io`, which would clash with the stdlib module.
pb1 = _load("rw_v1_pb2", os.path.join(GEN, "prometheus", "remote_pb2.py"))
pb2 = _load("rw_v2_pb2", os.path.join(GEN, "io", "prometheus", "write", "v2", "types_pb2.py"))


def discovery_api():
    """rwgate.discovery.v1 messages and gRPC stub (needs python3-grpcio)."""
    import sys
    if GEN not in sys.path:
        sys.path.insert(0, GEN)
    from rwgate.discovery.v1 import discovery_pb2, discovery_pb2_grpc
    return discovery_pb2, discovery_pb2_grpc

STALE_NAN_BITS = 0x7FF0000000000002


# Screenshots the page tests take: test artifacts, in the build dir unless
# RWGATE_SCREENSHOTS names another place (docs/images refreshes the ones the docs show).
SCREENSHOTS = os.environ.get("RWGATE_SCREENSHOTS", os.path.join(BUILD_DIR, "test-artifacts"))


def screenshot(driver, name):
    os.makedirs(SCREENSHOTS, exist_ok=True)
    driver.save_screenshot(os.path.join(SCREENSHOTS, name + ".png"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, body=None, headers=None, timeout=10, context=None):
    """Returns (status, headers, body bytes); never raises for HTTP error statuses.
    `context`: the ssl.SSLContext for https URLs (CA, client certificate)."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=context) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def wait_until(predicate, timeout=30.0, interval=0.1, what="condition"):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except (OSError, urllib.error.URLError, ConnectionError):
            pass
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_pki(d):
    """A CA, a server certificate for localhost and 127.0.0.1, and a client certificate."""
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test CA",
            "-keyout", "ca.key", "-out", "ca.pem", cwd=d)
    for name, ext in [("server", "subjectAltName=DNS:localhost,IP:127.0.0.1"),
                      ("client", "extendedKeyUsage=clientAuth")]:
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
                "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=d)
        with open(os.path.join(d, f"{name}.ext"), "w") as f:
            f.write(ext + "\n")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.pem",
                cwd=d)
    for f in os.listdir(d):
        os.chmod(os.path.join(d, f), 0o644)  # nginx's workers run as another user
    os.chmod(d, 0o755)


class Process:
    """A child process with its output in a log file; stopped (then killed) on stop()."""

    def __init__(self, name, args, workdir, env=None):
        self.name = name
        self.log_path = os.path.join(workdir, f"{name}.log")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, cwd=workdir,
                                     start_new_session=True, env=env)

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode

    def output(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")


class Workspace:
    """A temp dir and the processes started in it; everything is stopped on close()."""

    def __init__(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="rwgate-it-")
        self.dir = self.tmp.name
        self.procs = []
        self.servers = []
        self.browsers = []

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def write(self, name, text):
        with open(self.path(name), "w") as f:
            f.write(text)
        return self.path(name)

    def start(self, name, args, env=None):
        p = Process(name, args, self.dir, env)
        self.procs.append(p)
        return p

    def close(self):
        for b in self.browsers:
            b.quit()
        for p in reversed(self.procs):
            p.stop()
        for s in self.servers:
            s.shutdown()
            s.server_close()
        self.tmp.cleanup()

    # --- the real servers -------------------------------------------------------------

    def browser(self):
        """Debian's Chromium, headless, driven through chromedriver (python3-selenium); its
        profile lives in the workspace."""
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        options = webdriver.ChromeOptions()
        options.binary_location = "/usr/bin/chromium"
        for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--window-size=1280,1000", f"--user-data-dir={self.path('chromium')}"):
            options.add_argument(a)
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        self.browsers.append(driver)
        return driver

    def victoria_metrics(self, name="vm"):
        port = free_port()
        p = self.start(name, ["victoria-metrics", f"-storageDataPath={self.path(name + '-data')}",
                              f"-httpListenAddr=127.0.0.1:{port}", "-loggerLevel=ERROR",
                              "-retentionPeriod=100y", "-search.latencyOffset=0s"])
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: http("GET", url + "/health")[0] == 200, what=f"{name} healthy")
        return VictoriaMetrics(url, p)

    def node_exporter(self, host="127.0.0.1", name="node_exporter", port=None):
        port = port or free_port()
        self.start(name, ["prometheus-node-exporter", f"--web.listen-address={host}:{port}",
                                     "--collector.disable-defaults", "--collector.cpu", "--collector.meminfo",
                                     "--collector.loadavg", "--collector.netdev", "--collector.filesystem"])
        wait_until(lambda: http("GET", f"http://{host}:{port}/metrics")[0] == 200, what=name)
        return f"{host}:{port}"

    def nginx(self, http_block):
        """A real nginx with `http_block` inside http {}, in this workspace. Its workers run as
        another user when started as root, so the workspace is made readable to them."""
        os.chmod(self.dir, 0o755)
        conf = (f"worker_processes 1;\ndaemon off;\npid {self.dir}/nginx.pid;\n"
                f"error_log {self.dir}/nginx-error.log warn;\n"
                "events { worker_connections 256; }\n"
                f"http {{\n  access_log off;\n  client_body_temp_path {self.dir}/nginx-body;\n"
                f"  proxy_temp_path {self.dir}/nginx-proxy;\n{http_block}\n}}\n")
        self.write("nginx.conf", conf)
        p = self.start("nginx", ["nginx", "-p", self.dir, "-c", self.path("nginx.conf")])
        wait_until(lambda: p.proc.poll() is not None or os.path.exists(self.path("nginx.pid")),
                   what="nginx started")
        assert p.proc.poll() is None, p.output()
        return p

    def prometheus_agent(self, config_text, name="prometheus"):
        port = free_port()
        cfg = self.write(name + ".yml", config_text)
        p = self.start(name, ["prometheus", "--enable-feature=agent", f"--config.file={cfg}",
                              f"--storage.agent.path={self.path(name + '-agent-data')}",
                              f"--web.listen-address=127.0.0.1:{port}"])
        wait_until(lambda: http("GET", f"http://127.0.0.1:{port}/-/ready")[0] == 200, what="prometheus ready")
        p.url = f"http://127.0.0.1:{port}"
        p.config_file = cfg
        return p

    def node_agent(self, target, remote_write):
        """A Prometheus agent scraping `target` (a node_exporter) every second as job `node`,
        writing to `remote_write`: the YAML of its entries (`  - url: ...`)."""
        return self.prometheus_agent(f"""
global: {{ scrape_interval: 1s }}
scrape_configs:
  - job_name: node
    static_configs: [{{ targets: ['{target}'] }}]
remote_write:
{remote_write}""")

    def prometheus_store(self, name="store", features=()):
        """A real Prometheus 2.42 as a remote_write receiver (the store), queried over its API.
        `features`: --enable-feature values (e.g. native-histograms)."""
        port = free_port()
        cfg = self.write(name + ".yml", "global: { scrape_interval: 1m }\n")
        p = self.start(name, ["prometheus", f"--config.file={cfg}", f"--storage.tsdb.path={self.path(name + '-data')}",
                              f"--web.listen-address=127.0.0.1:{port}", "--web.enable-remote-write-receiver"]
                       + [f"--enable-feature={f}" for f in features])
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: http("GET", url + "/-/ready")[0] == 200, what=f"{name} ready")
        return PrometheusStore(url, p)

    def rwgate(self, config_text=None, args=(), name="rwgate", wait_ready=True, env=None, auth=None,
               tls=None):
        """`env`: the whole environment of the process (None: this one's). `auth`: (user,
        password) for a rwgate whose --web.config.file requires basic auth. `tls`: the
        ssl.SSLContext to reach a rwgate whose web config turns TLS on."""
        port = free_port()
        argv = [RWGATE, f"--web.listen-address=127.0.0.1:{port}", "--shutdown.timeout=10s", *args]
        if config_text is not None:
            argv.append(f"--config.file={self.write(name + '.yml', config_text)}")
        p = self.start(name, argv, env)
        gw = Rwgate(f"{'https' if tls else 'http'}://127.0.0.1:{port}", p, auth, tls)
        if wait_ready:
            wait_until(lambda: p.proc.poll() is not None or
                       http("GET", gw.url + "/-/ready", headers=gw.auth_headers, context=tls)[0] == 200,
                       what="rwgate ready")
            assert p.proc.poll() is None, p.output()
        return gw

    def http_peer(self, respond):
        """A store stand-in: `respond(body) -> (status, headers, body)` for every POST."""

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status, headers, out = respond(self, body)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args):
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"


def eventbridge_event(detail_type, instance_id, **detail):
    """An Auto Scaling event as EventBridge delivers it (group `web`), JSON bytes."""
    return json.dumps({
        "version": "0", "id": "468fee84-6f4f-4b0c-a7de-f4bd3a2dcc1b", "detail-type": detail_type,
        "source": "aws.autoscaling", "account": "123456789012", "time": "2026-12-01T10:05:00Z",
        "region": "us-east-1",
        "resources": ["arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:uuid:autoScalingGroupName/web"],
        "detail": {"AutoScalingGroupName": "web", "EC2InstanceId": instance_id, **detail}}).encode()


class AckedWriter:
    """Sends requests of `series` series x 1 sample, each request with its own timestamp (an
    hour back, one ms apart), and remembers the timestamps of those answered 2xx: what rwgate
    acknowledged, to be looked for in the store. `refusals` counts the other answers by
    status; `last_refusal` is the newest one's (status, body)."""

    def __init__(self, gw, job="buffered", series=20):
        self.gw = gw
        self.job = job
        self.series = series
        self.acked = []
        self.refusals = {}
        self.last_refusal = None
        self.ts = int(time.time() * 1000) - 3_600_000
        self.stop = threading.Event()
        self.thread = None

    @property
    def refused(self):
        return sum(self.refusals.values())

    def send_one(self):
        self.ts += 1
        series = [({"__name__": "buffered_total", "job": self.job, "instance": f"host-{k}:9100"},
                   [(self.ts, float(self.ts))]) for k in range(self.series)]
        try:
            status, _, body = self.gw.write(v1_request(series))
        except OSError:
            status, body = 0, b""
        if 200 <= status < 300:
            self.acked.append(self.ts)
        else:
            self.refusals[status] = self.refusals.get(status, 0) + 1
            self.last_refusal = (status, body)
        return status

    def start(self):
        def run():
            while not self.stop.is_set():
                if self.send_one() == 0:
                    time.sleep(0.05)  # rwgate is down
        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def finish(self):
        self.stop.set()
        self.thread.join()


def stored(vm, job="buffered"):
    """timestamp -> how many samples of the job the store holds at it."""
    out = {}
    for samples in vm.export(f'{{job="{job}"}}').values():
        for t, _ in samples:
            out[t] = out.get(t, 0) + 1
    return out


def wait_acked_stored(vm, writer, timeout=60):
    """Until the store holds every series of every request `writer` had acknowledged."""
    want = set(writer.acked)
    wait_until(lambda: want <= {t for t, n in stored(vm, writer.job).items() if n >= writer.series},
               timeout=timeout, interval=0.5, what=f"{len(want)} acknowledged requests stored")


class CapturingStore:
    """A store stand-in that answers 204 and keeps every request it gets, decompressed:
    (Content-Type, X-Prometheus-Remote-Write-Version, body)."""

    def __init__(self, ws):
        self.requests = queue.Queue()

        def respond(handler, body):
            self.requests.put((handler.headers.get("Content-Type", ""),
                               handler.headers.get("X-Prometheus-Remote-Write-Version", ""),
                               snappy.uncompress(body)))
            return 204, {}, b""

        self.url = ws.http_peer(respond)

    def next(self, timeout=10):
        return self.requests.get(timeout=timeout)


class VictoriaMetrics:
    def __init__(self, url, proc):
        self.url = url
        self.proc = proc

    def export(self, match='{__name__!=""}'):
        """All series as {frozenset(labels.items()): [(ts, value), ...]}."""
        http("GET", self.url + "/internal/force_flush")
        q = urllib.parse.urlencode({"match[]": match})
        status, _, body = http("GET", f"{self.url}/api/v1/export?{q}", timeout=60)
        assert status == 200, body
        out = {}
        for line in body.decode().splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            key = frozenset(row["metric"].items())
            out.setdefault(key, []).extend(zip(row["timestamps"], row["values"]))
        return out

    def query(self, promql):
        """Instant query now, uncached: {frozenset(labels.items()): value str}."""
        q = urllib.parse.urlencode({"query": promql, "nocache": "1"})
        status, _, body = http("GET", f"{self.url}/api/v1/query?{q}")
        assert status == 200, body
        return {frozenset(r["metric"].items()): r["value"][1] for r in json.loads(body)["data"]["result"]}

    def wait_for_job(self, job, n, what=None, timeout=30):
        """Waits until the store holds exactly n series of `job`."""
        wait_until(lambda: len(self.export(f'{{job="{job}"}}')) == n, timeout=timeout,
                   what=what or f"{n} series of job {job} in the store")


class PrometheusStore:
    def __init__(self, url, proc):
        self.url = url
        self.proc = proc

    def query(self, promql):
        """Instant query now: [(labels dict, value str), ...]."""
        q = urllib.parse.urlencode({"query": promql})
        status, _, body = http("GET", f"{self.url}/api/v1/query?{q}")
        assert status == 200, body
        return [(r["metric"], r["value"][1]) for r in json.loads(body)["data"]["result"]]


def basic_auth_header(user, password):
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


class Rwgate:
    def __init__(self, url, proc, auth=None, tls=None):
        self.url = url
        self.proc = proc
        self.auth_headers = basic_auth_header(*auth) if auth else {}
        self.tls = tls

    def write(self, body_pb, protocol="v1", headers=None):
        raw = body_pb.SerializeToString()
        h = {"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf"}
        if protocol == "v2":
            h["Content-Type"] = "application/x-protobuf;proto=io.prometheus.write.v2.Request"
            h["X-Prometheus-Remote-Write-Version"] = "2.0.0"
        else:
            h["X-Prometheus-Remote-Write-Version"] = "0.1.0"
        h.update(self.auth_headers)
        h.update(headers or {})
        return http("POST", self.url + "/api/v1/write", snappy.compress(raw), h, context=self.tls)

    def write_series(self, job, n=5):
        """Writes n series `m{job=JOB, i=0..n-1}`, one sample each, now; asserts the 204."""
        now = int(time.time() * 1000)
        body = v1_request([({"__name__": "m", "job": job, "i": str(i)}, [(now, 1.0)]) for i in range(n)])
        status, _, text = self.write(body)
        assert status == 204, (status, text)

    def metrics(self):
        """{'name{labels}': value} from /metrics, labels as written."""
        status, _, body = http("GET", self.url + "/metrics", headers=self.auth_headers, context=self.tls)
        assert status == 200
        out = {}
        for line in body.decode().splitlines():
            if line.startswith("#") or not line.strip():
                continue
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
        return out

    def metric(self, name):
        return self.metrics().get(name, 0.0)

    def metric_sum(self, name, metrics=None):
        """The sum of every series of metric `name`, whatever its labels; from `metrics`
        (what metrics() returned) when given, so that several sums share one scrape."""
        metrics = self.metrics() if metrics is None else metrics
        return sum(v for k, v in metrics.items() if k.split("{", 1)[0] == name)

    def resources(self):
        """(RSS in KiB, open descriptors, threads) of the process, from /proc."""
        pid = self.proc.proc.pid
        with open(f"/proc/{pid}/status") as f:
            status = dict(line.split(":", 1) for line in f)
        return (int(status["VmRSS"].split()[0]), len(os.listdir(f"/proc/{pid}/fd")),
                int(status["Threads"]))


def v1_request(series):
    """series: list of (labels dict, [(ts, value), ...])"""
    req = pb1.WriteRequest()
    for labels, samples in series:
        ts = req.timeseries.add()
        for k in sorted(labels):
            lab = ts.labels.add()
            lab.name, lab.value = k, labels[k]
        for t, v in samples:
            s = ts.samples.add()
            s.timestamp, s.value = t, v
    return req


def v2_request(series):
    req = pb2.Request()
    index = {}

    def ref(s):
        if s not in index:
            index[s] = len(req.symbols)
            req.symbols.append(s)
        return index[s]

    ref("")
    for labels, samples in series:
        ts = req.timeseries.add()
        for k in sorted(labels):
            ts.labels_refs.extend([ref(k), ref(labels[k])])
        for t, v in samples:
            s = ts.samples.add()
            s.timestamp, s.value = t, v
    return req
