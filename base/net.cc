#include "base/net.h"

#include <arpa/inet.h>

#include <cctype>
#include <charconv>

namespace rwgate::net {

HostPort split_host_port(std::string_view address) {
  HostPort out;
  if (!address.empty() && address.front() == '[') {
    const size_t close = address.find(']');
    if (close == std::string_view::npos) {
      out.host = address;
      out.ok = false;
      return out;
    }
    out.host = address.substr(1, close - 1);
    const std::string_view rest = address.substr(close + 1);
    if (rest.empty()) return out;
    if (rest.front() != ':') {
      out.ok = false;
      return out;
    }
    out.has_port = true;
    out.port = rest.substr(1);
    return out;
  }
  const size_t colon = address.rfind(':');
  // More than one colon without brackets: a bare IPv6 address, no port.
  if (colon == std::string_view::npos || address.find(':') != colon) {
    out.host = address;
    return out;
  }
  out.host = address.substr(0, colon);
  out.port = address.substr(colon + 1);
  out.has_port = true;
  return out;
}

std::string_view host_of(std::string_view address) { return split_host_port(address).host; }

std::string join_host_port(std::string_view host, std::string_view port) {
  std::string out;
  if (host.find(':') != std::string_view::npos) {
    out.append("[").append(host).append("]");
  } else {
    out.append(host);
  }
  if (!port.empty()) out.append(":").append(port);
  return out;
}

std::string canonical_dns_name(std::string_view name) {
  std::string out(name);
  while (!out.empty() && out.back() == '.') out.pop_back();
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool valid_port(std::string_view port) {
  int n = 0;
  auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), n);
  return ec == std::errc() && p == port.data() + port.size() && n >= 1 && n <= 65535;
}

namespace {

// The scheme part; false with `why` set when it is missing or not one the caller speaks.
bool read_scheme(std::string_view text, Schemes schemes, Url& url, std::string& why) {
  const bool https_ok = schemes == Schemes::kHttpOrHttps;
  const size_t end = text.find("://");
  if (end == std::string_view::npos) {
    why = https_ok ? "must be an absolute URL like https://host[:port]"
                   : "must be an absolute URL like http://host:port/path";
    return false;
  }
  url.scheme = std::string(text.substr(0, end));
  if (url.scheme == "http" || (https_ok && url.scheme == "https")) return true;
  why = "scheme \"" + url.scheme + "\" is not supported " +
        (https_ok ? "(use http or https)" : "(use http)");
  return false;
}

}  // namespace

std::optional<Url> parse_url(std::string_view text, std::string& why, Schemes schemes) {
  Url url;
  url.text = std::string(text);
  if (!read_scheme(text, schemes, url, why)) return std::nullopt;
  const std::string_view rest = text.substr(url.scheme.size() + 3);
  const size_t path_start = rest.find('/');
  const std::string_view authority = rest.substr(0, path_start);
  url.target = path_start == std::string_view::npos ? "/" : std::string(rest.substr(path_start));
  if (authority.find('@') != std::string_view::npos) {
    why = "credentials in the URL are not supported; use headers";
    return std::nullopt;
  }
  const HostPort hp = split_host_port(authority);
  if (!hp.ok) {
    why = hp.host.size() == authority.size()
              ? "unterminated IPv6 address"
              : "bad port \"" + std::string(authority.substr(hp.host.size() + 2)) + "\"";
    return std::nullopt;
  }
  url.host = std::string(hp.host);
  if (url.host.empty()) {
    why = "has no host";
    return std::nullopt;
  }
  if (hp.has_port && hp.port.empty()) {
    why = "empty port";
    return std::nullopt;
  }
  url.port = hp.has_port ? std::string(hp.port) : url.scheme == "https" ? "443" : "80";
  if (!valid_port(url.port)) {
    why = "bad port \"" + url.port + "\"";
    return std::nullopt;
  }
  return url;
}

std::string percent_encode(std::string_view s, bool keep_slash) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '-' || c == '_' || c == '.' || c == '~' ||
        (keep_slash && c == '/')) {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kDigits[u >> 4]);
      out.push_back(kDigits[u & 15]);
    }
  }
  return out;
}

std::string host_header(std::string_view host, std::string_view port, bool https) {
  const bool default_port = port == (https ? "443" : "80");
  return join_host_port(host, default_port ? "" : port);
}

bool is_ip_literal(const std::string& host) {
  unsigned char buf[sizeof(struct in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string query_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out.push_back(' ');
    } else if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 &&
               hex_value(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

namespace {

// Calls `each(name, value)` (both still encoded) for each non-empty pair of the query of
// `target`, until it returns false.
template <typename F>
void walk_query(std::string_view target, F each) {
  const size_t q = target.find('?');
  if (q == std::string_view::npos) return;
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    const size_t amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    if (!each(pair.substr(0, eq),
              eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1)))
      return;
  }
}

}  // namespace

std::optional<std::string> query_param(std::string_view target, std::string_view name) {
  std::optional<std::string> out;
  walk_query(target, [&](std::string_view n, std::string_view v) {
    if (query_decode(n) != name) return true;
    out = query_decode(v);
    return false;
  });
  return out;
}

std::vector<std::pair<std::string, std::string>> query_params(std::string_view target) {
  std::vector<std::pair<std::string, std::string>> out;
  walk_query(target, [&](std::string_view n, std::string_view v) {
    out.emplace_back(query_decode(n), query_decode(v));
    return true;
  });
  return out;
}

}  // namespace rwgate::net
