#include "sinks/sigv4_auth.h"

#include "aws/sigv4.h"

namespace rwgate::sinks {

namespace http = boost::beast::http;

namespace {

aws::CredentialOptions chain_options(const SigV4Config& c, std::chrono::milliseconds timeout) {
  aws::CredentialOptions o;
  o.region = c.region;
  o.access_key_id = c.access_key;
  o.secret_access_key = c.secret_key;
  o.profile = c.profile;
  o.role_arn = c.role_arn;
  o.timeout = timeout;
  return o;
}

}  // namespace

SigV4Auth::SigV4Auth(const SigV4Config& config, std::chrono::milliseconds timeout)
    : region_(config.region),
      service_(config.service_name),
      chain_(chain_options(config, timeout)) {}

uint64_t SigV4Auth::version_of(const aws::Credentials& c) {
  // The secret is not kept: a new secret comes with a new key id (or session token).
  std::string keys = c.access_key_id + "\n" + c.session_token;
  if (keys != keys_) {
    keys_ = std::move(keys);
    ++version_;
  }
  return version_;
}

Status SigV4Auth::apply(HttpRequest& request, uint64_t& version) {
  aws::Credentials creds;
  if (Status st = chain_.get(creds); !st) return st;
  {
    std::lock_guard lock(mu_);
    version = version_of(creds);
  }
  aws::SignInput in;
  in.method = std::string(request.method_string());
  in.host = std::string(request[http::field::host]);
  const std::string_view target = request.target();
  const size_t q = target.find('?');
  in.path = std::string(target.substr(0, q));
  if (q != std::string_view::npos) in.query = std::string(target.substr(q + 1));
  for (const auto& field : request) {
    const http::field f = field.name();
    if (f == http::field::host || f == http::field::user_agent || f == http::field::authorization)
      continue;
    const std::string_view name = field.name_string();
    if (name.size() > 6 && (name.substr(0, 6) == "X-Amz-" || name.substr(0, 6) == "x-amz-"))
      continue;  // this request's previous signature
    in.headers.emplace_back(std::string(name), std::string(field.value()));
  }
  in.payload_hash = aws::sha256_hex(request.body());
  const aws::SignOutput sig =
      aws::sign_v4(creds, region_, service_, in, std::chrono::system_clock::now());
  request.set("X-Amz-Date", sig.amz_date);
  if (creds.session_token.empty()) {
    request.erase("X-Amz-Security-Token");
  } else {
    request.set("X-Amz-Security-Token", creds.session_token);
  }
  request.set(http::field::authorization, sig.authorization);
  return {};
}

bool SigV4Auth::changed_since(uint64_t version) {
  aws::Credentials creds;
  if (Status st = chain_.refresh(creds); !st) return false;
  std::lock_guard lock(mu_);
  return version_of(creds) != version;
}

}  // namespace rwgate::sinks
