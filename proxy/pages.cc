#include "proxy/pages.h"

#include "base/json.h"
#include "base/net.h"
#include "proxy/trace_service.h"

namespace rwgate::proxy {

namespace http = boost::beast::http;

namespace {

// The frame of every page: {{title}} and {{body}} are filled in; everything else is fixed.
constexpr std::string_view kLayout = R"html(<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>rwgate: {{title}}</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 0; color: #1d2330; background: #f6f7f9; }
header { background: #1d2330; color: #fff; padding: 8px 16px; display: flex; gap: 18px; align-items: baseline; }
header b { font-size: 16px; } header a { color: #cfd6e4; text-decoration: none; }
header a.here { color: #fff; border-bottom: 2px solid #6ea8fe; }
main { padding: 12px 16px; max-width: 1200px; }
h1 { font-size: 18px; margin: 8px 0 12px; } h2 { font-size: 15px; margin: 18px 0 6px; }
table { border-collapse: collapse; background: #fff; width: 100%; }
th, td { border: 1px solid #d9dde5; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #eef1f6; font-weight: 600; }
code, pre, textarea { font: 12px/1.4 ui-monospace, monospace; }
pre { background: #fff; border: 1px solid #d9dde5; padding: 8px; overflow: auto; }
textarea { width: 100%; box-sizing: border-box; }
.labels span { display: inline-block; margin: 1px 6px 1px 0; white-space: nowrap; }
.error { background: #fde8e8; border: 1px solid #e5a3a3; padding: 6px 10px; }
.dropped { color: #a11d1d; font-weight: 600; } .sent { color: #17663a; font-weight: 600; }
.muted { color: #5b6475; }
.ok { color: #17663a; font-weight: 600; } .retrying { color: #9a6700; font-weight: 600; }
.failing { color: #a11d1d; font-weight: 600; }
.cards { display: flex; gap: 12px; flex-wrap: wrap; }
.card { background: #fff; border: 1px solid #d9dde5; padding: 8px 12px; min-width: 160px; }
.card b { display: block; font-size: 18px; }
svg.graph { background: #fff; border: 1px solid #d9dde5; }
svg.graph polyline { fill: none; stroke-width: 1.5; }
form.filter { margin: 0 0 10px; } form.filter label { margin-right: 12px; }
</style>
{{script}}</head>
<body><header><b>rwgate</b>{{nav}}</header>
<main><h1>{{title}}</h1>
{{body}}
</main></body></html>
)html";

constexpr std::pair<std::string_view, std::string_view> kNav[] = {
    {"/", "Status"},       {"/instances", "Instances"}, {"/trace", "Trace"},
    {"/config", "Config"}, {"/metrics", "Metrics"},
};

void replace(std::string& text, std::string_view key, std::string_view value) {
  const size_t at = text.find(key);
  if (at != std::string::npos) text.replace(at, key.size(), value);
}

}  // namespace

void render_page(HttpResponse& res, std::string_view path, std::string_view title,
                 std::string_view body, bool refresh) {
  std::string nav;
  for (const auto& [href, name] : kNav) {
    nav += "<a href=\"" + std::string(href) + "\"" + (href == path ? " class=\"here\"" : "") + ">" +
           std::string(name) + "</a>";
  }
  std::string html(kLayout);
  replace(html, "{{script}}", refresh ? "<script src=\"/static/refresh.js\" defer></script>" : "");
  replace(html, "{{nav}}", nav);
  replace(html, "{{title}}", html_escape(title));
  replace(html, "{{title}}", html_escape(title));
  replace(html, "{{body}}", body);  // last: the body is never searched for keys
  res.result(http::status::ok);
  res.set(http::field::content_type, "text/html; charset=utf-8");
  // The pages are built for this origin only: no scripts from anywhere else, no framing.
  res.set("Content-Security-Policy",
          "default-src 'none'; style-src 'unsafe-inline'; script-src 'self'; connect-src 'self'; "
          "img-src 'self'; form-action 'self'; "
          "frame-ancestors 'none'");
  res.body() = std::move(html);
}

namespace {

std::string labels_html(const pipeline::TraceLabels& labels) {
  if (labels.empty()) return "<span class=\"muted\">none</span>";
  std::string out = "<div class=\"labels\">";
  for (const auto& [name, value] : labels) {
    out += "<span><code>" + html_escape(name) + "=";
    std::string quoted;
    append_json_string(quoted, value);
    out += html_escape(quoted) + "</code></span>";
  }
  return out + "</div>";
}

std::string labels_json(const pipeline::TraceLabels& labels) {
  std::string out;
  append_json_object(out, labels);
  return out;
}

std::string steps_html(const std::vector<pipeline::TraceStep>& steps) {
  std::string out =
      "<table class=\"steps\"><tr><th>#</th><th>stage</th><th>what happened</th>"
      "<th>labels after</th></tr>";
  for (size_t i = 0; i < steps.size(); ++i) {
    const pipeline::TraceStep& s = steps[i];
    out += "<tr><td>" + std::to_string(i + 1) + "</td><td><code>" + html_escape(s.stage) +
           "</code></td><td>" + html_escape(s.detail) + "</td><td>" + labels_html(s.labels) +
           "</td></tr>";
  }
  return out + "</table>";
}

std::string trace_result_html(const pipeline::SeriesTrace& t) {
  std::string out = "<h2>Steps</h2>" + steps_html(t.steps);
  if (!t.tenant.empty()) out += "<p>Tenant: <code>" + html_escape(t.tenant) + "</code></p>";
  out +=
      "<h2>What each sink is sent</h2><table class=\"sinks\"><tr><th>sink</th>"
      "<th>outcome</th><th>labels</th></tr>";
  for (const pipeline::SinkTrace& s : t.sinks) {
    out += "<tr><td><code>" + html_escape(s.name) + "</code></td><td>";
    out += s.dropped_by.empty() ? std::string("<span class=\"sent\">sent</span>")
                                : "<span class=\"dropped\">dropped by <code>" +
                                      html_escape(s.dropped_by) + "</code></span>";
    out += "</td><td>" + labels_html(s.labels);
    if (!s.steps.empty()) out += steps_html(s.steps);
    out += "</td></tr>";
  }
  return out + "</table>";
}

std::string error_html(std::string_view why) {
  return "<p class=\"error\">" + html_escape(why) + "</p>";
}

}  // namespace

void text_response(HttpResponse& res, http::status status, std::string body) {
  res.result(status);
  res.set(http::field::content_type, "text/plain; charset=utf-8");
  res.body() = std::move(body);
}

std::string html_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (const char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

void serve_trace_api(const IngestSnapshot& snapshot, const HttpRequest& req, HttpResponse& res,
                     std::string_view sender) {
  auto answer = [&res](http::status status, std::string body) {
    res.result(status);
    res.set(http::field::content_type, "application/json");
    res.body() = std::move(body) + "\n";
  };
  if (req.method() != http::verb::post) {
    res.set(http::field::allow, "POST");
    return answer(http::status::method_not_allowed, R"({"error":"use POST"})");
  }
  TraceQuery query;
  std::string why;
  if (!parse_trace_query(req.body(), snapshot.names, query, why)) {
    std::string body = "{\"error\":";
    append_json_string(body, why);
    return answer(http::status::bad_request, body + "}");
  }
  answer(http::status::ok, pipeline::trace_json(run_trace(snapshot, query, sender)));
}

void serve_trace_page(const IngestSnapshot& snapshot, const HttpRequest& req, HttpResponse& res,
                      std::string_view sender, const std::vector<pipeline::TraceLabels>& recent) {
  const std::string target(req.target());
  const std::optional<std::string> labels = net::query_param(target, "labels");
  const std::string rules = net::query_param(target, "rules").value_or("");
  std::string body =
      "<p>Paste a label set as a JSON object and see what each step of the running pipeline "
      "does to it: the tenant, the load-balancer verdict, the enrichment lookup, every relabel "
      "rule, and what each sink is sent. Nothing is sent anywhere.</p>"
      "<form method=\"get\" action=\"/trace\"><p><label for=\"labels\">Labels (JSON)</label>"
      "<textarea id=\"labels\" name=\"labels\" rows=\"4\">" +
      html_escape(
          labels.value_or(R"({"__name__": "up", "job": "node", "instance": "10.0.0.1:9100"})")) +
      "</textarea></p><p><label for=\"rules\">Rules to try in place of relabel_configs "
      "(optional YAML list of relabel_config entries)</label><textarea id=\"rules\" "
      "name=\"rules\" rows=\"4\">" +
      html_escape(rules) +
      "</textarea></p><p><button type=\"submit\" id=\"trace\">Trace"
      "</button></p></form>";
  if (!recent.empty()) {
    body += "<details id=\"recent\"><summary>Or pick a series received lately</summary><ul>";
    for (const pipeline::TraceLabels& r : recent) {
      body += "<li><a href=\"/trace?labels=" + html_escape(net::percent_encode(labels_json(r))) +
              "\">" + labels_html(r) + "</a></li>";
    }
    body += "</ul></details>";
  }
  if (labels) {
    TraceQuery query;
    std::string why;
    if (!parse_trace_labels(*labels, query.labels, why)) {
      body += error_html("labels: " + why);
    } else if (!rules.empty() &&
               !parse_trace_rules(rules, snapshot.names, query.rules.emplace(), why)) {
      body += error_html(why);
    } else {
      const pipeline::SeriesTrace t = run_trace(snapshot, query, sender);
      std::string link = "/trace?labels=" + net::percent_encode(labels_json(query.labels));
      if (!rules.empty()) link += "&rules=" + net::percent_encode(rules);
      body += "<p>Input: " + labels_html(t.input) + " <a id=\"link\" href=\"" + html_escape(link) +
              "\">link to this trace</a></p>" + trace_result_html(t);
    }
  }
  render_page(res, "/trace", "Trace a series", body);
}

void serve_config_page(const IngestSnapshot& snapshot, HttpResponse& res) {
  const std::string body =
      snapshot.config_yaml.empty()
          ? std::string("<p>Running on the built-in default config (no --config.file).</p>")
          : "<p class=\"muted\">The config file as last loaded, secrets shown as "
            "&lt;secret&gt;.</p><pre id=\"config\">" +
                html_escape(snapshot.config_yaml) + "</pre>";
  render_page(res, "/config", "Configuration", body);
}

}  // namespace rwgate::proxy
