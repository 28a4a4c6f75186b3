"""What deploy/ ships, checked against rwgate itself.

- The Debian package (CPack): installed with dpkg, its config checked by the installed
  binary, its systemd unit by `systemd-analyze verify`, then removed and purged.
- The alerting rules: `promtool test rules`; the Grafana dashboard: every query parsed by
  promtool; every metric name either uses is one a running rwgate exposes at /metrics.
- The Kubernetes manifests: every flag is one `rwgate --help` lists, both configs pass
  `rwgate check config`, and a rwgate run as the pod would be answers on the container
  port's probes."""
import glob
import json
import os
import re
import shutil
import subprocess
import unittest

import yaml

import harness

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
DEPLOY = os.path.join(ROOT, "deploy")
RWGATE = os.path.join(harness.BUILD_DIR, "bin", "rwgate")


def help_flags(binary=RWGATE):
    text = subprocess.run([binary, "--help"], capture_output=True, text=True, check=True).stdout
    return set(re.findall(r"(--[a-z][a-z.-]+)", text))


def check_config(text, ws, name, binary=RWGATE):
    path = ws.write(name, text)
    return subprocess.run([binary, "check", "config", path], capture_output=True, text=True)


class MonitoringTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(os.path.join(DEPLOY, "monitoring", "rwgate-alerts.yml")) as f:
            cls.rules = yaml.safe_load(f)
        with open(os.path.join(DEPLOY, "monitoring", "rwgate-dashboard.json")) as f:
            cls.dashboard = json.load(f)
        cls.panel_exprs = [t["expr"] for p in cls.dashboard["panels"] for t in p.get("targets", [])]

    def test_alert_rules_pass_their_promtool_unit_tests(self):
        out = subprocess.run(["promtool", "test", "rules", "rwgate-alerts.test.yml"],
                             cwd=os.path.join(DEPLOY, "monitoring"), capture_output=True, text=True)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        with open(os.path.join(DEPLOY, "monitoring", "rwgate-alerts.test.yml")) as f:
            tested = set(re.findall(r"alertname: (\w+)", f.read()))
        alerts = {r["alert"] for g in self.rules["groups"] for r in g["rules"]}
        self.assertEqual(alerts - tested, set(), "every alert has a unit test")

    def test_every_dashboard_query_parses(self):
        ws = harness.Workspace()
        self.addCleanup(ws.close)
        # Grafana's variables as Prometheus would see them once Grafana filled them in.
        rules = [{"record": f"rwgate:dashboard_panel_{i}",
                  "expr": e.replace("$__rate_interval", "5m").replace("$instance", ".+")}
                 for i, e in enumerate(self.panel_exprs)]
        path = ws.write("dashboard-rules.yml", yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
        out = subprocess.run(["promtool", "check", "rules", path], capture_output=True, text=True)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertGreater(len(rules), 15)

    def test_rules_and_dashboard_use_only_metrics_rwgate_exposes(self):
        ws = harness.Workspace()
        self.addCleanup(ws.close)
        vm = ws.victoria_metrics()
        ws.write("fleet.json", json.dumps([{"targets": ["10.0.0.1:9100"],
                                            "labels": {"__meta_ec2_instance_id": "i-0abc"}}]))
        # Every subsystem the metrics come from: a disk-buffered sink that sends, discovery,
        # a target flagged as a load balancer, staleness tracking and coverage.
        gw = ws.rwgate(f"""
discovery:
  sources:
    - file: {{ files: ['{ws.path("fleet.json")}'] }}
sinks:
  - name: store
    remote_write:
      url: {vm.url}/api/v1/write
      queue: {{ batch_send_deadline: 100ms }}
      buffer: {{ type: disk, path: {ws.path("buffer")} }}
""")
        gw.write(harness.v1_request([({"__name__": "up", "job": "web",
                                       "instance": "web-1.us-east-1.elb.amazonaws.com:80"}, [(1000, 1)])]))
        harness.wait_until(lambda: gw.metric('rwgate_sends_total{sink="store",status="204"}') > 0,
                           what="a send to the store")
        status, _, body = harness.http("GET", gw.url + "/metrics")
        types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", body.decode(), re.M))
        exposed = set(types)
        for name, kind in types.items():
            if kind == "histogram":
                exposed |= {name + "_bucket", name + "_sum", name + "_count"}
        exprs = self.panel_exprs + [r["expr"] for g in self.rules["groups"] for r in g["rules"]]
        used = {m for e in exprs for m in re.findall(r"\b(rwgate_[a-z0-9_]+)", e)}
        self.assertGreater(len(used), 20)
        self.assertEqual(used - exposed, set(), "names the rules or the dashboard use that /metrics lacks")


class KubernetesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.docs = {}
        for path in sorted(glob.glob(os.path.join(DEPLOY, "kubernetes", "*.yaml"))):
            with open(path) as f:
                for doc in yaml.safe_load_all(f):
                    cls.docs[doc["kind"]] = doc
        cls.config = cls.docs["ConfigMap"]["data"]

    def test_the_manifests_are_the_expected_kinds(self):
        self.assertEqual(set(self.docs), {"ServiceAccount", "ConfigMap", "Service", "PodDisruptionBudget",
                                          "Deployment", "StatefulSet"})
        self.assertIn("eks.amazonaws.com/role-arn", self.docs["ServiceAccount"]["metadata"]["annotations"])

    def pods(self):
        for kind in ("Deployment", "StatefulSet"):
            spec = self.docs[kind]["spec"]
            yield kind, spec, spec["template"]["spec"]

    def test_flags_ports_probes_and_selectors_match_rwgate(self):
        flags = help_flags()
        labels = self.docs["Service"]["spec"]["selector"]
        self.assertEqual(self.docs["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"], labels)
        for kind, spec, pod in self.pods():
            with self.subTest(kind=kind):
                self.assertEqual(spec["selector"]["matchLabels"], labels)
                self.assertEqual(spec["template"]["metadata"]["labels"], labels)
                self.assertEqual(pod["serviceAccountName"], self.docs["ServiceAccount"]["metadata"]["name"])
                c = pod["containers"][0]
                args = dict(a.split("=", 1) for a in c["args"])
                self.assertEqual(set(args) - flags, set(), "flags rwgate --help does not list")
                port = c["ports"][0]
                self.assertEqual(args["--web.listen-address"].rsplit(":", 1)[1], str(port["containerPort"]))
                self.assertEqual(spec["template"]["metadata"]["annotations"]["prometheus.io/port"],
                                 str(port["containerPort"]))
                self.assertEqual(c["livenessProbe"]["httpGet"], {"path": "/-/healthy", "port": port["name"]})
                self.assertEqual(c["readinessProbe"]["httpGet"], {"path": "/-/ready", "port": port["name"]})
                self.assertEqual(self.docs["Service"]["spec"]["ports"][0]["targetPort"], port["name"])
                # The config the pod mounts is one the ConfigMap has, at --config.file.
                mount = next(m for m in c["volumeMounts"] if m["name"] == "config")
                items = next(v for v in pod["volumes"] if v["name"] == "config")["configMap"]["items"]
                self.assertEqual(os.path.join(mount["mountPath"], items[0]["path"]), args["--config.file"])
                self.assertIn(items[0]["key"], self.config)
                # SIGTERM drains for --shutdown.timeout: the pod must be given longer.
                self.assertGreater(pod["terminationGracePeriodSeconds"],
                                   int(args["--shutdown.timeout"].rstrip("s")))
        # The StatefulSet's disk buffers live on its volume.
        sts = self.docs["StatefulSet"]["spec"]
        data = next(m for m in sts["template"]["spec"]["containers"][0]["volumeMounts"] if m["name"] == "data")
        disk = yaml.safe_load(self.config["rwgate-disk.yml"])
        self.assertTrue(disk["sinks"][0]["remote_write"]["buffer"]["path"].startswith(data["mountPath"] + "/"))
        self.assertEqual(sts["volumeClaimTemplates"][0]["metadata"]["name"], "data")

    def test_each_config_checks_and_a_pod_like_rwgate_answers_its_probes(self):
        ws = harness.Workspace()
        self.addCleanup(ws.close)
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(AWS_EC2_METADATA_DISABLED="true", HOME=ws.dir)
        # The pods' flags, but the listen address (the harness picks a loopback port) and
        # the config file (written here).
        args = [a for a in self.docs["Deployment"]["spec"]["template"]["spec"]["containers"][0]["args"]
                if not a.startswith(("--web.listen-address=", "--config.file="))]
        for key, text in self.config.items():
            with self.subTest(config=key):
                out = check_config(text, ws, key)
                self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
                # As the pod runs it, but on loopback, with the buffer in this workspace
                # (no AWS here: the aws source fails its listing and rwgate runs on).
                text = text.replace("/var/lib/rwgate", ws.path("data-" + key))
                gw = ws.rwgate(text, args=args, name="pod-" + key, env=env)
                for path in ("/-/healthy", "/-/ready", "/metrics"):
                    self.assertEqual(harness.http("GET", gw.url + path)[0], 200, path)


@unittest.skipUnless(os.geteuid() == 0 and shutil.which("dpkg"), "installs a package: needs root and dpkg")
class DebianPackageTest(unittest.TestCase):
    def test_install_check_verify_remove(self):
        out = subprocess.run(["cpack", "-G", "DEB"], cwd=harness.BUILD_DIR, capture_output=True, text=True)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        version = subprocess.run([RWGATE, "--version"], capture_output=True, text=True).stdout.split()[2]
        deb = os.path.join(harness.BUILD_DIR, f"rwgate_{version}_amd64.deb")
        self.assertTrue(os.path.exists(deb), deb)
        if os.path.exists("/usr/bin/rwgate"):
            self.skipTest("an rwgate is installed on this machine already")
        self.addCleanup(subprocess.run, ["dpkg", "--purge", "rwgate"], capture_output=True)
        out = subprocess.run(["dpkg", "-i", deb], capture_output=True, text=True)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)

        out = subprocess.run(["/usr/bin/rwgate", "check", "config", "/etc/rwgate/rwgate.yml"],
                             capture_output=True, text=True)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        installed = subprocess.run(["/usr/bin/rwgate", "--version"], capture_output=True, text=True).stdout
        self.assertIn(f"rwgate, version {version} (branch: ", installed)
        unit = "/usr/lib/systemd/system/rwgate.service"
        out = subprocess.run(["systemd-analyze", "verify", unit], capture_output=True, text=True)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        with open(unit) as f:
            text = f.read()
        for setting in ("DynamicUser=yes", "StateDirectory=rwgate", "ProtectSystem=strict",
                        "ExecReload=/bin/kill -HUP $MAINPID"):
            self.assertIn(setting, text)
        start = re.search(r"^ExecStart=(\S+) (.*)$", text, re.M)
        self.assertEqual(start.group(1), "/usr/bin/rwgate")
        used = set(re.findall(r"(--[a-z][a-z.-]+)", start.group(2)))
        self.assertEqual(used - help_flags("/usr/bin/rwgate"), set())
        conffiles = subprocess.run(["dpkg-query", "-W", "-f=${Conffiles}", "rwgate"],
                                   capture_output=True, text=True).stdout
        self.assertIn("/etc/rwgate/rwgate.yml", conffiles)
        self.assertIn("/etc/default/rwgate", conffiles)
        man = subprocess.run(["man", "-P", "cat", "-l", "/usr/share/man/man1/rwgate.1.gz"],
                             capture_output=True, text=True, env=dict(os.environ, MANWIDTH="100"))
        self.assertIn("--shutdown.timeout", man.stdout.replace("\u2010", "-"))

        self.assertEqual(subprocess.run(["dpkg", "-r", "rwgate"], capture_output=True).returncode, 0)
        self.assertFalse(os.path.exists("/usr/bin/rwgate"))
        self.assertTrue(os.path.exists("/etc/rwgate/rwgate.yml"))  # a conffile stays until purge
        self.assertEqual(subprocess.run(["dpkg", "--purge", "rwgate"], capture_output=True).returncode, 0)
        self.assertFalse(os.path.exists("/etc/rwgate/rwgate.yml"))


if __name__ == "__main__":
    unittest.main()
