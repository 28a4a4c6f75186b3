#include "aws/client.h"

#include <random>
#include <thread>

#include "base/http_client.h"

namespace rwgate::aws {

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
  std::string body =
      "Action=" + net::percent_encode(action) + "&Version=" + net::percent_encode(version);
  for (const auto& [k, v] : params)
    body += "&" + net::percent_encode(k) + "=" + net::percent_encode(v);
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
    in.host = net::host_header(url);
    in.path = url.target;
    in.headers = {{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}};
    in.body = body;
    const SignOutput sig =
        sign_v4(creds, options_.region, service, in, std::chrono::system_clock::now());
    net::HttpRequest req{"POST", url.target, in.headers, body};
    req.headers.emplace_back("X-Amz-Date", sig.amz_date);
    req.headers.emplace_back("Authorization", sig.authorization);
    if (!creds.session_token.empty())
      req.headers.emplace_back("X-Amz-Security-Token", creds.session_token);
    const net::HttpResult res = net::http_exchange(
        url, req,
        {options_.timeout, options_.ca_file, options_.proxy ? &*options_.proxy : nullptr});
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

}  // namespace rwgate::aws
