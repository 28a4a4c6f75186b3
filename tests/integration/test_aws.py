"""The aws discovery source against tests/fixtures/aws_emulator.py: SigV4 checked on every
request (with python3-botocore), HTTPS with a certificate rwgate must verify, pagination,
throttling, failures, the credential chain. The main test puts a real Prometheus agent in
front: three node_exporters on 127.0.0.2-4 are the three instances of an Auto Scaling group
the emulator describes, and every series reaching VictoriaMetrics carries their fleet labels."""
import json
import os
import random
import subprocess
import sys
import time
import unittest

import harness

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fixtures"))
import aws_emulator  # noqa: E402

from botocore.auth import SigV4Auth  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402

KEY_ID, SECRET = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def discovery(gw):
    status, _, body = harness.http("GET", gw.url + "/api/v1/discovery")
    assert status == 200, body
    return json.loads(body)


class SigV4AgainstBotocoreTest(unittest.TestCase):
    def test_same_inputs_give_the_same_signature(self):
        rng = random.Random(7)
        cases = []
        for i in range(200):
            method = rng.choice(["GET", "POST", "PUT", "DELETE"])
            service = rng.choice(["autoscaling", "ec2", "elasticloadbalancing", "sts", "execute-api"])
            region = rng.choice(["us-east-1", "eu-west-1", "ap-southeast-2", "cn-north-1", "us-gov-west-1"])
            host = f"{service}.{region}.amazonaws.com" + rng.choice(["", ":8443"])
            path = rng.choice(["/", "/a/b", "/x%20y", "/with~tilde/", "/%E1%88%B4"])
            params = [(rng.choice(["Action", "Version", "Filter.1.Value.1", "a b", "Z", "é"]),
                       rng.choice(["", "i-0abc", "x y", "a+b", "100%", "ünï", "k=v"])) for _ in range(rng.randint(0, 4))]
            query = "&".join(f"{harness.urllib.parse.quote(k, safe='')}={harness.urllib.parse.quote(v, safe='')}"
                             for k, v in params)
            headers = {}
            if rng.random() < 0.7:
                headers["Content-Type"] = "application/x-www-form-urlencoded; charset=utf-8"
            if rng.random() < 0.3:
                headers["X-Custom"] = rng.choice(["  spaced   out  ", "plain", "a,b"])
            body = rng.choice(["", "Action=DescribeInstances&Version=2016-11-15", "{\"k\": \"ü\"}"])
            token = rng.choice(["", "", "FwoGZXIvYXdzEBYaDEXAMPLETOKEN"])
            when = 1700000000 + rng.randint(0, 10 ** 7)
            cases.append(dict(access_key_id="AKID" + str(i), secret_access_key=f"secret/{i}+key", session_token=token,
                              region=region, service=service, method=method, host=host, path=path, query=query,
                              headers=headers, body=body, time=when))
        tool = os.path.join(harness.BUILD_DIR, "bin", "sigv4_sign")
        out = subprocess.run([tool], input="\n".join(json.dumps(c) for c in cases) + "\n",
                             capture_output=True, text=True, check=True).stdout.splitlines()
        self.assertEqual(len(out), len(cases))
        for c, ours in zip(cases, out):
            url = f"https://{c['host']}{c['path']}" + (f"?{c['query']}" if c["query"] else "")
            headers = dict(c["headers"])
            headers["Host"] = c["host"]
            req = AWSRequest(method=c["method"], url=url, data=c["body"].encode(), headers=headers)
            req.context["timestamp"] = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(c["time"]))
            req.headers["X-Amz-Date"] = req.context["timestamp"]
            if c["session_token"]:
                req.headers["X-Amz-Security-Token"] = c["session_token"]
            signer = SigV4Auth(Credentials(c["access_key_id"], c["secret_access_key"], c["session_token"] or None),
                               c["service"], c["region"])
            canonical = signer.canonical_request(req)
            sig = signer.signature(signer.string_to_sign(req, canonical), req)
            self.assertTrue(ours.endswith("Signature=" + sig), f"{c}\nours: {ours}\nbotocore canonical:\n{canonical}")


class AwsSourceTest(unittest.TestCase):
    def setUp(self):
        self.ws = harness.Workspace()
        self.addCleanup(self.ws.close)
        self.secret_file = self.ws.write("aws-secret", SECRET + "\n")

    def emulator(self, fleet, tls=False, credentials=None):
        cert = None
        if tls:
            key, crt = self.ws.path("emu.key"), self.ws.path("emu.crt")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", crt,
                            "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                           check=True, capture_output=True)
            cert = (crt, key)
        emu = aws_emulator.Emulator(fleet, credentials or {KEY_ID: (SECRET, None)}, tls=cert)
        self.addCleanup(emu.close)
        return emu

    def env(self, **extra):
        """An environment with no AWS settings of the machine's, and IMDS off unless asked."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env["HOME"] = self.ws.dir
        env["AWS_EC2_METADATA_DISABLED"] = "true"
        env.update(extra)
        return env

    def gateway(self, emu, extra="", sinks=None, env=None, name="rwgate", keys=True):
        ca = f"ca_file: {self.ws.path('emu.crt')}" if emu.scheme == "https" else ""
        creds = f"access_key_id: {KEY_ID}\n        secret_access_key_file: {self.secret_file}" if keys else ""
        sinks = sinks or "sinks: [{name: nowhere, remote_write: {url: 'http://127.0.0.1:9/api/v1/write'}}]"
        return self.ws.rwgate(f"""
discovery:
  sources:
    - aws:
        region: us-east-1
        endpoint: {emu.url}
        refresh_interval: 1s
        {creds}
        {ca}
        {extra}
{sinks}
""", name=name, env=env or self.env())

    def test_fleet_labels_from_the_aws_apis_reach_the_store(self):
        fleet = aws_emulator.Fleet()
        fleet.add_group("web")
        fleet.add_group("batch")
        fleet.add_group("spare")
        for n, (iid, az) in enumerate([("i-0aaa", "us-east-1a"), ("i-0bbb", "us-east-1b"), ("i-0ccc", "us-east-1c")]):
            fleet.launch("web", iid, f"127.0.0.{n + 2}", az=az, tags={"Team": "payments"})
        fleet.launch("batch", "i-0ddd", "10.9.9.9", az="us-east-1a")
        alb = fleet.add_load_balancer("web-alb", "application", groups=["web"])
        clb = fleet.add_load_balancer("legacy", "classic", groups=["web"])
        emu = self.emulator(fleet, tls=True)
        vm = self.ws.victoria_metrics()
        port = harness.free_port()
        targets = [self.ws.node_exporter(host=f"127.0.0.{n + 2}", name=f"node{n}", port=port) for n in range(3)]
        gw = self.gateway(emu, sinks=f"""sinks:
  - name: store
    remote_write:
      url: {vm.url}/api/v1/write
      queue: {{ batch_send_deadline: 200ms }}""")
        harness.wait_until(lambda: len(discovery(gw)["instances"]) == 4, timeout=30, what="4 instances")
        d = discovery(gw)
        by_id = {i["instance_id"]: i for i in d["instances"]}
        self.assertEqual(by_id["i-0bbb"]["private_ip"], "127.0.0.3")
        self.assertEqual(by_id["i-0bbb"]["availability_zone"], "us-east-1b")
        self.assertEqual(by_id["i-0bbb"]["ec2_state"], "running")
        self.assertEqual(by_id["i-0bbb"]["tags"]["Team"], "payments")
        self.assertEqual(by_id["i-0bbb"]["protected_from_scale_in"], "false")
        self.assertEqual(by_id["i-0ddd"]["asg"], "batch")
        lbs = {lb["dns_name"]: lb for lb in d["load_balancers"]}
        self.assertEqual(lbs[alb.lower()]["type"], "application")
        self.assertEqual(lbs[alb.lower()]["asgs"], ["web"])
        self.assertEqual(lbs[clb.lower()]["asgs"], ["web"])
        self.assertEqual(lbs[alb.lower()]["target_port"], "80")  # the target group's
        self.assertEqual(lbs[clb.lower()]["target_port"], "80")  # the listener's InstancePort
        self.assertEqual([s["name"] for s in d["sources"]], ["aws[0]"])
        # Page size 2: every list took more than one call; every call was signed right.
        self.assertGreaterEqual(emu.count("DescribeAutoScalingGroups", 200), 2)
        self.assertGreaterEqual(emu.count("DescribeInstances", 200), 2)
        self.assertEqual(emu.count(status=403), 0)
        self.assertGreater(gw.metric('rwgate_discovery_last_success_timestamp_seconds{source="aws[0]"}'),
                           time.time() - 60)

        self.ws.prometheus_agent(f"""
global: {{ scrape_interval: 1s }}
scrape_configs:
  - job_name: node
    static_configs: [{{ targets: {json.dumps(targets)} }}]
remote_write:
  - url: {gw.url}/api/v1/write
    queue_config: {{ batch_send_deadline: 200ms }}
""")
        want = {"127.0.0.2": ("i-0aaa", "us-east-1a"), "127.0.0.3": ("i-0bbb", "us-east-1b"),
                "127.0.0.4": ("i-0ccc", "us-east-1c")}

        def all_enriched():
            exported = vm.export('{job="node"}')
            hosts = {dict(s)["instance"].split(":")[0] for s in exported}
            return exported if hosts == set(want) else None
        exported = harness.wait_until(all_enriched, timeout=60, what="series of all three instances")
        time.sleep(1)
        exported = vm.export('{job="node"}')
        for series in exported:
            labels = dict(series)
            iid, az = want[labels["instance"].split(":")[0]]
            self.assertEqual((labels.get("instance_id"), labels.get("availability_zone"), labels.get("asg"),
                              labels.get("lifecycle_state")), (iid, az, "web", "InService"), labels)

        # A job scraped through the ALB the account has: flagged by name, with the group
        # behind it in the suggested fix.
        now = int(time.time() * 1000)
        status, _, body = gw.write(harness.v1_request(
            [({"__name__": "up", "job": "web-via-alb", "instance": f"{alb.upper()}:80"}, [(now, 1)])]))
        self.assertEqual(status, 204, body)
        status, _, body = harness.http("GET", gw.url + "/api/v1/lb-targets")
        target = [t for t in json.loads(body)["targets"] if t["job"] == "web-via-alb"][0]
        self.assertEqual(target["evidence"], "name")
        self.assertIn("values: [web]", target["fix"])
        self.assertIn("region: us-east-1", target["fix"])
        harness.wait_until(lambda: vm.export('{job="web-via-alb",scrape_via="load_balancer"}'), timeout=15,
                           what="the ALB-scraped series annotated")

        # A lifecycle transition in the account shows at the next refresh.
        emu.control("/_emulator/lifecycle", {"instance_id": "i-0bbb", "state": "Terminating:Wait"})
        harness.wait_until(
            lambda: any(dict(s).get("lifecycle_state") == "Terminating:Wait" and dict(s).get("instance_id") == "i-0bbb"
                        for s in vm.export('{job="node",instance_id="i-0bbb"}')),
            timeout=30, what="Terminating:Wait on i-0bbb's series")

    def test_throttling_is_retried_and_failures_keep_the_last_good_records(self):
        fleet = aws_emulator.Fleet()
        fleet.add_group("web")
        for n in range(5):
            fleet.launch("web", f"i-{n:04d}", f"10.0.0.{n + 1}")
        emu = self.emulator(fleet)
        emu.throttle_next = 3  # the first refresh is throttled three times, then gets through
        gw = self.gateway(emu, extra="load_balancers: false")
        harness.wait_until(lambda: len(discovery(gw)["instances"]) == 5, timeout=30, what="5 instances")
        self.assertEqual(emu.count(status=400), 3)  # Throttling answers, retried
        self.assertEqual(gw.metric('rwgate_discovery_refresh_errors_total{source="aws[0]"}'), 0)

        # A page that fails (every retry too) fails the whole refresh: no half list.
        before = gw.metric('rwgate_discovery_refresh_errors_total{source="aws[0]"}')
        fleet.terminate("i-0003")
        emu.fail_next["DescribeInstances"] = 100
        harness.wait_until(lambda: gw.metric('rwgate_discovery_refresh_errors_total{source="aws[0]"}') > before,
                           timeout=60, what="a failed refresh")
        self.assertEqual(len(discovery(gw)["instances"]), 5)
        emu.fail_next.clear()
        harness.wait_until(lambda: "aws refresh works again" in gw.proc.output(), timeout=30,
                           what="the refresh after the failure")
        # Logged once per change of error, not once per refresh.
        log = gw.proc.output()
        self.assertEqual(log.count("aws refresh failed"), 1, log)
        self.assertIn("aws refresh works again", log)

        # Throttled without end: a stop does not wait out the backoff.
        emu.throttle_next = 10 ** 6
        calls = emu.count()
        harness.wait_until(lambda: emu.count() >= calls + 3, timeout=30, what="retries under way")
        t0 = time.time()
        self.assertEqual(gw.proc.stop(timeout=20), 0)
        self.assertLess(time.time() - t0, 15, "shutdown waited for the AWS backoff")

    def test_bad_credentials_and_untrusted_certificates_are_refused_clearly(self):
        fleet = aws_emulator.Fleet()
        fleet.add_group("web")
        fleet.launch("web", "i-0aaa", "10.0.0.1")
        emu = self.emulator(fleet, tls=True, credentials={KEY_ID: ("another-secret", None)})
        gw = self.gateway(emu)
        harness.wait_until(lambda: gw.metric('rwgate_discovery_refresh_errors_total{source="aws[0]"}') >= 2,
                           timeout=30, what="refreshes refused")
        self.assertIn("SignatureDoesNotMatch", gw.proc.output())
        self.assertNotIn("another-secret", gw.proc.output())
        self.assertNotIn(SECRET, gw.proc.output())
        # The same endpoint without its CA: the certificate is not trusted, nothing is sent.
        gw.proc.stop()
        calls = emu.count()
        gw2 = self.ws.rwgate(f"""
discovery:
  sources:
    - aws: {{ region: us-east-1, endpoint: {emu.url}, refresh_interval: 1s,
              access_key_id: {KEY_ID}, secret_access_key_file: {self.secret_file} }}
sinks: [{{name: nowhere, remote_write: {{url: 'http://127.0.0.1:9/api/v1/write'}}}}]
""", name="rwgate-untrusted", env=self.env())
        harness.wait_until(lambda: gw2.metric('rwgate_discovery_refresh_errors_total{source="aws[0]"}') >= 1,
                           timeout=30, what="TLS refused")
        self.assertIn("certificate verify failed", gw2.proc.output())
        self.assertEqual(emu.count(), calls)

    def test_credential_chain(self):
        fleet = aws_emulator.Fleet()
        fleet.add_group("web")
        fleet.launch("web", "i-0aaa", "10.0.0.1")
        creds = {"AKIDENV": ("env-secret", "env-token"), "AKIDFILE": ("file-secret", None)}
        emu = self.emulator(fleet, credentials=creds)
        # The environment, with a session token.
        gw = self.gateway(emu, keys=False, name="from-env",
                          env=self.env(AWS_ACCESS_KEY_ID="AKIDENV", AWS_SECRET_ACCESS_KEY="env-secret",
                                       AWS_SESSION_TOKEN="env-token"))
        harness.wait_until(lambda: len(discovery(gw)["instances"]) == 1, timeout=30, what="env credentials")
        # The shared credentials file, profile from AWS_PROFILE.
        cred_file = self.ws.write("credentials", "[default]\naws_access_key_id = nope\naws_secret_access_key = nope\n\n"
                                               "[rwgate]\naws_access_key_id = AKIDFILE\naws_secret_access_key = file-secret\n")
        gw = self.gateway(emu, keys=False, name="from-file",
                          env=self.env(AWS_SHARED_CREDENTIALS_FILE=cred_file, AWS_PROFILE="rwgate"))
        harness.wait_until(lambda: len(discovery(gw)["instances"]) == 1, timeout=30, what="file credentials")
        # The instance role, through IMDSv2 on loopback.
        imds = aws_emulator.ImdsEmulator()
        self.addCleanup(imds.close)
        imds.on_issue = lambda c: emu.credentials.__setitem__(c[0], (c[1], c[2]))
        gw = self.gateway(emu, keys=False, name="from-imds", extra=f"imds_endpoint: {imds.url}",
                          env={k: v for k, v in self.env().items() if k != "AWS_EC2_METADATA_DISABLED"})
        harness.wait_until(lambda: len(discovery(gw)["instances"]) == 1, timeout=30, what="role credentials")
        self.assertGreaterEqual(len(imds.issued), 1)
        self.assertEqual(emu.count(status=403), 0)
        # None at all: a clear error naming what was tried.
        gw = self.gateway(emu, keys=False, name="none")
        harness.wait_until(lambda: "no AWS credentials" in gw.proc.output(), timeout=30, what="no credentials")
        self.assertIn("AWS_EC2_METADATA_DISABLED", gw.proc.output())


if __name__ == "__main__":
    unittest.main()
