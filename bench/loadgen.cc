// rwgate-loadgen: remote_write traffic for benchmarks, and a null receiver to take it.
//
//   rwgate-loadgen send    --url=http://127.0.0.1:9201/api/v1/write [options]
//   rwgate-loadgen send    --url=https://127.0.0.1:9201/api/v1/write --ca-file=ca.pem [options]
//   rwgate-loadgen receive --listen=127.0.0.1:9301 [--tls-cert=server.pem --tls-key=server.key]
//   rwgate-loadgen fleet   --file=fleet.json [--targets=N]
//
// send: N targets x M series, ~12 labels each (node_exporter-like families, a few
// high-cardinality labels), one sample per series per scrape round. Every series belongs
// to one request slot, as a Prometheus shard would batch it, and slots are spread over K
// keep-alive connections. The requests of a few rounds are built and snappy-compressed
// before the clock starts, so the generator spends its CPU on the wire, not on encoding;
// later rounds reuse them (timestamps repeat: null receivers do not care). At --rate=0 it
// sends as fast as accepted; otherwise it paces each connection to its share of the rate.
// A 429 or 5xx is retried after 50 ms (the sample is not lost, as with Prometheus). It
// prints one JSON object: samples/s accepted, status codes, request latency percentiles.
// An https:// URL is TLS on the same keep-alive connections, the server's certificate
// verified against --ca-file (or the system's CAs) and the URL's host, as a Prometheus
// sender would: a proxy's TLS cost is measured with one handshake per connection, not
// per request.
//
// receive: answers 204 to every POST on /api/v1/write after decoding it with rwgate's
// codec, counting requests, series, samples, series that carry an `asg` label (the
// proof enrichment happened) and distinct label sets with an order-independent digest of
// them (the proof two proxies delivered the same series). GET /stats returns them as JSON.
// With --tls-cert and --tls-key it serves HTTPS only (/stats too).
//
// fleet: writes a file_sd list for the targets, with the meta labels rwgate's enrichment
// reads, consistent with the static rules bench/compare-vmagent gives vmagent.
#include <openssl/err.h>
#include <signal.h>
#include <snappy.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <cstdio>
#include <deque>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <numeric>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <type_traits>
#include <unordered_set>
#include <vector>

#include "base/net.h"
#include "proto/decode.h"
#include "proto/encode.h"
#include "proto/hash.h"

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;
// Sync TLS over a plain socket; Beast's wrapper coalesces a request's header and body
// buffers into full TLS records, as rwgate's own streams do.
using TlsStream = beast::ssl_stream<tcp::socket>;
using Clock = std::chrono::steady_clock;
using namespace rwgate;

[[noreturn]] void usage(const std::string& why) {
  std::cerr << "rwgate-loadgen: " << why << "\n"
            << "usage:\n"
               "  rwgate-loadgen send --url=URL [--targets=100] [--series-per-target=1000]\n"
               "      [--batch=2000] [--protocol=v1|v2] [--connections=4] [--rate=0]\n"
               "      [--duration=10] [--rounds=2] [--ca-file=PATH (https:// only)]\n"
               "      [--external-labels=NAME=VALUE,...]\n"
               "  rwgate-loadgen receive --listen=HOST:PORT [--tls-cert=PATH --tls-key=PATH]\n"
               "  rwgate-loadgen fleet --file=PATH [--targets=100]\n";
  std::exit(2);
}

struct Flags {
  std::map<std::string, std::string> values;
  // Refuses a flag the command does not know, so a typo never runs the wrong workload.
  void only(std::initializer_list<std::string_view> known) const {
    for (const auto& [k, v] : values) {
      if (std::find(known.begin(), known.end(), k) == known.end()) usage("unknown flag --" + k);
    }
  }
  std::string get(const std::string& k, const std::string& def) const {
    auto it = values.find(k);
    return it == values.end() ? def : it->second;
  }
  long num(const std::string& k, long def) const {
    const std::string v = get(k, "");
    if (v.empty()) return def;
    char* end = nullptr;
    const long n = std::strtol(v.c_str(), &end, 10);
    if (*end != '\0' || n < 0) usage("--" + k + " wants a non-negative integer, got \"" + v + "\"");
    return n;
  }
};

// ---- The workload ------------------------------------------------------------------

// Target t's address: the second octet picks its availability zone (see fleet_labels).
std::string target_host(long t) {
  return "10." + std::to_string(t % 3) + "." + std::to_string(t / 256 % 256) + "." +
         std::to_string(t % 256);
}
std::string target_instance_id(long t) {
  return "i-" + std::to_string(t % 3) + "-" + std::to_string(t / 256 % 256) + "-" +
         std::to_string(t % 256);
}
const char* const kZones[] = {"us-east-1a", "us-east-1b", "us-east-1c"};

// Label strings live here; the Batches hold views into them.
struct LabelStore {
  std::deque<std::string> strings;
  std::string_view keep(std::string s) { return strings.emplace_back(std::move(s)); }
};

using ExternalLabels = std::vector<std::pair<std::string, std::string>>;

// Series j of target t: a node_exporter-like family with its usual labels, team/service
// labels every target carries, and a high-cardinality `path` or `id` on some families;
// then `external` (a Prometheus's external_labels, e.g. an HA replica's).
void series_labels(long t, long j, const ExternalLabels& external, LabelStore& store,
                   std::vector<proto::Label>& out) {
  static const char* kModes[] = {"user", "system",  "idle",  "iowait",
                                 "irq",  "softirq", "steal", "nice"};
  static const char* kTeams[] = {"payments", "search", "checkout", "identity", "ads"};
  out.clear();
  auto add = [&](std::string_view k, std::string v) {
    out.push_back({k, store.keep(std::move(v))});
  };
  const std::string instance = target_host(t) + ":9100";
  add("env", "production");
  add("instance", instance);
  add("job", "node");
  add("region", "us-east-1");
  add("team", kTeams[t % 5]);
  add("service", std::string(kTeams[t % 5]) + "-api");
  switch (j % 5) {
    case 0:
      add("__name__", "node_cpu_seconds_total");
      add("cpu", std::to_string(j / 5 % 64));
      add("mode", kModes[j / 320 % 8]);
      add("series", std::to_string(j));
      break;
    case 1:
      add("__name__", "node_network_receive_bytes_total");
      add("device", "eth" + std::to_string(j % 4));
      add("id", std::to_string(j * 2654435761UL % 1000003));
      break;
    case 2:
      add("__name__", "node_filesystem_avail_bytes");
      add("device", "/dev/nvme" + std::to_string(j % 4) + "n1");
      add("fstype", j % 2 ? "ext4" : "xfs");
      add("mountpoint", "/var/lib/data" + std::to_string(j));
      break;
    case 3:
      add("__name__", "http_request_duration_seconds_bucket");
      add("le", std::to_string(j % 12) + ".5");
      add("method", j % 2 ? "GET" : "POST");
      add("path", "/api/v1/items/" + std::to_string(j / 60));
      add("status", std::to_string(200 + j % 5));
      break;
    default:
      add("__name__", "process_resident_memory_bytes");
      add("pod", "web-" + std::to_string(j) + "-7d9f8b");
      add("version", "1.4." + std::to_string(j % 9));
      break;
  }
  for (const auto& [k, v] : external) out.push_back({k, v});
  std::sort(out.begin(), out.end(),
            [](const proto::Label& a, const proto::Label& b) { return a.name < b.name; });
}

struct Workload {
  std::vector<std::vector<std::string>> bodies;  // [round][slot]: snappy-compressed
  std::vector<uint32_t> samples_per_slot;
  size_t raw_bytes = 0;
};

Workload build_workload(long targets, long per_target, long batch_size, proto::Protocol protocol,
                        long rounds, const ExternalLabels& external) {
  const long total = targets * per_target;
  // Series order: a fixed shuffle, so each request mixes targets like a Prometheus shard.
  std::vector<uint32_t> order(static_cast<size_t>(total));
  std::iota(order.begin(), order.end(), 0U);
  std::mt19937_64 rng(7);
  std::shuffle(order.begin(), order.end(), rng);
  const long slots = (total + batch_size - 1) / batch_size;
  Workload w;
  w.bodies.resize(static_cast<size_t>(rounds));
  std::vector<proto::Label> labels;
  std::string raw;
  for (long slot = 0; slot < slots; ++slot) {
    LabelStore store;
    proto::Batch batch;
    const long first = slot * batch_size;
    const long last = std::min(total, first + batch_size);
    for (long k = first; k < last; ++k) {
      const uint32_t id = order[static_cast<size_t>(k)];
      series_labels(id / per_target, id % per_target, external, store, labels);
      proto::Series s;
      s.labels_begin = static_cast<uint32_t>(batch.labels.size());
      s.labels_count = static_cast<uint32_t>(labels.size());
      s.samples_begin = static_cast<uint32_t>(k - first);
      s.samples_count = 1;
      batch.labels.insert(batch.labels.end(), labels.begin(), labels.end());
      batch.series.push_back(s);
      batch.samples.push_back({0, 0});
    }
    w.samples_per_slot.push_back(static_cast<uint32_t>(last - first));
    for (long r = 0; r < rounds; ++r) {
      for (size_t i = 0; i < batch.samples.size(); ++i) {
        batch.samples[i] = {static_cast<double>((rng() % 1000000)) / 8.0,
                            1700000000000LL + r * 15000 + static_cast<int64_t>(i % 1000)};
      }
      proto::encode_batch(protocol, batch, raw);
      w.raw_bytes += raw.size();
      std::string& body = w.bodies[static_cast<size_t>(r)].emplace_back();
      snappy::Compress(raw.data(), raw.size(), &body);
    }
  }
  return w;
}

// ---- send -------------------------------------------------------------------------

net::Url parse_url(const std::string& text) {
  std::string why;
  std::optional<net::Url> url = net::parse_url(text, why, net::Schemes::kHttpOrHttps);
  if (!url) usage("--url " + text + ": " + why);
  return *url;
}

// Asio words most OpenSSL errors as "asio.ssl error"; OpenSSL's own string says which
// (no such file, not PEM, a key that does not match the certificate).
std::string tls_error(const boost::system::error_code& ec) {
  if (ec.category() != asio::error::get_ssl_category()) return ec.message();
  char text[256];
  ERR_error_string_n(static_cast<unsigned long>(ec.value()), text, sizeof text);
  return text;
}

// The client side of TLS: the server's certificate must chain to `ca_file` (the system's
// CAs when empty) and name the URL's host, as with any remote_write sender.
asio::ssl::context client_tls_context(const std::string& ca_file) {
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  ctx.set_options(asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
  ctx.set_verify_mode(asio::ssl::verify_peer);
  boost::system::error_code ec;
  if (ca_file.empty()) {
    ctx.set_default_verify_paths(ec);
  } else {
    ctx.load_verify_file(ca_file, ec);
  }
  if (ec)
    usage((ca_file.empty() ? "the system's CAs" : "--ca-file " + ca_file) + ": " + tls_error(ec));
  return ctx;
}

void tls_handshake(TlsStream& stream, const std::string& host, boost::system::error_code& ec) {
  // SNI carries DNS names only (RFC 6066 allows no address literals); the certificate
  // check covers both, an IP address matched against the certificate's IP SANs.
  boost::system::error_code not_ip;
  asio::ip::make_address(host, not_ip);
  if (not_ip) SSL_set_tlsext_host_name(stream.native_handle(), host.c_str());
  stream.set_verify_callback(asio::ssl::host_name_verification(host));
  stream.handshake(asio::ssl::stream_base::client, ec);
}

struct ConnResult {
  uint64_t requests = 0;
  uint64_t accepted_samples = 0;
  std::map<int, uint64_t> codes;
  std::vector<double> latencies_ms;  // accepted requests, send start to response
  std::string error;
};

// One keep-alive connection's requests, plain (tcp::socket) or TLS (TlsStream, with
// `tls` its context): only opening the connection differs.
template <class Stream>
void run_connection(const net::Url& url, asio::ssl::context* tls, const Workload& w,
                    proto::Protocol protocol, std::vector<size_t> slots, double rate_per_conn,
                    Clock::time_point start, Clock::time_point end, ConnResult& out) {
  constexpr bool kTls = std::is_same_v<Stream, TlsStream>;
  asio::io_context ioc;
  tcp::resolver resolver(ioc);
  // Emplaced per connection: a TLS stream is not reused once its connection is closed.
  std::optional<Stream> stream;
  beast::flat_buffer buffer;
  http::request<http::string_body> req{http::verb::post, url.target, 11};
  req.set(http::field::host, net::join_host_port(url.host, url.port));
  req.set(http::field::user_agent, "rwgate-loadgen");
  req.set(http::field::content_encoding, "snappy");
  if (protocol == proto::Protocol::kV1) {
    req.set(http::field::content_type, "application/x-protobuf");
    req.set("X-Prometheus-Remote-Write-Version", "0.1.0");
  } else {
    req.set(http::field::content_type,
            "application/x-protobuf;proto=io.prometheus.write.v2.Request");
    req.set("X-Prometheus-Remote-Write-Version", "2.0.0");
  }
  auto close = [&] {
    boost::system::error_code ignored;
    beast::get_lowest_layer(*stream).close(ignored);
    stream.reset();
    buffer.clear();
  };
  uint64_t sent = 0;  // requests sent and accepted, for pacing
  size_t next = 0;
  size_t round = 0;
  while (!slots.empty()) {
    if (rate_per_conn > 0) {
      const size_t slot = slots[next];
      const auto due =
          start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(
                      static_cast<double>(sent) * w.samples_per_slot[slot] / rate_per_conn));
      if (due >= end) break;
      std::this_thread::sleep_until(due);
    }
    const auto t0 = Clock::now();
    if (t0 >= end) break;
    const size_t slot = slots[next];
    req.body() = w.bodies[round][slot];
    req.prepare_payload();
    boost::system::error_code ec;
    if (!stream) {
      if constexpr (kTls) {
        stream.emplace(ioc, *tls);
      } else {
        stream.emplace(ioc);
      }
      auto eps = resolver.resolve(url.host, url.port, ec);
      if (!ec) asio::connect(beast::get_lowest_layer(*stream), eps, ec);
      if (!ec) beast::get_lowest_layer(*stream).set_option(tcp::no_delay(true), ec);
      if constexpr (kTls) {
        if (!ec) tls_handshake(*stream, url.host, ec);
      }
      if (ec) {
        out.error = "connect: " + tls_error(ec);
        close();
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        continue;
      }
    }
    http::write(*stream, req, ec);
    http::response<http::string_body> res;
    if (!ec) http::read(*stream, buffer, res, ec);
    if (ec) {
      out.error = ec.message();
      out.codes[0]++;
      close();
      continue;
    }
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    out.requests++;
    const int code = res.result_int();
    out.codes[code]++;
    if (!res.keep_alive()) close();
    if (code / 100 == 2) {
      out.accepted_samples += w.samples_per_slot[slot];
      out.latencies_ms.push_back(ms);
      ++sent;
      if (++next == slots.size()) {
        next = 0;
        round = (round + 1) % w.bodies.size();
      }
    } else if (code == 429 || code / 100 == 5) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));  // then the same request
    } else {
      out.error = "HTTP " + std::to_string(code) + ": " + res.body().substr(0, 200);
      break;  // a 4xx will not get better
    }
  }
}

double percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  const size_t k = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<long>(k), v.end());
  return v[k];
}

int cmd_send(const Flags& f) {
  f.only({"url", "ca-file", "targets", "series-per-target", "batch", "connections", "rate",
          "duration", "rounds", "protocol", "external-labels"});
  const net::Url url = parse_url(f.get("url", ""));
  const std::string ca_file = f.get("ca-file", "");
  if (!ca_file.empty() && url.scheme != "https") usage("--ca-file wants an https:// --url");
  std::optional<asio::ssl::context> tls;
  if (url.scheme == "https") tls.emplace(client_tls_context(ca_file));
  const long targets = f.num("targets", 100);
  const long per_target = f.num("series-per-target", 1000);
  const long batch = f.num("batch", 2000);
  const long conns = f.num("connections", 4);
  const long rate = f.num("rate", 0);
  const long duration = f.num("duration", 10);
  const long rounds = f.num("rounds", 2);
  const std::string proto_name = f.get("protocol", "v1");
  if (proto_name != "v1" && proto_name != "v2") usage("--protocol is v1 or v2");
  if (targets == 0 || per_target == 0 || batch == 0 || conns == 0 || rounds == 0)
    usage("--targets, --series-per-target, --batch, --connections and --rounds must be > 0");
  const auto protocol = proto_name == "v1" ? proto::Protocol::kV1 : proto::Protocol::kV2;
  // --external-labels=cluster=eu-1,__replica__=r0: added to every series.
  ExternalLabels external;
  const std::string external_flag = f.get("external-labels", "");
  for (std::string_view list = external_flag; !list.empty();) {
    const size_t comma = list.find(',');
    const std::string_view kv = list.substr(0, comma);
    const size_t eq = kv.find('=');
    if (eq == std::string_view::npos || eq == 0)
      usage("--external-labels is NAME=VALUE,...: \"" + std::string(kv) + "\"");
    external.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
  }

  const auto built = Clock::now();
  const Workload w = build_workload(targets, per_target, batch, protocol, rounds, external);
  size_t compressed = 0;
  for (const auto& b : w.bodies[0]) compressed += b.size();
  std::cerr << "rwgate-loadgen: " << targets * per_target << " series in "
            << w.samples_per_slot.size() << " requests per round, " << compressed / 1024
            << " KiB compressed per round, built in "
            << std::chrono::duration<double>(Clock::now() - built).count() << " s\n";

  std::vector<std::vector<size_t>> slots(static_cast<size_t>(conns));
  for (size_t s = 0; s < w.samples_per_slot.size(); ++s) slots[s % slots.size()].push_back(s);
  std::vector<ConnResult> results(static_cast<size_t>(conns));
  const auto start = Clock::now();
  const auto end = start + std::chrono::seconds(duration);
  std::vector<std::thread> threads;
  for (long c = 0; c < conns; ++c) {
    const auto i = static_cast<size_t>(c);
    threads.emplace_back([&, i] {
      const double share = static_cast<double>(rate) / conns;
      if (tls) {
        run_connection<TlsStream>(url, &*tls, w, protocol, slots[i], share, start, end, results[i]);
      } else {
        run_connection<tcp::socket>(url, nullptr, w, protocol, slots[i], share, start, end,
                                    results[i]);
      }
    });
  }
  for (auto& t : threads) t.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();

  ConnResult all;
  for (auto& r : results) {
    all.requests += r.requests;
    all.accepted_samples += r.accepted_samples;
    for (auto [code, n] : r.codes) all.codes[code] += n;
    all.latencies_ms.insert(all.latencies_ms.end(), r.latencies_ms.begin(), r.latencies_ms.end());
    if (!r.error.empty()) all.error = r.error;
  }
  std::string codes;
  for (auto [code, n] : all.codes) {
    codes +=
        (codes.empty() ? "" : ", ") + ("\"" + std::to_string(code) + "\": ") + std::to_string(n);
  }
  std::printf(
      "{\"series\": %ld, \"protocol\": \"%s\", \"connections\": %ld, \"rate\": %ld, "
      "\"seconds\": %.3f, \"requests\": %llu, \"accepted_samples\": %llu, "
      "\"samples_per_second\": %.0f, \"codes\": {%s}, "
      "\"latency_ms\": {\"p50\": %.3f, \"p90\": %.3f, \"p99\": %.3f, \"max\": %.3f}, "
      "\"error\": \"%s\"}\n",
      targets * per_target, proto_name.c_str(), conns, rate, elapsed,
      static_cast<unsigned long long>(all.requests),
      static_cast<unsigned long long>(all.accepted_samples),
      static_cast<double>(all.accepted_samples) / elapsed, codes.c_str(),
      percentile(all.latencies_ms, 0.5), percentile(all.latencies_ms, 0.9),
      percentile(all.latencies_ms, 0.99), percentile(all.latencies_ms, 1.0),
      all.error.empty() ? "" : "see stderr");
  if (!all.error.empty()) std::cerr << "rwgate-loadgen: last error: " << all.error << "\n";
  return all.accepted_samples > 0 ? 0 : 1;
}

// ---- receive ----------------------------------------------------------------------

struct ReceiverCounts {
  std::atomic<uint64_t> requests{0}, rejected{0}, series{0}, samples{0}, enriched_series{0};
  // Connections that carried a write (GET /stats does not count): with keep-alive senders
  // about one per sender connection; over TLS, one handshake each.
  std::atomic<uint64_t> write_connections{0};
  // Distinct label sets seen, and the XOR of their hashes: two proxies that deliver the
  // same label sets end with the same digest, whatever the order and repetition.
  std::mutex mu;  // guards seen and digest
  std::unordered_set<uint64_t> seen;
  uint64_t digest = 0;
};

// The requests of one connection, plain (tcp::socket) or TLS (TlsStream, handshake done).
template <class Stream>
void serve_requests(Stream& stream, ReceiverCounts& counts) {
  beast::flat_buffer buffer;
  proto::Decoder decoder;
  proto::Batch batch;
  std::string raw;
  std::vector<uint64_t> hashes;
  bool wrote = false;
  boost::system::error_code ec;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(256 << 20);
    http::read(stream, buffer, parser, ec);
    if (ec) break;
    const auto& req = parser.get();
    http::response<http::string_body> res{http::status::no_content, req.version()};
    res.keep_alive(req.keep_alive());
    if (req.method() == http::verb::get && req.target() == "/stats") {
      res.result(http::status::ok);
      res.set(http::field::content_type, "application/json");
      std::lock_guard lock(counts.mu);
      char digest[24];
      std::snprintf(digest, sizeof digest, "%016llx",
                    static_cast<unsigned long long>(counts.digest));
      res.body() = "{\"requests\": " + std::to_string(counts.requests.load()) +
                   ", \"rejected\": " + std::to_string(counts.rejected.load()) +
                   ", \"write_connections\": " + std::to_string(counts.write_connections.load()) +
                   ", \"series\": " + std::to_string(counts.series.load()) +
                   ", \"samples\": " + std::to_string(counts.samples.load()) +
                   ", \"enriched_series\": " + std::to_string(counts.enriched_series.load()) +
                   ", \"distinct_series\": " + std::to_string(counts.seen.size()) +
                   ", \"digest\": \"" + digest + "\"}\n";
    } else if (req.method() == http::verb::post) {
      if (!wrote) counts.write_connections++;
      wrote = true;
      const auto ct = req[http::field::content_type];
      const auto protocol = ct.find("io.prometheus.write.v2") != std::string_view::npos
                                ? proto::Protocol::kV2
                                : proto::Protocol::kV1;
      const std::string& body = req.body();
      size_t len = 0;
      bool ok = snappy::GetUncompressedLength(body.data(), body.size(), &len);
      if (ok) {
        raw.resize(len);
        ok = snappy::RawUncompress(body.data(), body.size(), raw.data());
      }
      if (ok) ok = decoder.decode(protocol, raw, batch).ok();
      if (ok) {
        uint64_t enriched = 0;
        hashes.clear();
        for (const auto& s : batch.series) {
          if (!proto::label_value(batch.labels_of(s), "asg").empty()) ++enriched;
          hashes.push_back(proto::hash_labels(batch.labels_of(s)));
        }
        {
          std::lock_guard lock(counts.mu);
          for (uint64_t h : hashes) {
            if (counts.seen.insert(h).second) counts.digest ^= h;
          }
        }
        counts.requests++;
        counts.series += batch.series.size();
        counts.samples += batch.samples.size();
        counts.enriched_series += enriched;
      } else {
        counts.rejected++;
        res.result(http::status::bad_request);
        res.body() = "cannot decode\n";
      }
    } else {
      res.result(http::status::method_not_allowed);
    }
    res.prepare_payload();
    http::write(stream, res, ec);
    if (ec || !res.keep_alive()) break;
  }
}

void serve_connection(tcp::socket socket, asio::ssl::context* tls, ReceiverCounts& counts) {
  boost::system::error_code ec;
  if (tls == nullptr) {
    serve_requests(socket, counts);
    socket.shutdown(tcp::socket::shutdown_both, ec);
    return;
  }
  TlsStream stream(std::move(socket), *tls);
  stream.handshake(asio::ssl::stream_base::server, ec);
  if (!ec) serve_requests(stream, counts);
  // No close_notify, as rwgate's listener: the peers here have read their last answer,
  // and a TLS shutdown waits for theirs, which could hold this thread forever.
  stream.next_layer().shutdown(tcp::socket::shutdown_both, ec);
}

// The server side of TLS: one certificate, TLS 1.2 or 1.3 (OpenSSL's defaults otherwise,
// session tickets included, so a sender that resumes its sessions can).
asio::ssl::context server_tls_context(const std::string& cert, const std::string& key) {
  asio::ssl::context ctx(asio::ssl::context::tls_server);
  ctx.set_options(asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
  boost::system::error_code ec;
  ctx.use_certificate_chain_file(cert, ec);
  if (ec) usage("--tls-cert " + cert + ": " + tls_error(ec));
  ctx.use_private_key_file(key, asio::ssl::context::pem, ec);
  if (ec) usage("--tls-key " + key + ": " + tls_error(ec));
  return ctx;
}

int cmd_receive(const Flags& f) {
  f.only({"listen", "tls-cert", "tls-key"});
  const std::string listen = f.get("listen", "127.0.0.1:9301");
  const std::string cert = f.get("tls-cert", ""), key = f.get("tls-key", "");
  if (cert.empty() != key.empty()) usage("--tls-cert and --tls-key go together");
  std::optional<asio::ssl::context> tls;
  if (!cert.empty()) tls.emplace(server_tls_context(cert, key));
  const rwgate::net::HostPort hp = rwgate::net::split_host_port(listen);
  if (!hp.has_port) usage("--listen is HOST:PORT");
  asio::io_context ioc;
  tcp::acceptor acceptor(ioc, {asio::ip::make_address(std::string(hp.host)),
                               static_cast<uint16_t>(std::stoi(std::string(hp.port)))});
  std::cerr << "rwgate-loadgen: receiving on " << (tls ? "https://" : "http://") << listen << "\n";
  ReceiverCounts counts;
  for (;;) {
    tcp::socket socket(ioc);
    boost::system::error_code ec;
    acceptor.accept(socket, ec);
    if (ec) continue;
    // As Go's servers (Prometheus, Mimir) do: an answer leaves at once, not after an ACK.
    socket.set_option(tcp::no_delay(true), ec);
    // The handshake too runs on the connection's thread, so a slow one holds up no other.
    std::thread([s = std::move(socket), &tls, &counts]() mutable {
      serve_connection(std::move(s), tls ? &*tls : nullptr, counts);
    }).detach();
  }
}

// ---- fleet ------------------------------------------------------------------------

int cmd_fleet(const Flags& f) {
  f.only({"file", "targets"});
  const std::string path = f.get("file", "");
  if (path.empty()) usage("fleet needs --file=PATH");
  const long targets = f.num("targets", 100);
  std::ofstream out(path + ".tmp");
  out << "[\n";
  for (long t = 0; t < targets; ++t) {
    out << "  {\"targets\": [\"" << target_host(t) << ":9100\"], \"labels\": {"
        << "\"__meta_ec2_instance_id\": \"" << target_instance_id(t) << "\", "
        << "\"__meta_ec2_private_ip\": \"" << target_host(t) << "\", "
        << "\"__meta_ec2_availability_zone\": \"" << kZones[t % 3] << "\", "
        << "\"__meta_asg_name\": \"bench-asg\", "
        << "\"__meta_asg_lifecycle_state\": \"InService\"}}" << (t + 1 < targets ? ",\n" : "\n");
  }
  out << "]\n";
  out.close();
  if (!out || std::rename((path + ".tmp").c_str(), path.c_str()) != 0) {
    std::cerr << "rwgate-loadgen: cannot write " << path << "\n";
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  if (argc < 2) usage("no command");
  const std::string cmd = argv[1];
  Flags f;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (!a.starts_with("--")) usage("unexpected argument \"" + a + "\"");
    const size_t eq = a.find('=');
    if (eq == std::string::npos) usage("flags are --name=value: \"" + a + "\"");
    f.values[a.substr(2, eq - 2)] = a.substr(eq + 1);
  }
  if (cmd == "send") return cmd_send(f);
  if (cmd == "receive") return cmd_receive(f);
  if (cmd == "fleet") return cmd_fleet(f);
  usage("unknown command \"" + cmd + "\"");
}
