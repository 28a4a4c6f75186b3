// The operator's pages and the trace API, on the main listener behind the same auth as
// every other endpoint (the gateway routes here after authenticate()):
//
//   GET  /trace            what the pipeline does to a label set, step by step; the form
//                          is a GET, so `/trace?labels={...}&rules=...` links to a trace
//   POST /api/v1/trace     the same as JSON (proxy/trace_service.h)
//   GET  /config           the running config, secrets redacted
//
// Server-rendered HTML from templates compiled into the binary: readable without
// JavaScript, nothing fetched from elsewhere. Every text that comes from senders, discovery
// or the config is HTML-escaped (a label value "<script>" shows as text). The pages read
// the same snapshot the ingest path reads, so they cost the request path nothing.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "pipeline/trace.h"
#include "proxy/http_server.h"
#include "proxy/ingest.h"

namespace rwgate::proxy {

// A plain-text answer (the admin endpoints' errors and acknowledgements).
void text_response(HttpResponse& res, boost::beast::http::status status, std::string body);

// An HTML page in the common frame (the navigation, the style); `path` marks where in the
// navigation it is. `body` is HTML: escape what goes into it. `refresh`: load the status
// page's script, which replaces the content every few seconds.
void render_page(HttpResponse& res, std::string_view path, std::string_view title,
                 std::string_view body, bool refresh = false);

// `s` with & < > " ' as character references.
std::string html_escape(std::string_view s);

// `sender`: the request's authenticated identity (for tenancy.from_sender).
void serve_trace_api(const IngestSnapshot& snapshot, const HttpRequest& req, HttpResponse& res,
                     std::string_view sender);
// `recent`: label sets received lately, offered as links to their trace.
void serve_trace_page(const IngestSnapshot& snapshot, const HttpRequest& req, HttpResponse& res,
                      std::string_view sender, const std::vector<pipeline::TraceLabels>& recent);
void serve_config_page(const IngestSnapshot& snapshot, HttpResponse& res);

}  // namespace rwgate::proxy
