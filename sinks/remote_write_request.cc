#include "sinks/remote_write_request.h"

#include <snappy.h>

#include <algorithm>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/verb.hpp>

#include "base/net.h"
#include "sinks/remote_write_sink.h"

namespace rwgate::sinks {

namespace http = boost::beast::http;

void append_series(proto::Protocol protocol, std::string& body, proto::V2RequestBuilder& v2,
                   const proto::Batch& batch, const proto::SeriesOut& out, EncodeState& state) {
  const proto::Series& s = batch.series[out.index];
  if (protocol == proto::Protocol::kV1) {
    proto::append_series_v1(body, batch, s, out.labels, out.encoded_labels);
    // RW 2.0 input carries metadata per series; RW 1.0 output wants one entry per family.
    if (!s.metadata.present) return;
    const std::string_view name = proto::label_value(out.labels, "__name__");
    if (state.families_seen.insert(name).second)
      proto::append_metadata_v1(body, {s.metadata.type, name, s.metadata.help, s.metadata.unit});
    return;
  }
  // RW 1.0 input carries metadata per family, in this request or an earlier one; RW 2.0
  // output wants it on each series.
  proto::SeriesMetadata md = s.metadata;
  if (!md.present) {
    const std::string_view name = proto::label_value(out.labels, "__name__");
    if (const auto* fm = proto::find_family_metadata(batch.metadata, name)) {
      md = {fm->type, fm->help, fm->unit, true};
    } else if (state.known != nullptr) {
      md = state.known->find(name);
    }
  }
  v2.add_series(batch, s, out.labels, md);
}

void EnqueueScratch::reset(size_t nshards) {
  // Grown, never shrunk: the vectors keep their capacity from call to call.
  of_shard.resize(std::max(of_shard.size(), nshards));
  for (size_t si = 0; si < nshards; ++si) of_shard[si].clear();
  encode.families_seen.clear();  // keeps its buckets
  encode.known = nullptr;
  records.resize(nshards);
  for (size_t si = 0; si < nshards; ++si) {
    records[si].first = RecordMeta{static_cast<uint16_t>(si), 0, 0, 0};
    records[si].second.clear();
  }
  builders.resize(std::max(builders.size(), nshards));
  used.assign(nshards, false);
}

EnqueueScratchPool::Lease EnqueueScratchPool::lease() {
  std::unique_ptr<EnqueueScratch> scratch;
  {
    std::lock_guard lock(mu_);
    if (!free_.empty()) {
      scratch = std::move(free_.back());
      free_.pop_back();
    }
  }
  if (!scratch) scratch = std::make_unique<EnqueueScratch>();  // a new peak of callers
  return Lease(*this, std::move(scratch));
}

void EnqueueScratchPool::give_back(std::unique_ptr<EnqueueScratch> scratch) {
  std::lock_guard lock(mu_);
  free_.push_back(std::move(scratch));
}

HttpRequest make_http_request(const RemoteWriteOptions& options) {
  HttpRequest req{http::verb::post, options.target, 11};
  // SigV4 signs it: written as HTTP clients write it.
  req.set(http::field::host, net::host_header(options.host, options.port, options.tls.enabled));
  req.set(http::field::user_agent, "rwgate/0.1");
  req.set(http::field::content_encoding, "snappy");
  if (options.protocol == proto::Protocol::kV1) {
    req.set(http::field::content_type, "application/x-protobuf");
    req.set("X-Prometheus-Remote-Write-Version", "0.1.0");
  } else {
    req.set(http::field::content_type,
            "application/x-protobuf;proto=io.prometheus.write.v2.Request");
    req.set("X-Prometheus-Remote-Write-Version", "2.0.0");
  }
  for (const auto& [k, v] : options.headers) req.set(k, v);
  return req;
}

void set_body(HttpRequest& request, std::string_view body, CompressBuffer& buffer) {
  const size_t worst = snappy::MaxCompressedLength(body.size());
  if (worst > buffer.capacity) {
    buffer.bytes = std::make_unique_for_overwrite<char[]>(worst);
    buffer.capacity = worst;
  }
  size_t length = 0;
  snappy::RawCompress(body.data(), body.size(), buffer.bytes.get(), &length);
  request.body().assign(buffer.bytes.get(), length);
  request.prepare_payload();
}

}  // namespace rwgate::sinks
