// What the pages and the trace API promise about untrusted text: secrets never shown,
// label values escaped, request bodies refused with a reason.
#include "proxy/pages.h"

#include <gtest/gtest.h>

#include "proxy/config.h"
#include "proxy/status_page.h"
#include "proxy/trace_service.h"

namespace rwgate::proxy {
namespace {

TEST(RedactedYamlTest, EverySecretIsReplacedAndTheRestKept) {
  const std::string shown = redacted_yaml(R"(
discovery:
  sources:
    - aws: { region: us-east-1, access_key: AKIDEXAMPLE, secret_key: wJalrXUtnFEMI }
sinks:
  - name: s
    remote_write:
      url: https://user:pass@store.example/api/v1/write
      headers: { X-Api-Key: k3y, X-Scope-OrgID: team }
      basic_auth: { username: u, password: hunter2, password_file: /etc/pw }
      authorization: { type: Bearer, credentials: t0ken }
      oauth2: { client_id: id, client_secret: shh, token_url: 'https://auth/token' }
      sigv4: { region: us-east-1, secret_key: sig }
)");
  for (const char* secret :
       {"wJalrXUtnFEMI", "pass@", "k3y", "team", "hunter2", "t0ken", "shh", "sig\n"})
    EXPECT_EQ(shown.find(secret), std::string::npos) << secret << " in\n" << shown;
  for (const char* kept : {"access_key: AKIDEXAMPLE", "username: u", "password_file: /etc/pw",
                           "https://<secret>@store.example/api/v1/write", "client_id: id",
                           "https://auth/token", "type: Bearer", "password: <secret>"})
    EXPECT_NE(shown.find(kept), std::string::npos) << kept << " not in\n" << shown;
  EXPECT_EQ(redacted_yaml("a: [unclosed"), "");
}

TEST(PagesTest, HtmlAndUrlEscaping) {
  EXPECT_EQ(html_escape("<script>\"a\" & 'b'</script>"),
            "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;");
  EXPECT_EQ(net::percent_encode("{\"a\": \"b&c\"}"), "%7B%22a%22%3A%20%22b%26c%22%7D");
}

TEST(TraceQueryTest, ReadsLabelsAndRulesAndRefusesTheRest) {
  TraceQuery q;
  std::string why;
  ASSERT_TRUE(parse_trace_query(R"({"labels": {"job": "x", "__name__": "up", "e": ""},
                                    "rules": "- {target_label: t, replacement: v}"})",
                                relabel::NameValidation::kUtf8, q, why))
      << why;
  EXPECT_EQ(q.labels, (pipeline::TraceLabels{{"__name__", "up"}, {"e", ""}, {"job", "x"}}));
  ASSERT_TRUE(q.rules.has_value());
  EXPECT_EQ(q.rules->size(), 1u);
  // Standard JSON: \u escapes with surrogate pairs, other members ignored.
  ASSERT_TRUE(
      parse_trace_query(R"({"labels": {"v": "a\u003cb\ud83d\ude00"}, "x": [1, {"y": null}]})",
                        relabel::NameValidation::kUtf8, q, why))
      << why;
  EXPECT_EQ(q.labels[0].second, "a<b\xf0\x9f\x98\x80");
  EXPECT_FALSE(q.rules.has_value());

  const std::pair<const char*, const char*> bad[] = {
      {"{", "the body is not a JSON object"},
      {R"({"labels": {"a": 1}})", "labels: the value of \"a\" must be a string"},
      {R"({"labels": {"a": null}})", "labels: the value of \"a\" must be a string"},
      {R"({"labels": {"a": {"b": "c"}}})", "labels: the value of \"a\" must be a string"},
      {R"({"labels": {"a": "b", "a": "c"}})", "labels: label \"a\" appears twice"},
      {R"({"labels": {}, "labels": {}})", "\"labels\" appears twice"},
      {R"({"labels": "x"})", "the body must be"},
      {R"({"labels": {}, "rules": [1]})", "rules: must be a string"},
      {R"({"labels": {}, "rules": "- {action: nope}"})", "rules[0]"},
      {R"({"labels": {}, "rules": "a: b"})", "not a list"},
  };
  const std::string deep =
      R"({"labels": {}, "x": )" + std::string(65, '[') + std::string(65, ']') + "}";
  EXPECT_FALSE(parse_trace_query(deep, relabel::NameValidation::kUtf8, q, why));
  EXPECT_NE(why.find("nested too deep"), std::string::npos) << why;
  for (const auto& [body, want] : bad) {
    EXPECT_FALSE(parse_trace_query(body, relabel::NameValidation::kUtf8, q, why)) << body;
    EXPECT_NE(why.find(want), std::string::npos) << body << ": " << why;
  }
}

constexpr std::string_view kHostile = "<script>alert(1)</script>";

TEST(StatusPageTest, EscapesWhatSendersDiscoveryAndStoresSaid) {
  StatusView v;
  v.now = Clock::WallTime(std::chrono::seconds(1'800'000'000));
  v.started = v.now - std::chrono::seconds(3700);
  sinks::SinkStatus sink;
  sink.name = "store";
  sink.state = "retrying";
  sink.last_error = "HTTP 500: " + std::string(kHostile);
  v.sinks.push_back(sink);
  lb::LbTargetReport t;
  t.instance = std::string(kHostile);
  t.fix = "scrape_configs: " + std::string(kHostile);
  v.lb_targets.push_back(t);
  discovery::InstanceRecord r;
  r.instance_id = std::string(kHostile);
  v.fleet = std::make_shared<discovery::DiscoverySnapshot>(1, std::vector{r});
  v.tracking = true;
  v.reload = {v.now, false, std::string(kHostile)};
  HttpResponse res;
  serve_status_page(v, res);
  EXPECT_EQ(res.body().find("<script>alert"), std::string::npos);
  EXPECT_NE(res.body().find("&lt;script&gt;alert(1)"), std::string::npos);
  EXPECT_NE(res.body().find("up 1h1m"), std::string::npos);
  EXPECT_NE(res.body().find("<script src=\"/static/refresh.js\" defer></script>"),
            std::string::npos);

  HttpRequest req(boost::beast::http::verb::get, "/instances?asg=", 11);
  const std::map<std::string, size_t> series = {{std::string(kHostile), 7}};
  serve_instances_page(v.fleet.get(), &series, v.now, req, res);
  EXPECT_NE(res.body().find("<td>7</td>"), std::string::npos);
  EXPECT_EQ(res.body().find("<script>alert"), std::string::npos);
  EXPECT_NE(res.body().find("1 of 1 instances"), std::string::npos);
}

TEST(StatusHistoryTest, RatesFromConsecutiveCountersAndAnHourKept) {
  StatusHistory h;
  std::vector<sinks::SinkStatus> sinks(1);
  sinks[0].name = "s";
  sinks[0].queue_capacity_bytes = 100;
  Clock::WallTime at{};
  for (size_t i = 0; i < StatusHistory::kPoints + 5; ++i) {
    sinks[0].forwarded_samples = 50.0 * static_cast<double>(i);
    sinks[0].queue_bytes = static_cast<int64_t>(i % 100);
    h.sample(at, 100.0 * static_cast<double>(i), sinks);
    at += std::chrono::seconds(5);
  }
  EXPECT_EQ(h.points().size(), StatusHistory::kPoints);
  ASSERT_EQ(h.sink_rates().size(), 1u);
  EXPECT_DOUBLE_EQ(h.sink_rates()[0].second, 10.0);  // 50 samples in 5 s
  EXPECT_DOUBLE_EQ(h.points().back().samples_out, 50.0 * (StatusHistory::kPoints + 4));
}

TEST(SendHealthTest, RetryingAndFailingUntilADeliveryWithTheLastError) {
  sinks::SendHealth health;
  sinks::SinkStatus st;
  health.fill(st);
  EXPECT_EQ(st.state, "ok");
  EXPECT_EQ(st.state_since, Clock::WallTime{});
  health.retrying("connection refused");
  health.fill(st);
  EXPECT_EQ(st.state, "retrying");
  EXPECT_EQ(st.last_error, "connection refused");
  EXPECT_NE(st.state_since, Clock::WallTime{});
  health.refused("HTTP 400: bad labels");
  health.fill(st);
  EXPECT_EQ(st.state, "failing");
  health.delivered();
  health.fill(st);
  EXPECT_EQ(st.state, "ok");
  EXPECT_EQ(st.last_error, "HTTP 400: bad labels");  // kept: when it last went wrong
}

}  // namespace
}  // namespace rwgate::proxy
