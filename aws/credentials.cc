#include "aws/credentials.h"

#include <yaml-cpp/yaml.h>

#include <cctype>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iomanip>
#include <map>
#include <sstream>
#include <vector>

#include "aws/xml.h"
#include "base/file_stamp.h"
#include "base/http_client.h"
#include "base/secret_file.h"

namespace rwgate::aws {

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? std::string() : std::string(v);
}

std::string shared_file_path() {
  std::string file = env("AWS_SHARED_CREDENTIALS_FILE");
  if (file.empty() && !env("HOME").empty()) file = env("HOME") + "/.aws/credentials";
  return file;
}

// The [profile] section of an INI credentials file.
std::map<std::string, std::string> ini_section(const std::string& text, const std::string& name) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  std::string line;
  bool inside = false;
  while (std::getline(in, line)) {
    const std::string t(trim_space(line));
    if (t.empty() || t[0] == '#' || t[0] == ';') continue;
    if (t.front() == '[' && t.back() == ']') {
      inside = trim_space(std::string_view(t).substr(1, t.size() - 2)) == name;
      continue;
    }
    if (!inside) continue;
    const size_t eq = t.find('=');
    if (eq == std::string::npos) continue;
    out[std::string(trim_space(std::string_view(t).substr(0, eq)))] =
        std::string(trim_space(std::string_view(t).substr(eq + 1)));
  }
  return out;
}

// "2026-12-01T15:04:05Z" (fractions allowed) -> time point; the epoch when it does not parse.
std::chrono::system_clock::time_point parse_iso8601(const std::string& s) {
  std::tm tm{};
  std::istringstream in(s);
  in >> std::get_time(&tm, "%Y-%m-%dT%H:%M:%S");
  if (in.fail()) return {};
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

std::string http_failure(const net::HttpResult& r) {
  return r.status == 0 ? r.error : "HTTP " + std::to_string(r.status);
}

}  // namespace

CredentialChain::CredentialChain(CredentialOptions options) : options_(std::move(options)) {}

Status CredentialChain::get(Credentials& out) {
  std::lock_guard lock(mu_);
  if (cached_still_good()) {
    out = cached_;
    return {};
  }
  return fetch(out);
}

Status CredentialChain::refresh(Credentials& out) {
  std::lock_guard lock(mu_);
  return fetch(out);
}

bool CredentialChain::cached_still_good() {
  if (cached_.empty()) return false;
  if (cached_.expiration != std::chrono::system_clock::time_point{}) {
    // 5 minutes early, or a quarter of the lifetime for short-lived ones.
    const auto margin = std::min<std::chrono::system_clock::duration>(
        std::chrono::minutes(5), (cached_.expiration - fetched_at_) / 4);
    return std::chrono::system_clock::now() < cached_.expiration - margin;
  }
  if (cached_.provider != "shared-file") return true;
  const auto now = std::chrono::steady_clock::now();
  if (now - checked_ < std::chrono::seconds(1)) return true;
  checked_ = now;
  return file_stamp(shared_file_path()) == shared_file_stamp_;
}

Status CredentialChain::fetch(Credentials& out) {
  Credentials base;
  if (Status st = from_chain(base); !st) return st;
  if (options_.role_arn.empty()) {
    cached_ = base;
  } else if (Status st = assume_role(base, cached_); !st) {
    cached_ = {};
    return st;
  }
  checked_ = std::chrono::steady_clock::now();
  fetched_at_ = std::chrono::system_clock::now();
  out = cached_;
  return {};
}

Status CredentialChain::from_chain(Credentials& out) {
  std::vector<std::string> tried;
  if (!options_.access_key_id.empty() && !options_.secret_access_key.empty()) {
    out = Credentials{options_.access_key_id, options_.secret_access_key, "", {}, "config"};
    return {};
  }
  tried.push_back("config: no static keys");
  if (const std::string id = env("AWS_ACCESS_KEY_ID"), secret = env("AWS_SECRET_ACCESS_KEY");
      !id.empty() && !secret.empty()) {
    out = Credentials{id, secret, env("AWS_SESSION_TOKEN"), {}, "environment"};
    return {};
  }
  tried.push_back("environment: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY not set");
  // IRSA (EKS IAM roles for service accounts): the pod's token traded for a role's keys.
  if (const std::string role = env("AWS_ROLE_ARN"), file = env("AWS_WEB_IDENTITY_TOKEN_FILE");
      !role.empty() && !file.empty()) {
    Status st = from_web_identity(role, file, out);
    if (st) return {};
    tried.push_back("web identity: " + st.reason());
  } else {
    tried.push_back("web identity: AWS_ROLE_ARN/AWS_WEB_IDENTITY_TOKEN_FILE not set");
  }
  const std::string file = shared_file_path();
  std::string profile = options_.profile;
  if (profile.empty()) profile = env("AWS_PROFILE");
  if (profile.empty()) profile = "default";
  if (!file.empty()) {
    // Stamped before reading: a rewrite racing this read shows as a change next time.
    const int64_t stamp = file_stamp(file);
    std::ifstream in(file, std::ios::binary);
    if (in) {
      std::stringstream text;
      text << in.rdbuf();
      auto section = ini_section(text.str(), profile);
      if (!section["aws_access_key_id"].empty() && !section["aws_secret_access_key"].empty()) {
        out = Credentials{section["aws_access_key_id"],
                          section["aws_secret_access_key"],
                          section["aws_session_token"],
                          {},
                          "shared-file"};
        shared_file_stamp_ = stamp;
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
    Status st = from_imds(out);
    if (st) return {};
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
  // IMDS is link-local: never through a proxy, and quick to answer or absent.
  net::HttpClientOptions http{std::chrono::seconds(2), options_.ca_file, nullptr};
  const net::Url& url = *parsed;
  const net::HttpResult token = net::http_exchange(
      url, {"PUT", "/latest/api/token", {{"X-aws-ec2-metadata-token-ttl-seconds", "21600"}}, ""},
      http);
  if (token.status != 200) return Status::error("IMDSv2 token: " + http_failure(token));
  const std::vector<std::pair<std::string, std::string>> auth = {
      {"X-aws-ec2-metadata-token", std::string(trim_space(token.body))}};
  const std::string base = "/latest/meta-data/iam/security-credentials/";
  const net::HttpResult role = net::http_exchange(url, {"GET", base, auth, ""}, http);
  if (role.status != 200 || trim_space(role.body).empty()) {
    return Status::error("no instance role (" + http_failure(role) + ")");
  }
  const std::string name(trim_space(std::string_view(role.body).substr(0, role.body.find('\n'))));
  const net::HttpResult creds = net::http_exchange(url, {"GET", base + name, auth, ""}, http);
  if (creds.status != 200) {
    return Status::error("role " + name + " credentials: " + http_failure(creds));
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

namespace {

std::string sts_endpoint(const CredentialOptions& o) {
  std::string endpoint = o.sts_endpoint;
  if (endpoint.empty()) endpoint = env("AWS_ENDPOINT_URL_STS");
  if (endpoint.empty()) endpoint = env("AWS_ENDPOINT_URL");
  if (endpoint.empty()) {
    endpoint =
        "https://sts." + o.region + ".amazonaws.com" + (o.region.starts_with("cn-") ? ".cn" : "");
  }
  return endpoint;
}

std::string session_name() {
  if (std::string name = env("AWS_ROLE_SESSION_NAME"); !name.empty()) return name;
  return "rwgate-" + std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

// One STS call that answers with temporary credentials: `form` is its body (Action=...),
// signed with `signer` unless null (AssumeRoleWithWebIdentity is not signed: the token is
// the proof). `what` names the call in errors; `action` is the Action, whose
// <ActionResult> holds the credentials.
Status sts_credentials(const CredentialOptions& o, const std::string& action,
                       const std::string& form, const Credentials* signer, const std::string& what,
                       Credentials& out) {
  const std::string endpoint = sts_endpoint(o);
  std::string why;
  const std::optional<net::Url> url = net::parse_url(endpoint, why, net::Schemes::kHttpOrHttps);
  if (!url) return Status::error("STS endpoint " + endpoint + " " + why);
  net::HttpRequest req{"POST",
                       url->target,
                       {{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}},
                       form};
  if (signer != nullptr) {
    SignInput in;
    in.host = net::host_header(*url);
    in.path = url->target;
    in.headers = req.headers;
    in.body = form;
    const SignOutput sig = sign_v4(*signer, o.region, "sts", in, std::chrono::system_clock::now());
    req.headers.emplace_back("X-Amz-Date", sig.amz_date);
    req.headers.emplace_back("Authorization", sig.authorization);
    if (!signer->session_token.empty())
      req.headers.emplace_back("X-Amz-Security-Token", signer->session_token);
  }
  const net::HttpResult res =
      net::http_exchange(*url, req, {o.timeout, o.ca_file, o.proxy ? &*o.proxy : nullptr});
  if (res.status == 0) return Status::error(what + ": " + res.error);
  std::string parse_error;
  const std::unique_ptr<XmlNode> doc = parse_xml(res.body, parse_error);
  if (res.status != 200) {
    const XmlNode* e = doc != nullptr ? doc->child("Error") : nullptr;
    std::string detail = e != nullptr ? std::string(e->child_text("Code")) + ": " +
                                            std::string(e->child_text("Message"))
                                      : std::string();
    return Status::error(what + ": HTTP " + std::to_string(res.status) +
                         (detail.empty() ? "" : " " + detail));
  }
  const XmlNode* result = doc != nullptr ? doc->child(action + "Result") : nullptr;
  const XmlNode* c = result != nullptr ? result->child("Credentials") : nullptr;
  if (c == nullptr) return Status::error(what + ": no Credentials in the answer");
  out = Credentials{std::string(c->child_text("AccessKeyId")),
                    std::string(c->child_text("SecretAccessKey")),
                    std::string(c->child_text("SessionToken")),
                    parse_iso8601(std::string(c->child_text("Expiration"))), "sts"};
  if (out.empty() || out.expiration == std::chrono::system_clock::time_point{})
    return Status::error(what + ": incomplete Credentials in the answer");
  return {};
}

}  // namespace

Status CredentialChain::assume_role(const Credentials& base, Credentials& out) {
  const std::string form =
      "Action=AssumeRole&Version=2011-06-15&RoleArn=" + net::percent_encode(options_.role_arn) +
      "&RoleSessionName=" + net::percent_encode(session_name()) + "&DurationSeconds=3600";
  return sts_credentials(options_, "AssumeRole", form, &base,
                         "AssumeRole " + options_.role_arn + " (with " + base.provider +
                             " credentials " + base.access_key_id + ")",
                         out);
}

Status CredentialChain::from_web_identity(const std::string& role_arn,
                                          const std::string& token_file, Credentials& out) {
  // Read at every fetch: Kubernetes rotates the projected token (hourly, for EKS).
  std::string token;
  if (Status st = read_secret_file(token_file, token); !st)
    return Status::error("AWS_WEB_IDENTITY_TOKEN_FILE: " + st.reason());
  const std::string form = "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=" +
                           net::percent_encode(role_arn) +
                           "&RoleSessionName=" + net::percent_encode(session_name()) +
                           "&DurationSeconds=3600&WebIdentityToken=" + net::percent_encode(token);
  Status st = sts_credentials(options_, "AssumeRoleWithWebIdentity", form, nullptr,
                              "AssumeRoleWithWebIdentity " + role_arn, out);
  if (st) out.provider = "web-identity";
  return st;
}

}  // namespace rwgate::aws
