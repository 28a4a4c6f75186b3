// Native histogram validation: what Prometheus 3 refuses before it appends a histogram
// (model/histogram's Validate, run by its remote-write receiver after reducing schemas
// 9..52 to 8), checked on the Histogram message's bytes so that a store never sees one
// it would answer 400 for, which would drop the whole request the histogram came in.
//
// A histogram is a float histogram when the last `count` field on the wire is count_float
// (field 2), else an integer one; an integer histogram's buckets are its deltas, a float
// histogram's its absolute counts, and the other kind's arrays are ignored, as Prometheus
// ignores them. The reasons are Prometheus's own wording, so a reason found in its docs or
// issues is the one rwgate gives.
#pragma once

#include <string>
#include <string_view>

#include "proto/batch.h"

namespace rwgate::proto {

// Empty when `histogram` (the bytes of one Histogram message) is valid; otherwise why not,
// in one line. Malformed protobuf inside the message is a reason too.
std::string histogram_problem(std::string_view histogram);

// The same check, in the same pass reading what the decoder keeps of the histogram into
// `out` (its bytes, timestamp and start timestamp): one read of the message on ingest.
std::string inspect_histogram(std::string_view histogram, Histogram& out);

}  // namespace rwgate::proto
