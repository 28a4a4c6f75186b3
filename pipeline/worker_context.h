// The state one ingest worker owns: its scratch buffers, its result cache and its series
// tracker.
//
// The HTTP server runs one io_context per worker thread and a connection stays on its
// worker, so everything here is used by one thread at a time and needs no lock (the
// tracker and the recent series have their own, for the stale-marker sender and the
// trace page). The gateway creates one context per
// worker before the server starts and keeps them until after the stale-marker sender has
// stopped, so the trackers outlive every reader; the server hands each request the context
// of the worker it runs on.
#pragma once

#include <string>
#include <vector>

#include "lb/evidence.h"
#include "pipeline/label_pipeline.h"
#include "pipeline/recent_series.h"
#include "pipeline/tenancy.h"
#include "proto/batch.h"
#include "proto/decode.h"
#include "staleness/series_tracker.h"

namespace rwgate::pipeline {

struct WorkerContext {
  // Who sent the request in progress: the basic-auth user, else the subject of its verified
  // client certificate (empty: neither).
  std::string identity;
  // Decode: the request's decompressed bytes and the batch of views into them.
  std::string decoded;
  proto::Decoder decoder;
  proto::Batch batch;
  // Tenants: the names this worker has already interned, and the scratch of grouping each
  // sink's series by tenant.
  TenantResolver tenants;
  TenantGrouping tenant_grouping;
  // Labels: the pipeline (and its per-series result cache) and what it hands each sink.
  LabelPipeline pipeline;
  PipelineStats stats;
  std::vector<proto::SeriesOut> as_received;  // no rules: the series as they came
  std::vector<std::vector<proto::SeriesOut>> per_sink;
  // Load-balancer evidence of the request, handed to the detector once per request.
  lb::LbEvidence lb_evidence;
  // Track: the series forwarded for matched instances, for stale-target cleanup.
  staleness::SeriesTracker tracker;
  // A sample of the label sets received, for the trace page (locks once in 64 requests).
  RecentSeries recent;
};

}  // namespace rwgate::pipeline
