#include "proxy/config.h"

#include <gtest/gtest.h>

namespace rwgate::proxy {
namespace {

bool has_error(const ConfigResult& r, const std::string& text) {
  for (const auto& e : r.errors) {
    if (e.find(text) != std::string::npos) return true;
  }
  return false;
}

TEST(DurationTest, ParsesPrometheusDurations) {
  EXPECT_EQ(parse_duration("30s"), Duration(30000));
  EXPECT_EQ(parse_duration("1h30m"), Duration(90 * 60 * 1000));
  EXPECT_EQ(parse_duration("250ms"), Duration(250));
  EXPECT_EQ(parse_duration("1d"), Duration(24LL * 3600 * 1000));
  EXPECT_EQ(parse_duration("0"), Duration(0));
  EXPECT_EQ(parse_duration("1m1s5ms"), Duration(61005));
}

TEST(DurationTest, RejectsWhatPrometheusRejects) {
  for (const char* bad :
       {"", "5", "1.5s", "s", "5x", "1s1m", "1s1s", "-5s", "5 s", "99999999999999999999y"}) {
    EXPECT_FALSE(parse_duration(bad).has_value()) << bad;
  }
}

TEST(DurationTest, FormatsBack) {
  EXPECT_EQ(format_duration(Duration(90 * 60 * 1000 + 1500)), "1h30m1s500ms");
  EXPECT_EQ(format_duration(Duration(0)), "0s");
}

TEST(UrlTest, ParsesHostPortAndPath) {
  std::string why;
  auto u = parse_url("http://127.0.0.1:8428/api/v1/write", why);
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, "8428");
  EXPECT_EQ(u->target, "/api/v1/write");
  u = parse_url("http://[::1]:9090", why);
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->target, "/");
  u = parse_url("http://store/api/v1/push?tenant=a", why);
  ASSERT_TRUE(u);
  EXPECT_EQ(u->port, "80");
  EXPECT_EQ(u->target, "/api/v1/push?tenant=a");
}

TEST(UrlTest, RejectsWhatItCannotSendTo) {
  std::string why;
  EXPECT_FALSE(parse_url("localhost:8428", why));
  EXPECT_FALSE(parse_url("ftp://x/y", why));
  EXPECT_FALSE(parse_url("http://:80/", why));
  EXPECT_FALSE(parse_url("http://h:99999/", why));
  EXPECT_FALSE(parse_url("http://user:pw@h/", why));
}

TEST(ConfigTest, MinimalConfigGetsTheDocumentedDefaults) {
  auto r = parse_config(
      "sinks:\n  - name: s\n    remote_write:\n      url: http://127.0.0.1:8428/api/v1/write\n");
  ASSERT_TRUE(r.config) << r.errors.front();
  const Config& c = *r.config;
  EXPECT_EQ(c.server.listen_address, "127.0.0.1:9201");
  EXPECT_EQ(c.server.max_request_bytes, 33554432u);
  EXPECT_EQ(c.server.max_decoded_bytes, 134217728u);
  const auto& rw = c.sinks.at(0).remote_write;
  EXPECT_EQ(rw.protocol, proto::Protocol::kV1);
  EXPECT_EQ(rw.timeout, Duration(30000));
  EXPECT_EQ(rw.queue.max_samples_per_send, 2000);
  EXPECT_EQ(rw.queue.batch_send_deadline, Duration(5000));
  EXPECT_EQ(rw.queue.shards, 4);
  EXPECT_EQ(rw.queue.min_backoff, Duration(30));
  EXPECT_EQ(rw.queue.max_backoff, Duration(5000));
  EXPECT_TRUE(rw.queue.retry_on_http_429);
  EXPECT_EQ(rw.buffer.max_bytes, 1073741824u);
}

TEST(ConfigTest, ReportsEveryErrorWithPathAndLine) {
  auto r = parse_config(R"(server:
  max_request_bytes: 12
  bogus: 1
sinks:
  - name: s
    remote_write:
      url: http://h/w
      timeout: 0
      queue: { min_backoff: 10s, max_backoff: 1s, retry_on_http_429: maybe }
      buffer: { type: tape, fsync: sometimes }
)");
  EXPECT_FALSE(r.config);
  EXPECT_TRUE(has_error(r, "server.max_request_bytes (line 2): must be between"));
  EXPECT_TRUE(has_error(r, "server.bogus (line 3): unknown key"));
  EXPECT_TRUE(has_error(r, "sinks[0].remote_write.timeout (line 8): must be positive"));
  EXPECT_TRUE(has_error(
      r, "sinks[0].remote_write.queue.min_backoff (line 9): must not exceed max_backoff"));
  EXPECT_TRUE(has_error(r, "retry_on_http_429 (line 9): must be true or false"));
  EXPECT_TRUE(has_error(
      r, "sinks[0].remote_write.buffer.type (line 10): must be memory or disk, not \"tape\""));
  EXPECT_TRUE(has_error(r, "sinks[0].remote_write.buffer.fsync (line 10): must be always, batch"));
  EXPECT_EQ(r.errors.size(), 7u);
}

TEST(ConfigTest, RefusesSettingsThatCouldNotWork) {
  auto r = parse_config(R"(server: { listen_address: "127.0.0.1:http" }
sinks:
  - name: a
    remote_write:
  - name: b
    remote_write: { url: "http://h:/w", queue: { min_backoff: 0 } }
)");
  EXPECT_FALSE(r.config);
  EXPECT_TRUE(has_error(r, "server.listen_address (line 1): must be HOST:PORT"));
  EXPECT_TRUE(has_error(r, "sinks[0].remote_write (line 4): missing"));
  EXPECT_TRUE(has_error(r, "sinks[1].remote_write.url (line 6): empty port"));
  EXPECT_TRUE(has_error(r, "sinks[1].remote_write.queue.min_backoff (line 6): must be positive"));
}

TEST(ConfigTest, YamlSyntaxErrorIsReportedWithItsLine) {
  auto r = parse_config("sinks:\n  - name: [unclosed\n");
  EXPECT_FALSE(r.config);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].find("line"), std::string::npos);
}

TEST(ConfigTest, LoadBalancerDetectionDefaultsAndOverrides) {
  const std::string sinks = "sinks: [{name: a, remote_write: {url: 'http://127.0.0.1:1/w'}}]\n";
  ConfigResult d = parse_config(sinks);
  ASSERT_TRUE(d.config) << d.errors[0];
  const lb::LbRules& lb = d.config->load_balancer_detection;
  EXPECT_TRUE(lb.enabled);
  EXPECT_EQ(lb.action, lb::LbAction::kAnnotate);
  EXPECT_EQ(lb.label, "scrape_via");
  ASSERT_NE(lb.names, nullptr);
  EXPECT_GE(lb.names->match("x-1.us-east-1.elb.amazonaws.com"), 0);
  EXPECT_EQ(lb.identity_metrics, std::vector<std::string>{"process_start_time_seconds"});

  ConfigResult c = parse_config(sinks + R"(
load_balancer_detection:
  action: drop
  label: via
  host_patterns: ['haproxy-\d+']
  identity_metrics: [app_start_time_seconds]
  counter_metrics: ["app:requests_total"]
  jobs: { api: pass, web: annotate }
)");
  ASSERT_TRUE(c.config) << c.errors[0];
  const lb::LbRules& o = c.config->load_balancer_detection;
  EXPECT_EQ(o.action, lb::LbAction::kDrop);
  EXPECT_EQ(o.action_for("api"), lb::LbAction::kPass);
  EXPECT_EQ(o.action_for("web"), lb::LbAction::kAnnotate);
  EXPECT_EQ(o.action_for("other"), lb::LbAction::kDrop);
  EXPECT_EQ(o.label, "via");
  EXPECT_GE(o.names->match("haproxy-12:80"), 0);
  EXPECT_EQ(o.counter_metrics, std::vector<std::string>{"app:requests_total"});
}

TEST(ConfigTest, LoadBalancerDetectionErrorsHaveTheirPaths) {
  ConfigResult r = parse_config(R"(
load_balancer_detection:
  action: block
  label: __via
  host_patterns: ['ok', '(']
  identity_metrics: ['bad name']
  jobs: { api: maybe }
  extra: 1
sinks: [{name: a, remote_write: {url: 'http://127.0.0.1:1/w'}}]
)");
  EXPECT_FALSE(r.config);
  EXPECT_TRUE(
      has_error(r, "load_balancer_detection.action (line 3): must be annotate, drop or pass"));
  EXPECT_TRUE(has_error(r, "load_balancer_detection.label (line 4)"));
  EXPECT_TRUE(has_error(r, "load_balancer_detection.host_patterns[1] (line 5): invalid regex"));
  EXPECT_TRUE(has_error(r, "load_balancer_detection.identity_metrics[0] (line 6)"));
  EXPECT_TRUE(has_error(r, "load_balancer_detection.jobs.api (line 7)"));
  EXPECT_TRUE(has_error(r, "load_balancer_detection.extra (line 8): unknown key"));
}

TEST(ConfigTest, AwsSourceSettingsAndErrors) {
  const std::string sinks = "sinks: [{name: a, remote_write: {url: 'http://127.0.0.1:1/w'}}]\n";
  ConfigResult ok = parse_config(sinks + R"(
discovery:
  sources:
    - aws:
        region: eu-west-1
        endpoint: https://127.0.0.1:8443
        auto_scaling_groups: [web, api]
        refresh_interval: 45s
        load_balancers: false
        profile: prod
)");
  ASSERT_TRUE(ok.config) << ok.errors[0];
  ASSERT_EQ(ok.config->discovery.aws.size(), 1u);
  const discovery::AwsSdConfig& a = ok.config->discovery.aws[0];
  EXPECT_EQ(a.client.region, "eu-west-1");
  EXPECT_EQ(a.auto_scaling_groups, (std::vector<std::string>{"web", "api"}));
  EXPECT_EQ(a.refresh_interval, std::chrono::seconds(45));
  EXPECT_FALSE(a.load_balancers);
  EXPECT_EQ(a.client.profile, "prod");
  EXPECT_TRUE(ok.config->discovery.any());

  ConfigResult bad = parse_config(sinks + R"(
discovery:
  sources:
    - aws:
        region: us-east-1
        endpoint: ftp://x
        access_key_id: AKIDEXAMPLE
        refresh_interval: 0s
        colour: blue
)");
  EXPECT_FALSE(bad.config);
  EXPECT_TRUE(has_error(bad, "discovery.sources[0].aws.endpoint (line 7): scheme \"ftp\""));
  EXPECT_TRUE(has_error(bad, "access_key_id and secret_access_key_file go together"));
  EXPECT_TRUE(
      has_error(bad, "discovery.sources[0].aws.refresh_interval (line 9): must be positive"));
  EXPECT_TRUE(has_error(bad, "discovery.sources[0].aws.colour (line 10): unknown key"));
  ConfigResult unreadable = parse_config(sinks + R"(
discovery:
  sources:
    - aws: {region: us-east-1, access_key_id: AKID, secret_access_key_file: /nonexistent/secret}
)");
  EXPECT_TRUE(has_error(unreadable, "secret_access_key_file (line 5): cannot read a key"));
}

TEST(ConfigTest, DiskBufferSettings) {
  ConfigResult c = parse_config(R"(
sinks:
  - name: a
    remote_write:
      url: http://127.0.0.1:1/w
      buffer: { type: disk, max_bytes: 2097152, fsync: always, on_full: drop_oldest }
  - name: b
    remote_write:
      url: http://127.0.0.1:1/w
      buffer: { type: disk, path: /var/lib/rwgate/b }
)");
  ASSERT_TRUE(c.config) << c.errors[0];
  const BufferConfig& a = c.config->sinks[0].remote_write.buffer;
  EXPECT_EQ(a.path, "data/a");
  EXPECT_EQ(a.fsync, sinks::FsyncMode::kAlways);
  EXPECT_TRUE(a.drop_oldest);
  EXPECT_EQ(c.config->sinks[1].remote_write.buffer.path, "/var/lib/rwgate/b");
  EXPECT_EQ(c.config->sinks[1].remote_write.buffer.fsync, sinks::FsyncMode::kBatch);
  ConfigResult bad = parse_config(R"(
sinks:
  - name: a
    remote_write: { url: http://127.0.0.1:1/w, buffer: { type: disk, path: /x, on_full: wait } }
  - name: b
    remote_write: { url: http://127.0.0.1:1/w, buffer: { type: disk, path: /x } }
  - name: c
    remote_write: { url: http://127.0.0.1:1/w, buffer: { type: memory, fsync: always } }
)");
  EXPECT_TRUE(has_error(
      bad, "sinks[0].remote_write.buffer.on_full (line 4): must be block or drop_oldest"));
  EXPECT_TRUE(
      has_error(bad, "sinks[1].remote_write.buffer.path (line 5): another sink uses \"/x\""));
  EXPECT_TRUE(has_error(
      bad, "sinks[2].remote_write.buffer (line 8): path, fsync and on_full are for type: disk"));
}

TEST(ConfigTest, StalenessSettings) {
  const std::string sinks = "sinks: [{name: a, remote_write: {url: 'http://127.0.0.1:1/w'}}]\n";
  ConfigResult d = parse_config(sinks);
  ASSERT_TRUE(d.config);
  EXPECT_TRUE(d.config->staleness.on_terminate);
  EXPECT_TRUE(d.config->staleness.drop_late_samples);
  EXPECT_EQ(d.config->staleness.series_idle_timeout, std::chrono::minutes(15));
  ConfigResult c = parse_config(
      sinks +
      "staleness: {on_terminate: false, drop_late_samples: false, series_idle_timeout: 1h}");
  ASSERT_TRUE(c.config) << c.errors[0];
  EXPECT_FALSE(c.config->staleness.on_terminate);
  EXPECT_EQ(c.config->staleness.series_idle_timeout, std::chrono::hours(1));
  ConfigResult bad =
      parse_config(sinks + "staleness: {on_terminate: maybe, series_idle_timeout: 0s}");
  EXPECT_TRUE(has_error(bad, "staleness.on_terminate (line 2): must be true or false"));
  EXPECT_TRUE(has_error(bad, "staleness.series_idle_timeout (line 2): must be at least 1s"));
}

TEST(ConfigTest, CoverageIsOnWithDiscoveryAndItsErrorsHaveTheirPaths) {
  const std::string sinks =
      "sinks: [{name: a, remote_write: {url: 'http://127.0.0.1:1/w'}},"
      " {name: b, remote_write: {url: 'http://127.0.0.1:2/w'}}]\n";
  const std::string discovery = "discovery: {sources: [{file: {files: [x.json]}}]}\n";
  ConfigResult off = parse_config(sinks);
  ASSERT_TRUE(off.config);
  EXPECT_FALSE(off.config->coverage.enabled);
  ConfigResult on = parse_config(sinks + discovery);
  ASSERT_TRUE(on.config) << on.errors[0];
  EXPECT_TRUE(on.config->coverage.enabled);
  EXPECT_EQ(on.config->coverage.window, std::chrono::minutes(2));
  EXPECT_EQ(on.config->coverage.interval, std::chrono::seconds(15));
  EXPECT_EQ(on.config->coverage.lifecycle_states, (std::vector<std::string>{"InService"}));
  EXPECT_TRUE(on.config->coverage.emit_series);
  ConfigResult set = parse_config(sinks + discovery +
                                  "coverage: {window: 5m, interval: 30s, sinks: [b], "
                                  "lifecycle_states: [InService, Standby], emit_series: false}");
  ASSERT_TRUE(set.config) << set.errors[0];
  EXPECT_EQ(set.config->coverage.window, std::chrono::minutes(5));
  EXPECT_EQ(set.config->coverage.sinks, (std::vector<std::string>{"b"}));
  EXPECT_FALSE(set.config->coverage.emit_series);
  ConfigResult bad = parse_config(sinks + "coverage: {enabled: true, window: 10s, sinks: [c]}");
  EXPECT_TRUE(has_error(bad, "coverage.enabled (line 2): needs a discovery source"));
  EXPECT_TRUE(has_error(bad, "coverage.window (line 2): must be at least the interval"));
  EXPECT_TRUE(has_error(bad, "coverage.sinks[0] (line 2): no sink is named \"c\""));
}

TEST(ConfigTest, StoreAuthenticationAsPrometheusWritesIt) {
  auto r = parse_config(R"(sinks:
  - name: amp
    remote_write:
      url: https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-1/api/v1/remote_write
      sigv4: { role_arn: "arn:aws:iam::1:role/w" }
      proxy_url: http://proxy.internal:3128
  - name: mimir
    remote_write:
      url: https://mimir/api/v1/push
      oauth2:
        client_id: rwgate
        client_secret: s
        token_url: https://idp/token
        scopes: [a, b]
        endpoint_params: { audience: m }
)");
  ASSERT_TRUE(r.config) << (r.errors.empty() ? "" : r.errors[0]);
  const auto& amp = r.config->sinks[0].remote_write;
  EXPECT_EQ(amp.auth.kind, sinks::AuthConfig::Kind::kSigV4);
  EXPECT_EQ(amp.auth.sigv4.region, "eu-west-1");  // from the URL
  EXPECT_EQ(amp.auth.sigv4.service_name, "aps");
  ASSERT_TRUE(amp.proxy);
  EXPECT_EQ(amp.proxy->port, "3128");
  const auto& mimir = r.config->sinks[1].remote_write;
  EXPECT_EQ(mimir.auth.kind, sinks::AuthConfig::Kind::kOAuth2);
  EXPECT_EQ(mimir.auth.oauth2.scopes, (std::vector<std::string>{"a", "b"}));
  ASSERT_EQ(mimir.auth.oauth2.endpoint_params.size(), 1u);
  EXPECT_EQ(mimir.auth.oauth2.token_url.host, "idp");
}

TEST(ConfigTest, StoreAuthenticationErrorsHaveTheirPaths) {
  auto r = parse_config(R"(sinks:
  - name: a
    remote_write:
      url: http://h/w
      oauth2: { client_secret: s, client_secret_file: /nonexistent/secret }
      authorization: { credentials: t }
      proxy_url: socks5://p:1080
)");
  EXPECT_FALSE(r.config);
  EXPECT_TRUE(has_error(r,
                        "sinks[0].remote_write.oauth2 (line 5): authorization and oauth2 are "
                        "mutually exclusive"));
  EXPECT_TRUE(has_error(r, "sinks[0].remote_write.proxy_url (line 7)"));
  auto o = parse_config(R"(sinks:
  - name: a
    remote_write:
      url: http://h/w
      oauth2: { client_secret: s, client_secret_file: /nonexistent/secret }
)");
  EXPECT_TRUE(has_error(o, "sinks[0].remote_write.oauth2.client_id (line 5): missing"));
  EXPECT_TRUE(has_error(o, "sinks[0].remote_write.oauth2.token_url (line 5): missing"));
  EXPECT_TRUE(has_error(o,
                        "sinks[0].remote_write.oauth2.client_secret_file (line 5): "
                        "client_secret and client_secret_file are mutually exclusive"));
  EXPECT_TRUE(has_error(o, "/nonexistent/secret"));
}

TEST(ConfigTest, TenantsTravelByHeaderOrUrlAndNeedTenancy) {
  auto ok = parse_config(R"(tenancy: { label: team, label_remove: true }
limits: { default: { ingestion_rate: 1000 }, tenants: { team-a: { max_series: 10 } } }
sinks:
  - name: mimir
    remote_write: { url: 'http://h/api/v1/push', tenant_header: X-Scope-OrgID }
  - name: vm
    remote_write: { url: 'http://h/insert/{tenant}/prometheus/api/v1/write' }
  - name: all
    remote_write: { url: 'http://h/w' }
)");
  ASSERT_TRUE(ok.config) << (ok.errors.empty() ? "" : ok.errors[0]);
  EXPECT_TRUE(ok.config->sinks[0].remote_write.per_tenant());
  EXPECT_TRUE(ok.config->sinks[1].remote_write.per_tenant());
  EXPECT_FALSE(ok.config->sinks[2].remote_write.per_tenant());
  EXPECT_EQ(ok.config->limits.tenants.at("team-a").ingestion_rate, 1000);
  auto bad = parse_config(R"(sinks:
  - name: a
    remote_write: { url: 'http://h/w', tenant_header: X-Scope-OrgID }
  - name: b
    remote_write: { url: 'http://h/w', tenant_header: Content-Type }
  - name: c
    remote_write: { url: 'http://h/w', tenant_header: 'a b' }
  - name: d
    remote_write: { url: 'http://h/w', tenant_header: X-Org, headers: { x-org: '1' } }
  - name: e
    remote_write: { url: 'http://{tenant}.h/w' }
)");
  EXPECT_TRUE(has_error(bad,
                        "sinks[0].remote_write (line 3): tenant_header or {tenant} in url "
                        "needs a tenancy section"));
  EXPECT_TRUE(has_error(bad, "sinks[1].remote_write.tenant_header (line 5): header is set by"));
  EXPECT_TRUE(has_error(bad, "sinks[2].remote_write.tenant_header (line 7): must be an HTTP"));
  EXPECT_TRUE(has_error(bad, "sinks[3].remote_write.tenant_header (line 9): is also set in"));
  EXPECT_TRUE(has_error(bad, "sinks[4].remote_write.url"));
}

TEST(ConfigTest, NoSinksIsAnError) {
  auto r = parse_config("server: { listen_address: 127.0.0.1:9201 }\n");
  EXPECT_TRUE(has_error(r, "at least one sink"));
}

TEST(ConfigTest, SinkFingerprintChangesWithItsSettings) {
  auto a = parse_config("sinks: [{name: s, remote_write: {url: 'http://h/w'}}]");
  auto b = parse_config("sinks: [{name: s, remote_write: {url: 'http://h/w', timeout: 5s}}]");
  auto c = parse_config(
      "sinks: [{name: s, remote_write: {url: 'http://h/w'}}]\nserver: {worker_threads: 2}");
  ASSERT_TRUE(a.config && b.config && c.config);
  EXPECT_NE(a.config->sinks[0].fingerprint, b.config->sinks[0].fingerprint);
  EXPECT_EQ(a.config->sinks[0].fingerprint, c.config->sinks[0].fingerprint);
}

}  // namespace
}  // namespace rwgate::proxy
