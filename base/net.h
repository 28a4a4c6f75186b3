// Addresses and URLs, parsed one way for the whole program.
//
// An address is `host:port`, `[v6]:port`, `[v6]`, a bare IPv6 address or a bare host.
// Brackets are the only way to give an IPv6 address a port: an address with two or more
// colons and no brackets is a bare IPv6 address with no port ("fe80::1" is host "fe80::1",
// not host "fe80:" and port "1").
//
// URLs are the subset rwgate sends to: http:// or https://, a host (IPv6 in brackets), an
// optional numeric port, then the path and query. No user info: credentials go in headers.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rwgate::net {

struct HostPort {
  std::string_view host;  // without brackets; the whole input when unbracketing fails
  std::string_view port;  // empty when there is none (or when it was written empty)
  bool has_port = false;  // a ':' after the host, even with nothing after it ("host:")
  bool ok = true;         // false: "[" without "]", or something other than ":port" after "]"
};
// Splits `address` into views of it.
HostPort split_host_port(std::string_view address);

// The host part of an address, port and brackets stripped: "[v6]:port" -> "v6",
// "host:port" -> "host", "fe80::1" -> "fe80::1", "host" -> "host".
std::string_view host_of(std::string_view address);

// "host:port", with brackets around an IPv6 host ("[::1]:80"); an empty port gives the
// host alone (still bracketed when IPv6), as a Host header omits a default port.
std::string join_host_port(std::string_view host, std::string_view port);

// Decodes a query component: %XX, and '+' as a space (as HTML forms and form encoding
// write them). A malformed escape is kept as written.
std::string query_decode(std::string_view s);

// The value of query parameter `name` in a request target ("/trace?labels=%7B..."),
// percent-decoded with '+' as a space (HTML forms send them so); nullopt when absent.
// A malformed escape is kept as written.
std::optional<std::string> query_param(std::string_view target, std::string_view name);
// Every parameter of the query of `target`, in order, names and values decoded as above;
// an empty pair ("a=1&&b=2") is left out, a name without '=' has an empty value.
std::vector<std::pair<std::string, std::string>> query_params(std::string_view target);

// A port number as written in an address or a query: digits only, 1-65535.
bool valid_port(std::string_view port);

// A DNS name as compared: lower case, without a trailing dot.
std::string canonical_dns_name(std::string_view name);

struct Url {
  std::string scheme;  // http | https
  std::string host;    // without brackets
  std::string port;    // always set; from the scheme when not written (80, 443)
  std::string target;  // path and query, "/" at least
  std::string text;    // as written
};

// Which schemes a caller can speak; it also picks the wording of the error messages.
enum class Schemes {
  kHttp,         // remote_write sinks, http_sd: "... (use http)"
  kHttpOrHttps,  // AWS endpoints: "... (use https, or http for tests)"
};

// Parses `text`; nullopt with `why` set (one line, for a config error) when it cannot.
std::optional<Url> parse_url(std::string_view text, std::string& why,
                             Schemes schemes = Schemes::kHttp);

// The Host header (and absolute-form authority) for host and port: the port left out when it
// is the scheme's default (443 for https, 80 for http), as HTTP clients write it.
std::string host_header(std::string_view host, std::string_view port, bool https);
inline std::string host_header(const Url& url) {
  return host_header(url.host, url.port, url.scheme == "https");
}

// Whether `host` is an IPv4 or IPv6 address rather than a name (SNI carries names only).
bool is_ip_literal(const std::string& host);

// RFC 3986 percent-encoding: unreserved characters (A-Z a-z 0-9 - _ . ~) as they are,
// everything else %XX in upper case ('/' kept when `keep_slash`). What SigV4 wants, and a
// valid application/x-www-form-urlencoded value.
std::string percent_encode(std::string_view s, bool keep_slash = false);

}  // namespace rwgate::net
