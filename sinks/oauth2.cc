#include "sinks/oauth2.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>

#include "base/base64.h"
#include "base/http_client.h"
#include "base/log.h"
#include "base/secret_file.h"

namespace rwgate::sinks {

namespace http = boost::beast::http;

OAuth2Token::OAuth2Token(OAuth2Config config, std::chrono::milliseconds timeout)
    : config_(std::move(config)), timeout_(timeout), refresher_([this] { refresh_loop(); }) {}

OAuth2Token::~OAuth2Token() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  refresher_.join();
}

Status OAuth2Token::fetch(Token& out) const {
  std::string secret = config_.client_secret;
  if (!config_.client_secret_file.empty()) {
    if (Status st = read_secret_file(config_.client_secret_file, secret); !st) return st;
  }
  std::string body = "grant_type=client_credentials";
  std::string scope;
  for (const std::string& s : config_.scopes) scope += (scope.empty() ? "" : " ") + s;
  if (!scope.empty()) body += "&scope=" + net::percent_encode(scope);
  for (const auto& [k, v] : config_.endpoint_params)
    body += "&" + net::percent_encode(k) + "=" + net::percent_encode(v);
  const std::string client =
      net::percent_encode(config_.client_id) + ":" + net::percent_encode(secret);
  const net::HttpRequest req{"POST",
                             config_.token_url.target,
                             {{"Content-Type", "application/x-www-form-urlencoded"},
                              {"Accept", "application/json"},
                              {"Authorization", "Basic " + base64_encode(client)}},
                             body};
  const Clock::time_point asked = Clock::now();
  const net::HttpResult res = net::http_exchange(
      config_.token_url, req,
      {timeout_, config_.ca_file, config_.proxy ? &*config_.proxy : nullptr, 1 << 20});
  const std::string where = "token endpoint " + config_.token_url.text;
  if (res.status == 0) return Status::error(where + ": " + res.error);
  YAML::Node j;
  try {
    j = YAML::Load(res.body);
  } catch (const YAML::Exception&) {
    j = YAML::Node();
  }
  if (res.status != 200) {
    // RFC 6749 section 5.2: {"error": "...", "error_description": "..."}.
    std::string why = j.IsMap() ? j["error"].as<std::string>("") : "";
    if (j.IsMap() && j["error_description"].IsScalar())
      why += ": " + j["error_description"].as<std::string>("");
    return Status::error(where + " answered " + std::to_string(res.status) +
                         (why.empty() ? "" : " " + why));
  }
  if (!j.IsMap() || !j["access_token"].IsScalar() || j["access_token"].Scalar().empty())
    return Status::error(where + ": no access_token in the answer");
  std::string type = j["token_type"].as<std::string>("Bearer");
  // "bearer" is common; the header wants the scheme as RFC 6750 writes it.
  if (type.empty() || type == "bearer") type = "Bearer";
  out = Token{type + " " + j["access_token"].Scalar()};
  int64_t expires_in = 0;
  try {
    expires_in = j["expires_in"].as<int64_t>(0);
  } catch (const YAML::Exception&) {
    expires_in = 0;
  }
  if (expires_in > 0) {
    const auto lifetime = std::chrono::seconds(expires_in);
    const auto margin = std::min<Clock::duration>(std::chrono::seconds(10), lifetime / 4);
    out.usable_until = asked + lifetime - margin;
    out.refresh_at = asked + lifetime * 4 / 5;
  }
  return {};
}

bool OAuth2Token::renew() {
  Token fresh;
  const Status st = fetch(fresh);
  std::lock_guard lock(mu_);
  if (!st) {
    if (st.reason() != last_error_) {
      log::warn("cannot get an OAuth2 token; sends wait for one",
                {{"component", "sink"}, {"error", st.reason()}});
      last_error_ = st.reason();
    }
    return false;
  }
  if (!last_error_.empty())
    log::info("OAuth2 token endpoint answers again", {{"component", "sink"}});
  last_error_.clear();
  token_ = std::move(fresh);
  ++version_;
  wake_.notify_all();
  return true;
}

void OAuth2Token::refresh_loop() {
  auto retry = std::chrono::seconds(1);
  std::unique_lock lock(mu_);
  while (!stopping_) {
    const Clock::time_point due = version_ == 0 ? Clock::now() : token_.refresh_at;
    if (due == Clock::time_point::max()) {
      wake_.wait(lock);  // a token that does not expire: until a send replaces it, or stop
      continue;
    }
    if (Clock::now() < due) {
      // Woken early by a new token (installed by a send) or by the destructor.
      wake_.wait_until(lock, due);
      continue;
    }
    lock.unlock();
    const bool ok = renew();
    lock.lock();
    if (ok) {
      retry = std::chrono::seconds(1);
    } else {
      // The endpoint is down: try again, more slowly each time (sends still fetch on need).
      wake_.wait_for(lock, retry, [this] { return stopping_; });
      retry = std::min<std::chrono::seconds>(retry * 2, std::chrono::seconds(30));
    }
  }
}

Status OAuth2Token::apply(HttpRequest& request, uint64_t& version) {
  std::unique_lock lock(mu_);
  if (version_ == 0 || Clock::now() >= token_.usable_until) {
    lock.unlock();  // the token endpoint is asked without the lock
    const bool renewed = renew();
    lock.lock();
    if (!renewed) return Status::error("no OAuth2 token: " + last_error_);
  }
  request.set(http::field::authorization, token_.header);
  version = version_;
  return {};
}

bool OAuth2Token::changed_since(uint64_t version) {
  {
    std::lock_guard lock(mu_);
    if (version_ != version) return true;  // a newer token is already here
  }
  renew();
  std::lock_guard lock(mu_);
  return version_ != version;
}

}  // namespace rwgate::sinks
