#include "proxy/status_page.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>

#include "base/net.h"
#include "proxy/pages.h"
#include "proxy/version.h"

namespace rwgate::proxy {

namespace {

using WallTime = Clock::WallTime;

std::string esc(std::string_view s) { return html_escape(s); }

// "45s", "12m", "3h10m", "2d4h": how long, to a person.
std::string span_text(double seconds) {
  const auto s = static_cast<int64_t>(std::max(0.0, seconds));
  if (s < 120) return std::to_string(s) + "s";
  if (s < 3600) return std::to_string(s / 60) + "m";
  if (s < 86400) return std::to_string(s / 3600) + "h" + std::to_string(s % 3600 / 60) + "m";
  return std::to_string(s / 86400) + "d" + std::to_string(s % 86400 / 3600) + "h";
}

double seconds_between(WallTime from, WallTime to) {
  return std::chrono::duration<double>(to - from).count();
}

std::string utc(WallTime t) {
  const std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

// "12s ago (2026-12-03 10:00:00 UTC)", or `none` for a zero time.
std::string when(WallTime now, WallTime t, std::string_view none = "never") {
  if (t == WallTime{}) return "<span class=\"muted\">" + std::string(none) + "</span>";
  return span_text(seconds_between(t, now)) + " ago <span class=\"muted\">(" + utc(t) + ")</span>";
}

std::string number(double v) {
  char buf[32];
  if (v >= 1e6) {
    std::snprintf(buf, sizeof buf, "%.2fM", v / 1e6);
  } else if (v >= 1e4) {
    std::snprintf(buf, sizeof buf, "%.1fk", v / 1e3);
  } else {
    std::snprintf(buf, sizeof buf, "%.0f", v);
  }
  return buf;
}

std::string bytes(double v) {
  char buf[32];
  if (v >= 1 << 30) {
    std::snprintf(buf, sizeof buf, "%.1f GiB", v / (1 << 30));
  } else if (v >= 1 << 20) {
    std::snprintf(buf, sizeof buf, "%.1f MiB", v / (1 << 20));
  } else {
    std::snprintf(buf, sizeof buf, "%.0f KiB", v / 1024);
  }
  return buf;
}

std::string card(std::string_view id, std::string_view value, std::string_view what) {
  return "<div class=\"card\" id=\"" + std::string(id) + "\"><b>" + std::string(value) + "</b>" +
         std::string(what) + "</div>";
}

// A line graph of `values` (one per history point, the newest on the right), scaled to
// its maximum, with the maximum and the newest value written under it.
std::string graph(std::string_view id, std::string_view title, const std::vector<double>& values,
                  std::string_view color, bool percent) {
  constexpr int kW = 360, kH = 70;
  const double top = values.empty() ? 0 : *std::max_element(values.begin(), values.end());
  std::string pts;
  const size_t n = values.size();
  for (size_t i = 0; i < n; ++i) {
    const double x = kW - static_cast<double>(n - 1 - i) * kW / (StatusHistory::kPoints - 1);
    const double y = kH - 2 - (top > 0 ? values[i] / top * (kH - 4) : 0);
    char buf[48];
    std::snprintf(buf, sizeof buf, "%.1f,%.1f ", x, y);
    pts += buf;
  }
  const auto shown = [percent](double v) {
    return percent ? number(v * 100) + "%" : number(v) + "/s";
  };
  return "<div><svg class=\"graph\" id=\"" + std::string(id) + "\" width=\"" + std::to_string(kW) +
         "\" height=\"" + std::to_string(kH) + "\" role=\"img\" aria-label=\"" +
         std::string(title) + "\"><polyline stroke=\"" + std::string(color) + "\" points=\"" + pts +
         "\"/></svg><div class=\"muted\">" + std::string(title) + ": now " +
         shown(values.empty() ? 0 : values.back()) + ", peak " + shown(top) +
         " (last hour)</div></div>";
}

std::string graphs(const std::vector<StatusHistory::Point>& h) {
  std::vector<double> in, out, fill;
  for (size_t i = 1; i < h.size(); ++i) {
    const double dt = std::max(1e-3, seconds_between(h[i - 1].at, h[i].at));
    in.push_back(std::max(0.0, h[i].samples_in - h[i - 1].samples_in) / dt);
    out.push_back(std::max(0.0, h[i].samples_out - h[i - 1].samples_out) / dt);
  }
  for (const StatusHistory::Point& p : h) fill.push_back(p.queue_fill);
  return "<h2>The last hour</h2><div class=\"cards\">" +
         graph("graph-in", "samples in", in, "#2f6fdf", false) +
         graph("graph-out", "samples out", out, "#17863a", false) +
         graph("graph-queue", "fullest queue", fill, "#b8860b", true) + "</div>";
}

std::string sinks_html(const StatusView& v) {
  std::string out =
      "<h2>Sinks</h2><table id=\"sinks\"><tr><th>sink</th><th>URL</th><th>protocol</th>"
      "<th>state</th><th>last error</th><th>samples/s</th><th>queue</th><th>disk buffer</th>"
      "<th>oldest unsent</th></tr>";
  for (const sinks::SinkStatus& s : v.sinks) {
    double rate = 0;
    for (const auto& [name, r] : v.sink_rates) {
      if (name == s.name) rate = r;
    }
    const double fill = s.queue_capacity_bytes > 0
                            ? static_cast<double>(s.queue_bytes) / s.queue_capacity_bytes
                            : 0;
    out += "<tr data-sink=\"" + esc(s.name) + "\"><td><code>" + esc(s.name) + "</code></td><td>" +
           esc(s.url) + "</td><td>" + esc(s.protocol) + "</td><td><span class=\"state " +
           esc(s.state) + "\">" + esc(s.state) + "</span>" +
           (s.state != "ok" || s.state_since != WallTime{}
                ? "<div class=\"muted\">since " + when(v.now, s.state_since, "start") + "</div>"
                : "") +
           "</td><td>" +
           (s.last_error.empty() ? std::string("<span class=\"muted\">none</span>")
                                 : esc(s.last_error) + "<div class=\"muted\">" +
                                       when(v.now, s.last_error_at) + "</div>") +
           "</td><td>" + number(rate) + "</td><td>" + bytes(static_cast<double>(s.queue_bytes)) +
           " of " + bytes(static_cast<double>(s.queue_capacity_bytes)) + " (" + number(fill * 100) +
           "%)</td><td>" +
           (s.disk ? number(s.buffer_undelivered) + " records undelivered"
                   : std::string("<span class=\"muted\">memory queue</span>")) +
           "</td><td>" +
           (s.oldest_unsent_seconds > 0 ? span_text(s.oldest_unsent_seconds)
                                        : std::string("<span class=\"muted\">none</span>")) +
           "</td></tr>";
  }
  return out + "</table>";
}

std::string sources_html(const StatusView& v) {
  if (v.fleet == nullptr)
    return "<h2>Discovery</h2><p class=\"muted\">No discovery source is configured.</p>";
  std::set<std::string> names;
  for (const auto& [n, _] : v.listed) names.insert(n);
  for (const auto& [n, _] : v.last_success) names.insert(n);
  for (const auto& [n, _] : v.failures) names.insert(n);
  std::string out = "<h2>Discovery</h2><p>" + std::to_string(v.fleet->records().size()) +
                    " instances known, <a href=\"/instances\">the table</a>.</p>"
                    "<table id=\"sources\"><tr><th>source</th><th>kind</th><th>instances</th>"
                    "<th>last success</th><th>last error</th></tr>";
  for (const std::string& n : names) {
    const auto listed = v.listed.find(n);
    const auto ok = v.last_success.find(n);
    const auto failed = v.failures.find(n);
    out += "<tr data-source=\"" + esc(n) + "\"><td><code>" + esc(n) + "</code></td><td>" +
           esc(n.substr(0, n.find('['))) + "</td><td>" +
           std::to_string(listed == v.listed.end() ? 0 : listed->second) + "</td><td>" +
           when(v.now, ok == v.last_success.end() ? WallTime{} : ok->second) + "</td><td>" +
           (failed == v.failures.end()
                ? std::string("<span class=\"muted\">none</span>")
                : "<span class=\"failing\">" + esc(failed->second.error) +
                      "</span><div class=\"muted\">" + when(v.now, failed->second.at) + "</div>") +
           "</td></tr>";
  }
  return out + "</table>";
}

std::string lb_html(const StatusView& v) {
  std::string out = "<h2>Load balancers scraped as targets</h2>";
  if (v.lb_targets.empty()) return out + "<p class=\"muted\">None seen.</p>";
  out +=
      "<table id=\"lb\"><tr><th>job</th><th>instance</th><th>verdict</th><th>evidence</th>"
      "<th>series</th><th>the fix</th></tr>";
  for (const lb::LbTargetReport& t : v.lb_targets) {
    std::string reasons;
    for (const std::string& r : t.reasons) reasons += "<li>" + esc(r) + "</li>";
    out += "<tr><td><code>" + esc(t.job) + "</code></td><td><code>" + esc(t.instance) +
           "</code></td><td>" + esc(t.verdict) + "</td><td>" + esc(t.evidence) + "<ul>" + reasons +
           "</ul></td><td>" + std::to_string(t.series) +
           "</td><td><details><summary>scrape each instance</summary><pre>" + esc(t.fix) +
           "</pre></details></td></tr>";
  }
  return out + "</table>";
}

std::string staleness_html(const StatusView& v) {
  std::string out = "<h2>Stale markers</h2>";
  if (!v.tracking)
    return out + "<p class=\"muted\">Off (staleness.on_terminate, with discovery).</p>";
  out += "<div class=\"cards\">" +
         card("tracked-series", number(v.tracked_series), "series tracked") +
         card("tracked-instances", number(v.tracked_instances), "instances tracked") +
         card("markers-sent", number(v.markers_sent), "stale markers sent") + "</div>";
  if (v.fleet != nullptr && v.fleet->has_gone()) {
    out += "<p>Recently gone:";
    for (const discovery::InstanceRecord& r : v.fleet->gone())
      out += " <code>" + esc(r.instance_id.empty() ? r.key() : r.instance_id) + "</code>";
    out += "</p>";
  }
  return out;
}

// Every name the instance is found by, but its id.
std::string addresses(const discovery::InstanceRecord& r) {
  std::string out;
  for (const std::string* a : {&r.private_ip, &r.public_ip, &r.private_dns, &r.public_dns}) {
    if (!a->empty()) out += (out.empty() ? "" : " ") + *a;
  }
  for (const std::string& a : r.addresses) out += (out.empty() ? "" : " ") + a;
  return out;
}

std::string series_count(const std::map<std::string, size_t>* series, const std::string& key) {
  if (series == nullptr) return "<span class=\"muted\">not tracked</span>";
  const auto it = series->find(key);
  return std::to_string(it == series->end() ? 0 : it->second);
}

}  // namespace

void StatusHistory::sample(WallTime at, double samples_in,
                           const std::vector<sinks::SinkStatus>& sinks) {
  Point p;
  p.at = at;
  p.samples_in = samples_in;
  for (const sinks::SinkStatus& s : sinks) {
    p.samples_out += s.forwarded_samples;
    if (s.queue_capacity_bytes > 0)
      p.queue_fill =
          std::max(p.queue_fill, static_cast<double>(s.queue_bytes) / s.queue_capacity_bytes);
  }
  std::lock_guard lock(mu_);
  const double dt = points_.empty() ? 0 : seconds_between(points_.back().at, at);
  rates_.clear();
  for (const sinks::SinkStatus& s : sinks) {
    const auto before = forwarded_.find(s.name);
    const double rate = before != forwarded_.end() && dt > 0
                            ? std::max(0.0, s.forwarded_samples - before->second) / dt
                            : 0;
    rates_.emplace_back(s.name, rate);
  }
  forwarded_.clear();
  for (const sinks::SinkStatus& s : sinks) forwarded_[s.name] = s.forwarded_samples;
  points_.push_back(p);
  if (points_.size() > kPoints) points_.pop_front();
}

std::vector<StatusHistory::Point> StatusHistory::points() const {
  std::lock_guard lock(mu_);
  return {points_.begin(), points_.end()};
}

std::vector<std::pair<std::string, double>> StatusHistory::sink_rates() const {
  std::lock_guard lock(mu_);
  return rates_;
}

void serve_status_page(const StatusView& v, HttpResponse& res) {
  std::string body =
      "<p id=\"updated\" class=\"muted\">rwgate " + std::string(build_info().version) + ", up " +
      span_text(seconds_between(v.started, v.now)) + "; as of " + utc(v.now) + "</p>";
  body += "<p>Config: " +
          (v.config_file.empty() ? std::string("the built-in default")
                                 : "<code>" + esc(v.config_file) + "</code>") +
          " (<a href=\"/config\">shown</a>). Last reload: ";
  if (v.reload.at == WallTime{}) {
    body += "<span class=\"muted\">none since start</span>";
  } else {
    body += std::string(v.reload.ok ? "<span class=\"ok\" id=\"reload\">ok</span>"
                                    : "<span class=\"failing\" id=\"reload\">failed</span>: " +
                                          esc(v.reload.error)) +
            ", " + when(v.now, v.reload.at);
  }
  body += "</p>";
  body += sinks_html(v) + graphs(v.history) + sources_html(v) + lb_html(v) + staleness_html(v);
  body +=
      "<h2>Tenants and HA</h2><div class=\"cards\">" +
      card("tenants", std::to_string(v.tenants), "tenants (<a href=\"/api/v1/tenants\">JSON</a>)") +
      card("ha-clusters", std::to_string(v.ha_clusters),
           "HA clusters (<a href=\"/api/v1/ha-clusters\">JSON</a>)") +
      "</div>";
  render_page(res, "/", "Status", body, /*refresh=*/true);
}

void serve_instances_page(const discovery::DiscoverySnapshot* fleet,
                          const std::map<std::string, size_t>* series, WallTime now,
                          const HttpRequest& req, HttpResponse& res) {
  if (fleet == nullptr) {
    return render_page(res, "/instances", "Instances",
                       "<p class=\"muted\">No discovery source is configured.</p>");
  }
  const std::string target(req.target());
  struct Filter {
    const char* param;
    const char* label;
    std::string discovery::InstanceRecord::*field;
    std::string value;
  };
  Filter filters[] = {
      {"asg", "ASG", &discovery::InstanceRecord::asg_name, {}},
      {"zone", "zone", &discovery::InstanceRecord::availability_zone, {}},
      {"lifecycle", "lifecycle state", &discovery::InstanceRecord::lifecycle_state, {}}};
  std::vector<const discovery::InstanceRecord*> all;
  for (const auto& r : fleet->records()) all.push_back(&r);
  for (const auto& r : fleet->gone()) all.push_back(&r);
  std::string form = "<form class=\"filter\" method=\"get\" action=\"/instances\">";
  for (Filter& f : filters) {
    f.value = net::query_param(target, f.param).value_or("");
    std::set<std::string> values;
    for (const auto* r : all) values.insert(r->*f.field);
    form += "<label>" + std::string(f.label) + " <select name=\"" + f.param + "\" id=\"filter-" +
            f.param + "\"><option value=\"\">all</option>";
    for (const std::string& value : values) {
      if (value.empty()) continue;
      form += "<option" + std::string(value == f.value ? " selected" : "") + " value=\"" +
              esc(value) + "\">" + esc(value) + "</option>";
    }
    form += "</select></label>";
  }
  form += "<button type=\"submit\" id=\"filter\">Filter</button></form>";
  std::string rows;
  size_t shown = 0;
  for (const discovery::InstanceRecord* r : all) {
    if (std::any_of(std::begin(filters), std::end(filters),
                    [r](const Filter& f) { return !f.value.empty() && r->*f.field != f.value; }))
      continue;
    ++shown;
    const discovery::InstanceActivity* a = fleet->activity(*r);
    const int64_t seen = a != nullptr ? a->last_seen_s.load(std::memory_order_relaxed) : 0;
    rows += "<tr><td><code>" + esc(r->instance_id.empty() ? r->key() : r->instance_id) +
            "</code></td><td>" + esc(r->asg_name) + "</td><td>" + esc(r->availability_zone) +
            "</td><td>" + esc(r->lifecycle_state) + (r->is_gone() ? " (gone)" : "") + "</td><td>" +
            esc(r->health_status) + "</td><td>" + esc(addresses(*r)) + "</td><td>" +
            esc(r->source) + "</td><td>" + series_count(series, r->key()) + "</td><td>" +
            when(now, seen > 0 ? WallTime(std::chrono::seconds(seen)) : WallTime{}) + "</td></tr>";
  }
  const std::string body =
      form + "<p id=\"count\">" + std::to_string(shown) + " of " + std::to_string(all.size()) +
      " instances</p><table id=\"instances\"><tr><th>instance</th><th>ASG</th><th>zone</th>"
      "<th>lifecycle state</th><th>health</th><th>addresses</th><th>source</th>"
      "<th>series</th><th>last sent</th></tr>" +
      rows + "</table>";
  render_page(res, "/instances", "Instances", body);
}

void serve_refresh_script(HttpResponse& res) {
  res.result(boost::beast::http::status::ok);
  res.set(boost::beast::http::field::content_type, "text/javascript; charset=utf-8");
  res.set(boost::beast::http::field::cache_control, "no-cache");
  // Fetches the page again and swaps in its <main>; a failed fetch keeps what is shown.
  // DOMParser runs no script of the fetched page.
  res.body() = R"js((function () {
  async function refresh() {
    try {
      const res = await fetch(location.href, { cache: "no-store", credentials: "same-origin" });
      if (res.ok) {
        const doc = new DOMParser().parseFromString(await res.text(), "text/html");
        const fresh = doc.querySelector("main");
        if (fresh) document.querySelector("main").replaceWith(fresh);
      }
    } catch (e) {}
    setTimeout(refresh, 5000);
  }
  setTimeout(refresh, 5000);
})();
)js";
}

}  // namespace rwgate::proxy
