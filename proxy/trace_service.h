// POST /api/v1/trace, the /trace page and `rwgate trace`: a label set through the running
// label pipeline, step by step (pipeline/trace.h), with the config and the snapshots the
// ingest path uses at that moment. A trace reads them and changes nothing.
#pragma once

#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/trace.h"
#include "proxy/ingest.h"

namespace rwgate::proxy {

struct TraceQuery {
  pipeline::TraceLabels labels;
  // Rules pasted to try in place of relabel_configs; nullopt: the running ones.
  std::optional<std::vector<relabel::Rule>> rules;
};

// `{"name": "value", ...}` into `labels`, sorted by name; false with `why` (one line).
bool parse_trace_labels(std::string_view json, pipeline::TraceLabels& labels, std::string& why);
// A YAML list of relabel_config entries (as `rwgate relabel --rules` reads); false with
// every error in `why`, each with its path.
bool parse_trace_rules(std::string_view yaml, relabel::NameValidation names,
                       std::vector<relabel::Rule>& rules, std::string& why);
// The POST body: {"labels": {...}, "rules": "<YAML text>"} ("rules" optional).
bool parse_trace_query(std::string_view body, relabel::NameValidation names, TraceQuery& query,
                       std::string& why);

// `sender`: the identity the request would have (tenancy.from_sender).
pipeline::SeriesTrace run_trace(const IngestSnapshot& snapshot, const TraceQuery& query,
                                std::string_view sender = {});

// `rwgate trace --config.file=FILE`: one JSON label set a line in, one trace a line out
// (`{"error": "..."}` for a line that cannot be read). Pull discovery sources (file, http,
// aws) are started and given up to 10 s for their first listing; push sources (gRPC,
// EventBridge) have nothing to say to a one-shot command and are not started.
int run_trace_command(const std::string& config_file, std::istream& in, std::ostream& out,
                      std::ostream& err);

}  // namespace rwgate::proxy
