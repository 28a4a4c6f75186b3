"""The operator's pages in a real browser: headless Chromium (Debian's chromium and
chromium-driver, through python3-selenium) against rwgate, fed by a real Prometheus agent
scraping node_exporter and writing on to VictoriaMetrics, with a file_sd fleet.

The trace page explains a series that was enriched (and says exactly what the store got),
one that was not and why, one scraped through a round-robin nginx (flagged as
load-balanced by its behaviour) and one by its name, and one dropped by a rule; rules
pasted into the page are tried in place of the running ones; a series received lately
can be picked from a list; a hostile label value
renders as text. /config shows the running config with its secrets redacted; the JSON API
and `rwgate trace` answer the same; every page sits behind the web config's basic auth.
Screenshots are kept as test artifacts (harness.SCREENSHOTS)."""
import json
import subprocess
import time
import unittest
import urllib.parse

import bcrypt
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

import harness

HOSTILE = "<script>document.title='pwned'</script><img src=x onerror=\"document.title='pwned'\">"
LB_HOST = "internal-web-1234567890.us-east-1.elb.amazonaws.com:80"


def trace_url(gw, labels, rules=None):
    url = gw.url + "/trace?labels=" + urllib.parse.quote(json.dumps(labels))
    return url + ("&rules=" + urllib.parse.quote(rules) if rules else "")


class TracePageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        ws = cls.ws = harness.Workspace()
        cls.vm = ws.victoria_metrics()
        cls.target = ws.node_exporter()
        ws.write("fleet.json", json.dumps([{
            "targets": [cls.target],
            "labels": {"__meta_ec2_instance_id": "i-0abc", "__meta_asg_name": "web",
                       "__meta_ec2_availability_zone": "us-east-1a",
                       "__meta_asg_lifecycle_state": "InService"}}]))
        cls.config = f"""
discovery:
  sources:
    - file: {{ files: ['{ws.path("fleet.json")}'], refresh_interval: 1m }}
relabel_configs:
  - {{ source_labels: [__name__], regex: 'go_gc_.*', action: drop }}
sinks:
  - name: store
    remote_write:
      url: {cls.vm.url}/api/v1/write
      headers: {{ X-Api-Key: topsecret-header }}
      basic_auth: {{ username: writer, password: hunter2-password }}
      queue: {{ batch_send_deadline: 200ms }}
"""
        cls.gw = ws.rwgate(cls.config)
        # A round-robin nginx in front of two more exporters: the classic mistake, scraped
        # as job `web` through it.
        backends = []
        for i in range(2):
            time.sleep(0.05)  # distinct process_start_time_seconds (10 ms resolution)
            backends.append(ws.node_exporter(name=f"backend{i}"))
        lb_port = harness.free_port()
        ws.nginx(f"""
  upstream backends {{ {" ".join(f"server {b};" for b in backends)} }}
  server {{ listen 127.0.0.1:{lb_port}; location / {{ proxy_pass http://backends; }} }}
""")
        cls.lb_target = f"127.0.0.1:{lb_port}"
        ws.prometheus_agent(f"""
global: {{ scrape_interval: 1s }}
scrape_configs:
  - job_name: node
    static_configs: [{{ targets: ['{cls.target}'] }}]
  - job_name: web
    static_configs: [{{ targets: ['{cls.lb_target}'] }}]
remote_write:
  - url: {cls.gw.url}/api/v1/write
    queue_config: {{ batch_send_deadline: 500ms }}
""")
        harness.wait_until(lambda: cls.vm.export('{__name__="node_load1",job="node"}'), timeout=60,
                           what="node_load1 in the store")
        cls.browser = ws.browser()

    @classmethod
    def tearDownClass(cls):
        cls.ws.close()

    def open_trace(self, labels, rules=None):
        self.browser.get(trace_url(self.gw, labels, rules))
        steps = [[td.text for td in tr.find_elements(By.TAG_NAME, "td")]
                 for tr in self.browser.find_elements(By.CSS_SELECTOR, "table.steps tr")[1:]]
        sinks = [[td.text for td in tr.find_elements(By.TAG_NAME, "td")]
                 for tr in self.browser.find_elements(By.CSS_SELECTOR, "table.sinks > tbody > tr")[1:]]
        return {row[1]: row for row in steps}, sinks

    def test_an_enriched_series_shows_the_match_and_exactly_what_the_store_got(self):
        labels = {"__name__": "node_load1", "instance": self.target, "job": "node"}
        steps, sinks = self.open_trace(labels)
        self.assertIn('is the address of "i-0abc", listed by', steps["enrich"][2])
        self.assertEqual(sinks[0][0], "store")
        self.assertEqual(sinks[0][1], "sent")
        self.assertIn('instance_id="i-0abc"', sinks[0][2])
        harness.screenshot(self.browser, "trace")

        # The JSON API says the same, and its labels are the ones the store holds.
        status, _, body = harness.http("POST", self.gw.url + "/api/v1/trace",
                                       json.dumps({"labels": labels}).encode(),
                                       {"Content-Type": "application/json"})
        self.assertEqual(status, 200, body)
        trace = json.loads(body)
        self.assertEqual([s["stage"] for s in trace["steps"]],
                         ["validate", "enrich", "lb", "relabel"])
        stored = [dict(s) for s in self.vm.export('{__name__="node_load1",job="node"}')]
        self.assertEqual(stored, [trace["sinks"]["store"]["labels"]])

        # The page links to itself: the link opens the same trace.
        self.browser.find_element(By.ID, "link").click()
        self.assertIn('instance_id="i-0abc"', self.browser.find_element(By.CSS_SELECTOR, "table.sinks").text)

    def test_a_series_that_was_not_enriched_says_why(self):
        self.browser.get(self.gw.url + "/trace")
        box = self.browser.find_element(By.ID, "labels")
        box.clear()
        box.send_keys(json.dumps({"__name__": "up", "instance": "10.9.9.9:9100", "job": "node"}))
        self.browser.find_element(By.ID, "trace").click()
        # The click navigates; the old page has no steps table, the new one has.
        harness.wait_until(lambda: self.browser.find_elements(By.CSS_SELECTOR, "table.steps"),
                           timeout=10, what="the trace page")
        text = self.browser.find_element(By.CSS_SELECTOR, "table.steps").text
        self.assertIn('host "10.9.9.9" (from "instance") is none of the 1 instances', text)

    def test_a_load_balanced_target_and_a_dropped_series(self):
        # Scraped through nginx: rwgate confirms it by behaviour, and the trace says so.
        def confirmed():
            _, _, body = harness.http("GET", self.gw.url + "/api/v1/lb-targets")
            return any(t["instance"] == self.lb_target and t["verdict"] == "confirmed"
                       for t in json.loads(body)["targets"])
        harness.wait_until(confirmed, timeout=90, interval=1, what="the nginx target confirmed")
        steps, sinks = self.open_trace({"__name__": "node_load1", "instance": self.lb_target, "job": "web"})
        self.assertIn("a load balancer: its behaviour says so", steps["lb"][2])
        self.assertIn('scrape_via="load_balancer"', sinks[0][2])
        # As the store shows, once the verdict reaches the pipeline.
        harness.wait_until(lambda: self.vm.export('{job="web",scrape_via="load_balancer"}'), timeout=30,
                           what="annotated series in the store")

        steps, sinks = self.open_trace({"__name__": "up", "instance": LB_HOST, "job": "web"})
        self.assertIn("a load balancer: the instance host looks like a load balancer", steps["lb"][2])
        self.assertIn('scrape_via="load_balancer"', sinks[0][2])

        steps, sinks = self.open_trace({"__name__": "go_gc_duration_seconds", "instance": self.target,
                                        "job": "node"})
        self.assertIn("dropped", steps["relabel"][2])
        self.assertEqual(sinks[0][1], "dropped by relabel_configs[0]")
        # As the store shows: node_exporter's other go_ series are there, not these.
        self.assertTrue(self.vm.export('{__name__="go_goroutines"}'))
        self.assertFalse(self.vm.export('{__name__=~"go_gc_.*"}'))

    def test_pasted_rules_are_tried_in_place_of_relabel_configs(self):
        _, sinks = self.open_trace({"__name__": "go_gc_duration_seconds", "job": "node"},
                                   rules="- {target_label: tried, replacement: 'yes'}")
        self.assertEqual(sinks[0][1], "sent")
        self.assertIn('tried="yes"', sinks[0][2])
        self.assertIn("tried", self.browser.find_element(By.ID, "rules").get_attribute("value"))
        # A rule that does not parse is an error on the page, with its path.
        self.open_trace({"__name__": "up"}, rules="- {action: nonsense}")
        self.assertIn("rules[0]", self.browser.find_element(By.CSS_SELECTOR, ".error").text)

    def test_a_series_received_lately_can_be_picked(self):
        self.browser.get(self.gw.url + "/trace")
        recent = self.browser.find_element(By.ID, "recent")
        recent.find_element(By.TAG_NAME, "summary").click()
        links = recent.find_elements(By.TAG_NAME, "a")
        self.assertTrue(links)
        self.assertIn("job=", links[0].text)
        links[0].click()
        def stages():
            return [td.text for td in self.browser.find_elements(By.CSS_SELECTOR, "table.steps td:nth-child(2)")]
        harness.wait_until(stages, timeout=10, what="the picked series' trace")
        self.assertEqual(stages()[:2], ["validate", "enrich"])

    def test_a_hostile_label_value_renders_as_text(self):
        self.open_trace({"__name__": "up", "job": "node", "note": HOSTILE})
        self.assertNotEqual(self.browser.title, "pwned")
        self.assertEqual(self.browser.find_elements(By.CSS_SELECTOR, "main img"), [])
        self.assertIn("<script>document.title='pwned'</script>",
                      self.browser.find_element(By.CSS_SELECTOR, "table.sinks").text)
        time.sleep(0.2)
        self.assertNotEqual(self.browser.title, "pwned")

    def test_config_page_shows_the_running_config_without_secrets(self):
        self.browser.get(self.gw.url + "/config")
        text = self.browser.find_element(By.ID, "config").text
        self.assertIn("go_gc_.*", text)
        self.assertIn("username: writer", text)
        self.assertIn("password: <secret>", text)
        self.assertIn("X-Api-Key: <secret>", text)
        self.assertNotIn("hunter2", self.browser.page_source)
        self.assertNotIn("topsecret", self.browser.page_source)
        harness.screenshot(self.browser, "config")

    def test_the_api_refuses_what_it_cannot_read(self):
        url = self.gw.url + "/api/v1/trace"
        status, headers, _ = harness.http("GET", url)
        self.assertEqual((status, headers.get("Allow")), (405, "POST"))
        for body, why in ((b"{nope", "not a JSON object"), (b'{"labels": {"a": 1}}', 'the value of "a" must be a string'),
                          (b'{"labels": []}', 'the body must be {"labels"'),
                          (b'{"labels": {"__name__": "up"}, "rules": "- {action: bad}"}', "rules[0]")):
            status, _, text = harness.http("POST", url, body)
            self.assertEqual(status, 400, body)
            self.assertIn(why, json.loads(text)["error"])

    def test_rwgate_trace_reads_label_sets_and_prints_traces(self):
        lines = "\n".join([json.dumps({"__name__": "up", "instance": self.target, "job": "node"}),
                           "not json",
                           json.dumps({"__name__": "go_gc_x", "job": "node"})]) + "\n"
        out = subprocess.run([harness.RWGATE, "trace", f"--config.file={self.ws.path('rwgate.yml')}"],
                             input=lines, capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        traces = [json.loads(line) for line in out.stdout.splitlines()]
        self.assertEqual(len(traces), 3)
        self.assertEqual(traces[0]["sinks"]["store"]["labels"]["instance_id"], "i-0abc")
        self.assertIn("line 2", traces[1]["error"])
        self.assertEqual(traces[2]["sinks"]["store"]["dropped_by"], "relabel_configs[0]")


class StatusPageTest(unittest.TestCase):
    """The status page live: its own store, so that stopping it disturbs no other test."""

    def setUp(self):
        self.ws = harness.Workspace()
        self.addCleanup(self.ws.close)

    def test_status_shows_each_sink_and_source_and_a_stopped_store_turns_retrying(self):
        vm = self.ws.victoria_metrics()
        target = self.ws.node_exporter()
        self.ws.write("fleet.json", json.dumps([
            {"targets": [target], "labels": {"__meta_ec2_instance_id": "i-0abc", "__meta_asg_name": "web",
                                             "__meta_ec2_availability_zone": "us-east-1a",
                                             "__meta_asg_lifecycle_state": "InService"}},
            {"targets": ["10.0.0.2:9100"], "labels": {"__meta_ec2_instance_id": "i-0def", "__meta_asg_name": "batch",
                                                      "__meta_ec2_availability_zone": "us-east-1b",
                                                      "__meta_asg_lifecycle_state": "Pending"}}]))
        gw = self.ws.rwgate(f"""
discovery:
  sources:
    - file: {{ files: ['{self.ws.path("fleet.json")}'], refresh_interval: 1m }}
sinks:
  - name: store
    remote_write:
      url: {vm.url}/api/v1/write
      queue: {{ batch_send_deadline: 200ms, max_backoff: 1s }}
""")
        self.ws.node_agent(target, f"""
  - url: {gw.url}/api/v1/write
    queue_config: {{ batch_send_deadline: 500ms }}
""")
        harness.wait_until(lambda: vm.export('{__name__="node_load1"}'), timeout=60, what="data in the store")
        # A target that is a load balancer by its name, as a sender would write it.
        now = int(time.time() * 1000)
        status, _, text = gw.write(harness.v1_request(
            [({"__name__": "up", "job": "web", "instance": LB_HOST}, [(now, 1.0)])]))
        self.assertEqual(status, 204, text)

        browser = self.ws.browser()

        def forwarding():  # the graphs and rates come from counters sampled every 5 s
            browser.get(gw.url + "/")
            row = browser.find_element(By.CSS_SELECTOR, 'tr[data-sink="store"]')
            return row.find_elements(By.TAG_NAME, "td")[5].text not in ("", "0")
        harness.wait_until(forwarding, timeout=30, interval=1, what="a samples/s figure")
        self.assertNotIn("now 0/s", browser.find_element(By.ID, "graph-out").find_element(By.XPATH, "..").text)
        row = browser.find_element(By.CSS_SELECTOR, 'tr[data-sink="store"]')
        cells = [td.text for td in row.find_elements(By.TAG_NAME, "td")]
        self.assertEqual(cells[1], vm.url + "/api/v1/write")
        self.assertEqual((cells[2], cells[3]), ("1.0", "ok"))
        source = [td.text for td in browser.find_element(By.CSS_SELECTOR, 'tr[data-source="file[0]"]')
                  .find_elements(By.TAG_NAME, "td")]
        self.assertEqual(source[1:3], ["file", "2"])
        self.assertIn("ago", source[3])
        lb = browser.find_element(By.ID, "lb").text
        self.assertIn(LB_HOST, lb)
        self.assertIn("name", lb)
        self.assertIn("up", browser.find_element(By.ID, "updated").text)
        harness.screenshot(browser, "status")

        # The store goes away: the page, left open, shows the sink retrying with the
        # store's error within seconds (its script refreshes it in place).
        vm.proc.stop()
        def retrying():
            try:
                row = browser.find_element(By.CSS_SELECTOR, 'tr[data-sink="store"]')
                cells = [td.text for td in row.find_elements(By.TAG_NAME, "td")]
            except StaleElementReferenceException:  # the script swapped the content meanwhile
                return False
            return cells[3].startswith("retrying") and "Connection refused" in cells[4]
        harness.wait_until(retrying, timeout=30, what="the sink shown as retrying")
        self.assertEqual(browser.current_url, gw.url + "/")  # refreshed in place, not reloaded

        # The discovery table, filtered by ASG.
        browser.get(gw.url + "/instances")
        self.assertEqual(browser.find_element(By.ID, "count").text, "2 of 2 instances")
        Select(browser.find_element(By.ID, "filter-asg")).select_by_value("batch")
        browser.find_element(By.ID, "filter").click()
        harness.wait_until(lambda: browser.current_url.endswith("/instances?asg=batch&zone=&lifecycle="),
                           what="the filtered table")
        self.assertEqual(browser.find_element(By.ID, "count").text, "1 of 2 instances")
        table = browser.find_element(By.ID, "instances").text
        self.assertIn("i-0def", table)
        self.assertNotIn("i-0abc", table)
        browser.get(gw.url + "/instances?asg=web")
        cells = [td.text for td in browser.find_elements(By.CSS_SELECTOR, "#instances td")]
        self.assertEqual(cells[0], "i-0abc")
        self.assertEqual(cells[5], target.split(":")[0])     # found by its file_sd host
        self.assertGreater(int(cells[7]), 50)                # node_exporter's series, tracked
        self.assertIn("ago", cells[8])                       # and when it last sent
        harness.screenshot(browser, "instances")


class PagesAuthTest(unittest.TestCase):
    def test_pages_sit_behind_the_web_config_basic_auth(self):
        ws = harness.Workspace()
        self.addCleanup(ws.close)
        hashed = bcrypt.hashpw(b"opensesame", bcrypt.gensalt(4)).decode()
        web = ws.write("web.yml", f"basic_auth_users:\n  admin: '{hashed}'\n")
        gw = ws.rwgate("sinks:\n  - name: s\n    remote_write: { url: http://127.0.0.1:1/api/v1/write }\n",
                       args=[f"--web.config.file={web}"], auth=("admin", "opensesame"))
        for method, path in (("GET", "/"), ("GET", "/instances"), ("GET", "/trace"), ("GET", "/config"),
                             ("GET", "/static/refresh.js"), ("POST", "/api/v1/trace")):
            body = b'{"labels": {"__name__": "up"}}' if method == "POST" else None
            self.assertEqual(harness.http(method, gw.url + path, body)[0], 401, path)
            self.assertEqual(harness.http(method, gw.url + path, body, gw.auth_headers)[0], 200, path)


if __name__ == "__main__":
    unittest.main()
