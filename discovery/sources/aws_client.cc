#include "discovery/sources/aws_client.h"

#include <yaml-cpp/yaml.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iomanip>
#include <random>
#include <sstream>
#include <thread>

#include "base/log.h"

namespace rwgate::discovery::aws {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;

namespace {

std::string host_header(const net::Url& url) {
  const bool default_port =
      (url.scheme == "https" && url.port == "443") || (url.scheme == "http" && url.port == "80");
  return net::join_host_port(url.host, default_port ? "" : url.port);
}

template <typename Stream>
asio::awaitable<void> talk(Stream& stream, const net::Url& url, const HttpRequest& request,
                           HttpResult* out, boost::system::error_code& ec) {
  http::request<http::string_body> req{http::string_to_verb(request.method), request.target, 11};
  req.set(http::field::host, host_header(url));
  req.set(http::field::user_agent, "rwgate/0.1");
  for (const auto& [k, v] : request.headers) req.set(k, v);
  req.body() = request.body;
  req.prepare_payload();
  co_await http::async_write(stream, req, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return;
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(256 << 20);
  co_await http::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return;
  out->status = parser.get().result_int();
  out->body = std::move(parser.get().body());
}

asio::awaitable<void> exchange(net::Url url, HttpRequest request, std::chrono::milliseconds timeout,
                               std::string ca_file, HttpResult* out) {
  auto ex = co_await asio::this_coro::executor;
  boost::system::error_code ec;
  asio::ip::tcp::resolver resolver(ex);
  auto endpoints = co_await resolver.async_resolve(url.host, url.port,
                                                   asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    out->error = "resolving " + url.host + ": " + ec.message();
    co_return;
  }
  if (url.scheme == "http") {
    beast::tcp_stream stream(ex);
    stream.expires_after(timeout);
    co_await stream.async_connect(endpoints, asio::redirect_error(asio::use_awaitable, ec));
    if (!ec) co_await talk(stream, url, request, out, ec);
  } else {
    ssl::context ctx(ssl::context::tls_client);
    ctx.set_verify_mode(ssl::verify_peer);
    if (!ca_file.empty()) {
      ctx.load_verify_file(ca_file, ec);
      if (ec) {
        out->error = "cannot load CA file " + ca_file + ": " + ec.message();
        co_return;
      }
    } else {
      ctx.set_default_verify_paths(ec);
    }
    beast::ssl_stream<beast::tcp_stream> stream(ex, ctx);
    if (!SSL_set_tlsext_host_name(stream.native_handle(), url.host.c_str())) {
      out->error = "cannot set TLS server name";
      co_return;
    }
    stream.set_verify_callback(ssl::host_name_verification(url.host));
    beast::get_lowest_layer(stream).expires_after(timeout);
    co_await beast::get_lowest_layer(stream).async_connect(
        endpoints, asio::redirect_error(asio::use_awaitable, ec));
    if (!ec)
      co_await stream.async_handshake(ssl::stream_base::client,
                                      asio::redirect_error(asio::use_awaitable, ec));
    if (!ec) co_await talk(stream, url, request, out, ec);
  }
  if (ec && out->status == 0) out->error = ec.message();
}

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? std::string() : std::string(v);
}

std::string read_file(const std::string& path, bool& ok) {
  std::ifstream in(path, std::ios::binary);
  ok = static_cast<bool>(in);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

// The [profile] section of an INI credentials file.
std::map<std::string, std::string> ini_section(const std::string& text, const std::string& name) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  std::string line;
  bool inside = false;
  while (std::getline(in, line)) {
    const std::string t = trim(line);
    if (t.empty() || t[0] == '#' || t[0] == ';') continue;
    if (t.front() == '[' && t.back() == ']') {
      inside = trim(std::string_view(t).substr(1, t.size() - 2)) == name;
      continue;
    }
    if (!inside) continue;
    const size_t eq = t.find('=');
    if (eq == std::string::npos) continue;
    out[trim(std::string_view(t).substr(0, eq))] = trim(std::string_view(t).substr(eq + 1));
  }
  return out;
}

// "2026-12-01T15:04:05Z" -> time point; the epoch when it does not parse.
std::chrono::system_clock::time_point parse_iso8601(const std::string& s) {
  std::tm tm{};
  std::istringstream in(s);
  in >> std::get_time(&tm, "%Y-%m-%dT%H:%M:%S");
  if (in.fail()) return {};
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

}  // namespace

HttpResult http_exchange(const net::Url& url, const HttpRequest& request,
                         std::chrono::milliseconds timeout, const std::string& ca_file) {
  HttpResult out;
  asio::io_context ioc(1);
  asio::co_spawn(ioc, exchange(url, request, timeout, ca_file, &out), asio::detached);
  ioc.run();
  return out;
}

CredentialChain::CredentialChain(ClientOptions options) : options_(std::move(options)) {}

Status CredentialChain::get(Credentials& out) {
  std::lock_guard lock(mu_);
  const auto now = std::chrono::system_clock::now();
  if (!cached_.empty() && (cached_.expiration == std::chrono::system_clock::time_point{} ||
                           now < cached_.expiration - std::chrono::minutes(5))) {
    out = cached_;
    return {};
  }
  std::vector<std::string> tried;
  if (!options_.access_key_id.empty() && !options_.secret_access_key.empty()) {
    cached_ = Credentials{options_.access_key_id, options_.secret_access_key, "", {}, "config"};
    out = cached_;
    return {};
  }
  tried.push_back("config: no access_key_id/secret_access_key_file");
  if (const std::string id = env("AWS_ACCESS_KEY_ID"), secret = env("AWS_SECRET_ACCESS_KEY");
      !id.empty() && !secret.empty()) {
    cached_ = Credentials{id, secret, env("AWS_SESSION_TOKEN"), {}, "environment"};
    out = cached_;
    return {};
  }
  tried.push_back("environment: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY not set");
  std::string file = env("AWS_SHARED_CREDENTIALS_FILE");
  if (file.empty() && !env("HOME").empty()) file = env("HOME") + "/.aws/credentials";
  std::string profile = options_.profile;
  if (profile.empty()) profile = env("AWS_PROFILE");
  if (profile.empty()) profile = "default";
  if (!file.empty()) {
    bool ok = false;
    const std::string text = read_file(file, ok);
    if (ok) {
      auto section = ini_section(text, profile);
      if (!section["aws_access_key_id"].empty() && !section["aws_secret_access_key"].empty()) {
        cached_ = Credentials{section["aws_access_key_id"],
                              section["aws_secret_access_key"],
                              section["aws_session_token"],
                              {},
                              "shared-file"};
        out = cached_;
        return {};
      }
      tried.push_back("shared file " + file + ": no keys in profile " + profile);
    } else {
      tried.push_back("shared file " + file + ": not readable");
    }
  }
  if (env("AWS_EC2_METADATA_DISABLED") == "true") {
    tried.push_back("instance role: AWS_EC2_METADATA_DISABLED=true");
  } else {
    Credentials c;
    Status st = from_imds(c);
    if (st) {
      cached_ = c;
      out = cached_;
      return {};
    }
    tried.push_back("instance role: " + st.reason());
  }
  std::string all;
  for (const std::string& t : tried) all += (all.empty() ? "" : "; ") + t;
  return Status::error("no AWS credentials: " + all);
}

Status CredentialChain::from_imds(Credentials& out) {
  std::string endpoint = options_.imds_endpoint;
  if (endpoint.empty()) endpoint = env("AWS_EC2_METADATA_SERVICE_ENDPOINT");
  if (endpoint.empty()) endpoint = "http://169.254.169.254";
  std::string why;
  const std::optional<net::Url> parsed = net::parse_url(endpoint, why, net::Schemes::kHttpOrHttps);
  if (!parsed) return Status::error("IMDS endpoint " + endpoint + " " + why);
  const net::Url& url = *parsed;
  const auto timeout = std::chrono::seconds(2);
  HttpRequest put{
      "PUT", "/latest/api/token", {{"X-aws-ec2-metadata-token-ttl-seconds", "21600"}}, ""};
  const HttpResult token = http_exchange(url, put, timeout, options_.ca_file);
  if (token.status != 200) {
    return Status::error("IMDSv2 token: " + (token.status == 0
                                                 ? token.error
                                                 : "HTTP " + std::to_string(token.status)));
  }
  const std::vector<std::pair<std::string, std::string>> auth = {
      {"X-aws-ec2-metadata-token", trim(token.body)}};
  const std::string base = "/latest/meta-data/iam/security-credentials/";
  const HttpResult role = http_exchange(url, {"GET", base, auth, ""}, timeout, options_.ca_file);
  if (role.status != 200 || trim(role.body).empty()) {
    return Status::error("no instance role (" +
                         (role.status == 0 ? role.error : "HTTP " + std::to_string(role.status)) +
                         ")");
  }
  const std::string name = trim(std::string_view(role.body).substr(0, role.body.find('\n')));
  const HttpResult creds =
      http_exchange(url, {"GET", base + name, auth, ""}, timeout, options_.ca_file);
  if (creds.status != 200) {
    return Status::error("role " + name + " credentials: HTTP " + std::to_string(creds.status));
  }
  try {
    const YAML::Node j = YAML::Load(creds.body);
    out.access_key_id = j["AccessKeyId"].as<std::string>("");
    out.secret_access_key = j["SecretAccessKey"].as<std::string>("");
    out.session_token = j["Token"].as<std::string>("");
    out.expiration = parse_iso8601(j["Expiration"].as<std::string>(""));
    out.provider = "imds";
  } catch (const YAML::Exception& e) {
    return Status::error("role " + name + " credentials: malformed JSON");
  }
  if (out.empty()) return Status::error("role " + name + " credentials: no keys in the answer");
  return {};
}

bool ApiError::throttled() const {
  static const char* kCodes[] = {
      "Throttling",       "ThrottlingException",      "RequestLimitExceeded",
      "RequestThrottled", "TooManyRequestsException", "ServiceUnavailable",
      "SlowDown",         "EC2ThrottledException"};
  for (const char* c : kCodes) {
    if (code == c) return true;
  }
  return http_status == 429 || http_status == 503;
}

bool ApiError::auth() const {
  static const char* kCodes[] = {"AuthFailure",           "SignatureDoesNotMatch",
                                 "InvalidClientTokenId",  "UnrecognizedClientException",
                                 "ExpiredToken",          "RequestExpired",
                                 "AccessDenied",          "AccessDeniedException",
                                 "UnauthorizedOperation", "MissingAuthenticationToken",
                                 "IncompleteSignature"};
  for (const char* c : kCodes) {
    if (code == c) return true;
  }
  return http_status == 401 || http_status == 403;
}

std::string form_body(const std::string& action, const std::string& version,
                      const std::vector<std::pair<std::string, std::string>>& params) {
  std::string body = "Action=" + uri_encode(action) + "&Version=" + uri_encode(version);
  for (const auto& [k, v] : params) body += "&" + uri_encode(k) + "=" + uri_encode(v);
  return body;
}

QueryClient::QueryClient(ClientOptions options)
    : options_(std::move(options)), credentials_(options_) {}

Status QueryClient::call(const std::string& service, const std::string& version,
                         const std::string& action,
                         const std::vector<std::pair<std::string, std::string>>& params,
                         std::unique_ptr<XmlNode>& out, ApiError& error) {
  std::string endpoint = options_.endpoint;
  if (endpoint.empty()) {
    const bool china = options_.region.starts_with("cn-");
    endpoint =
        "https://" + service + "." + options_.region + ".amazonaws.com" + (china ? ".cn" : "");
  }
  std::string why;
  const std::optional<net::Url> parsed = net::parse_url(endpoint, why, net::Schemes::kHttpOrHttps);
  if (!parsed) return Status::error("endpoint " + endpoint + " " + why);
  const net::Url& url = *parsed;
  const std::string body = form_body(action, version, params);
  thread_local std::mt19937_64 rng{std::random_device{}()};
  auto backoff = options_.min_backoff;
  std::string last;
  for (int attempt = 1; attempt <= options_.max_attempts; ++attempt) {
    if (cancelled_.load()) return Status::error(action + ": stopping");
    if (attempt > 1) {
      ++retries_;
      // Jitter in the upper half of the current backoff, which doubles each time; slept
      // in short steps so that a stop does not wait for it.
      std::uniform_int_distribution<int64_t> d(backoff.count() / 2, backoff.count());
      const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(d(rng));
      while (!cancelled_.load() && std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      if (cancelled_.load()) return Status::error(action + ": stopping");
      backoff = std::min(options_.max_backoff, backoff * 2);
    }
    Credentials creds;
    if (Status st = credentials_.get(creds); !st) {
      error = ApiError{0, "NoCredentials", st.reason()};
      return st;
    }
    SignInput in;
    in.method = "POST";
    in.host = host_header(url);
    in.path = url.target;
    in.headers = {{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}};
    in.body = body;
    const SignOutput sig =
        sign_v4(creds, options_.region, service, in, std::chrono::system_clock::now());
    HttpRequest req{"POST", url.target, in.headers, body};
    req.headers.emplace_back("X-Amz-Date", sig.amz_date);
    req.headers.emplace_back("Authorization", sig.authorization);
    if (!creds.session_token.empty())
      req.headers.emplace_back("X-Amz-Security-Token", creds.session_token);
    const HttpResult res = http_exchange(url, req, options_.timeout, options_.ca_file);
    if (res.status == 0) {
      last = action + ": " + res.error;
      error = ApiError{0, "NetworkError", res.error};
      continue;
    }
    std::string parse_error;
    std::unique_ptr<XmlNode> doc = parse_xml(res.body, parse_error);
    if (res.status == 200) {
      if (doc == nullptr) return Status::error(action + ": " + parse_error);
      out = std::move(doc);
      return {};
    }
    // <ErrorResponse><Error><Code> (Query APIs) or <Response><Errors><Error><Code> (EC2).
    error = ApiError{res.status, "", ""};
    if (doc != nullptr) {
      const XmlNode* e = doc->child("Error");
      if (e == nullptr && doc->child("Errors") != nullptr) e = doc->child("Errors")->child("Error");
      if (e != nullptr) {
        error.code = std::string(e->child_text("Code"));
        error.message = std::string(e->child_text("Message"));
      }
    }
    last = action + ": HTTP " + std::to_string(res.status) +
           (error.code.empty() ? "" : " " + error.code) +
           (error.message.empty() ? "" : ": " + error.message);
    if (!error.throttled() && res.status < 500) return Status::error(last);
  }
  return Status::error(last + " (gave up after " + std::to_string(options_.max_attempts) +
                       " attempts)");
}

}  // namespace rwgate::discovery::aws
