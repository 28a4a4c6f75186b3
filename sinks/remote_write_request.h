// The remote_write requests a sink sends: how series are encoded into a shard's request
// body, and the HTTP request that carries a body to the store.
//
// A body is built up by ingest threads (under the shard's mutex), sealed, then sent by the
// sink thread: snappy-compressed once into the shard's HttpRequest, whose headers were set
// when the shard was made. Every attempt of a batch sends that same message, so retries
// are byte-identical and cost no re-encoding, re-compression or header building.
#pragma once

// Asio 1.74 awaitable.hpp (pulled in by Beast) uses std::exchange without <utility>.
#include <utility>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "proto/batch.h"
#include "proto/encode.h"
#include "sinks/disk_buffer.h"
#include "sinks/family_metadata.h"

namespace rwgate::sinks {

struct RemoteWriteOptions;

// One request body before snappy, and what it carries.
struct PendingRequest {
  std::string body;
  uint64_t samples = 0;
  uint64_t histograms = 0;
  uint64_t exemplars = 0;
  size_t accounted_bytes = 0;  // what this request holds of the queue's byte budget
  // When its first series was queued (memory mode) or read back from disk (disk mode):
  // the age of the oldest unsent data on the status page.
  std::chrono::steady_clock::time_point since{};
  std::vector<uint64_t> seqs;  // disk mode: the buffer records it carries
};

// What the series of one enqueue() call share as they are encoded.
struct EncodeState {
  // RW 1.0 output wants family metadata once per request, RW 2.0 input carries it on every
  // series: the families that already had theirs written.
  std::unordered_set<std::string_view> families_seen;
  // RW 2.0 output: metadata remembered from earlier RW 1.0 requests (null for RW 1.0).
  const FamilyMetadataCache::Reader* known = nullptr;
};

// Appends one series to a shard's body (RW 1.0) or builder (RW 2.0), as the sink sends it.
void append_series(proto::Protocol protocol, std::string& body, proto::V2RequestBuilder& v2,
                   const proto::Batch& batch, const proto::SeriesOut& out, EncodeState& state);

// What one enqueue() call needs besides the shards, kept between calls so that the steady
// state allocates nothing. Used by one call at a time (see EnqueueScratchPool).
struct EnqueueScratch {
  std::vector<std::vector<uint32_t>> of_shard;  // indexes into `series`, per shard, in order
  EncodeState encode;
  // Disk mode: one record per shard, the RW 2.0 builders they are encoded with, and which
  // shards this call used.
  std::vector<std::pair<RecordMeta, std::string>> records;
  std::vector<proto::V2RequestBuilder> builders;
  std::vector<bool> used;

  // Sizes every per-shard part for `nshards` and empties it, keeping capacity.
  void reset(size_t nshards);
};

// The sink's EnqueueScratch objects. Ingest threads call enqueue() concurrently, so each
// call leases one for its duration and gives it back. After warm-up the pool holds one per
// caller that ever ran at the same time, and a lease is a pop and a push under a mutex
// held for nothing else. (A function-static thread_local did this before: it had no owner,
// outlived the sink, and was shared by every sink a thread fed.)
class EnqueueScratchPool {
 public:
  class Lease {
   public:
    Lease(EnqueueScratchPool& pool, std::unique_ptr<EnqueueScratch> scratch)
        : pool_(pool), scratch_(std::move(scratch)) {}
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease() { pool_.give_back(std::move(scratch_)); }
    EnqueueScratch& operator*() const { return *scratch_; }
    EnqueueScratch* operator->() const { return scratch_.get(); }

   private:
    EnqueueScratchPool& pool_;
    std::unique_ptr<EnqueueScratch> scratch_;
  };

  Lease lease();

 private:
  void give_back(std::unique_ptr<EnqueueScratch> scratch);

  std::mutex mu_;  // guards free_
  std::vector<std::unique_ptr<EnqueueScratch>> free_;
};

using HttpRequest = boost::beast::http::request<boost::beast::http::string_body>;

// A POST to the sink's store with every header but Content-Length set: Host, User-Agent,
// the remote_write Content-Type/-Encoding and version of `options.protocol`, then the
// configured headers.
HttpRequest make_http_request(const RemoteWriteOptions& options);

// Where set_body compresses to: a buffer of snappy's worst-case size that is never
// zero-filled (snappy's std::string overload resizes its output to that size first,
// zero-filling more bytes than the body holds on every request). One per shard, grown,
// never shrunk.
struct CompressBuffer {
  std::unique_ptr<char[]> bytes;
  size_t capacity = 0;
};
// Snappy-compresses `body` into `request` through `buffer` (then a copy of the compressed
// bytes only, into the request body's kept capacity) and sets Content-Length.
void set_body(HttpRequest& request, std::string_view body, CompressBuffer& buffer);

}  // namespace rwgate::sinks
