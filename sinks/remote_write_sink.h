// The remote_write sink: encodes batches for one store and sends them with retries.
//
//   ingest threads                          sink thread (one io_context)
//   ──────────────                          ─────────────────────────────
//   enqueue(batch)                          shard 0 coroutine: pop sealed → snappy →
//     series → shard by label hash            POST, retry 5xx/429/network with backoff
//     append encoded series to the          shard 1 coroutine: …
//     shard's open request; seal it at      …
//     max_samples_per_send                  each wakes on a sealed request or at the
//                                           batch_send_deadline of its open request
//
// A series always goes to the same shard, and a shard sends one request at a time, so
// samples of one series reach the store in order even across retries.
// Each shard's open request is guarded by a mutex, taken once per (request, shard) by an
// ingest thread and once per send by the sink thread; it is never held across I/O. This
// is the one lock on the ingest path that is held for real work: per-thread open requests
// would need a merge step that reorders a series' samples. (enqueue() also leases its
// scratch from a pool: a pop and a push under a mutex, see EnqueueScratchPool.)
// The queue is bounded in bytes (buffer.max_bytes): reserved at ingest, released when a
// request is delivered or dropped.
// A shard's sender, per request: take_next → deliver, which compresses the body once into
// the shard's prepared HttpRequest and repeats send_once → classify → Backoff until the
// request is delivered, refused for good, or the drain deadline passes. The answer rules
// and the backoff are in send_outcome.h, request building in remote_write_request.h.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <atomic>
// Asio 1.74 awaitable.hpp uses std::exchange without including <utility>.
#include <utility>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "proto/encode.h"
#include "sinks/credentials.h"
#include "sinks/disk_buffer.h"
#include "sinks/remote_write_request.h"
#include "sinks/send_outcome.h"
#include "sinks/sink.h"
#include "sinks/store_connection.h"
#include "sinks/tls.h"

namespace rwgate::sinks {

struct RemoteWriteOptions {
  std::string name;
  std::string host;
  std::string port;
  std::string target;  // request path
  // Set for one tenant's sink of a sink with tenants (sinks/tenant_sinks.h): its metrics
  // carry tenant="..." next to sink="...", and its log lines name it.
  std::string tenant;
  proto::Protocol protocol = proto::Protocol::kV1;
  std::vector<std::pair<std::string, std::string>> headers;
  std::chrono::milliseconds timeout{30000};
  int max_samples_per_send = 2000;
  std::chrono::milliseconds batch_send_deadline{5000};
  int shards = 4;
  std::chrono::milliseconds min_backoff{30};
  std::chrono::milliseconds max_backoff{5000};
  bool retry_on_http_429 = true;
  uint64_t max_bytes = 1ULL << 30;
  // buffer.type: disk. Unset: the memory queue.
  std::optional<DiskBufferOptions> disk;
  // basic_auth, authorization, oauth2 or sigv4; null: none.
  std::shared_ptr<Credentials> credentials;
  TlsConfig tls;                  // enabled for https URLs
  std::optional<net::Url> proxy;  // proxy_url
};

// Metric families shared by every remote_write sink; each sink resolves its own children.
struct SinkMetricFamilies {
  explicit SinkMetricFamilies(prometheus::Registry& registry);
  prometheus::Family<prometheus::Counter>& forwarded_samples;
  prometheus::Family<prometheus::Counter>& forwarded_histograms;
  prometheus::Family<prometheus::Counter>& forwarded_exemplars;
  prometheus::Family<prometheus::Counter>& dropped_samples;
  prometheus::Family<prometheus::Counter>& sends;
  prometheus::Family<prometheus::Counter>& retries;
  prometheus::Family<prometheus::Gauge>& queue_bytes;
  prometheus::Family<prometheus::Gauge>& queue_capacity_bytes;
  prometheus::Family<prometheus::Gauge>& buffer_segments;
  prometheus::Family<prometheus::Gauge>& buffer_undelivered;
  prometheus::Family<prometheus::Counter>& buffer_corrupt;
  prometheus::Family<prometheus::Counter>& buffer_truncated;
  prometheus::Family<prometheus::Counter>& buffer_dropped;
  prometheus::Family<prometheus::Counter>& buffer_replayed;
  prometheus::Family<prometheus::Counter>& buffer_fsyncs;
  prometheus::Family<prometheus::Counter>& buffer_append_errors;
};

class RemoteWriteSink final : public Sink {
 public:
  RemoteWriteSink(RemoteWriteOptions options, SinkMetricFamilies& metrics);
  ~RemoteWriteSink() override;

  const std::string& name() const override { return options_.name; }
  // One queue: the series do not matter.
  bool try_reserve(const proto::Batch&, std::span<const proto::SeriesOut>, size_t bytes) override {
    return try_reserve(bytes);
  }
  void cancel_reservation(const proto::Batch&, std::span<const proto::SeriesOut>,
                          size_t bytes) override {
    cancel_reservation(bytes);
  }
  bool try_reserve(size_t bytes);
  void cancel_reservation(size_t bytes);
  Status enqueue(const proto::Batch& batch, std::span<const proto::SeriesOut> series,
                 size_t reserved_bytes) override {
    return enqueue(batch, series, reserved_bytes, batch.metadata);
  }
  // `metadata`: the RW 1.0 family metadata to send along (a tenant's share of the batch's).
  Status enqueue(const proto::Batch& batch, std::span<const proto::SeriesOut> series,
                 size_t reserved_bytes, std::span<const proto::FamilyMetadata> metadata);
  // Why the disk buffer could not be opened (empty: it was, or there is none).
  const std::string& open_error() const { return open_error_; }
  void status(std::vector<SinkStatus>& out) const override;
  void start() override;
  void stop(std::chrono::steady_clock::time_point deadline) override;

 private:
  struct Shard;
  // Handles resolved once in the constructor: the send path looks nothing up by label.
  struct Metrics {
    prometheus::Counter& forwarded_samples;
    prometheus::Counter& forwarded_histograms;
    prometheus::Counter& forwarded_exemplars;
    prometheus::Counter& dropped_rejected;
    prometheus::Counter& dropped_shutdown;
    prometheus::Counter& retries;
    prometheus::Gauge& queue_bytes;
    SendCounters sends;  // sink thread only
  };
  // What a shard's sender does next.
  enum class Next { kSend, kWait, kStop };

  void add_bytes(int64_t delta);
  void wake(Shard& shard);
  void seal_open(Shard& shard);  // caller holds shard.mu

  // Memory mode: appends the series of shard `si` (`indexes` into `series`) to its open
  // request, sealing it at max_samples_per_send. Returns the bytes newly charged.
  int64_t append_to_shard(size_t si, const proto::Batch& batch,
                          std::span<const proto::SeriesOut> series,
                          std::span<const uint32_t> indexes,
                          std::span<const proto::FamilyMetadata> metadata, EncodeState& state);
  // Disk mode: encodes the series per shard and appends them to the buffer.
  Status enqueue_to_disk(const proto::Batch& batch, std::span<const proto::SeriesOut> series,
                         std::span<const proto::FamilyMetadata> metadata, EnqueueScratch& scratch);
  // Disk mode: moves buffered records into the shards' send queues, bounded in memory.
  void feed_loop();
  void publish_buffer_metrics();

  // The sender of one shard, on the sink thread: take_next, deliver, repeat.
  boost::asio::awaitable<void> run_shard(Shard* shard);
  // Pops the next request into `req` (sealing the open one when it is due), or arms the
  // shard's wake timer (kWait), or says the shard is done (kStop).
  Next take_next(Shard& shard, PendingRequest& req);
  // Sends `req` until it is delivered, refused for good, or the drain deadline passes.
  boost::asio::awaitable<void> deliver(Shard* shard, PendingRequest* req);
  // One HTTP exchange of the shard's prepared request, signed now.
  boost::asio::awaitable<SendOutcome> send_once(Shard* shard);
  bool past_stop_deadline() const;
  void count_delivered(const PendingRequest& req);
  void drop_rejected(const PendingRequest& req, const SendOutcome& outcome);
  void log_retry(const SendOutcome& outcome, int attempt);
  // Gives back what a finished request held of the queue.
  void release(Shard& shard, const PendingRequest& req);

  RemoteWriteOptions options_;
  const std::string log_name_;  // "<sink>", or "<sink>/<tenant>" for a tenant's sink
  SinkMetricFamilies& families_;
  Metrics metrics_;
  std::atomic<int64_t> used_bytes_{0};
  std::atomic<bool> stopping_{false};
  std::atomic<std::chrono::steady_clock::rep> stop_deadline_{0};  // set before stopping_
  boost::asio::io_context ioc_;
  // Before the shards: their connections use both.
  std::unique_ptr<TlsClient> tls_;  // https
  StoreAddress address_;            // what the shards' connections reach
  std::vector<std::unique_ptr<Shard>> shards_;
  std::thread thread_;
  bool started_ = false;
  EnqueueScratchPool scratch_;          // enqueue()'s per-call state
  FamilyMetadataCache known_metadata_;  // RW 2.0: from RW 1.0 metadata requests

  std::unique_ptr<DiskBuffer> buffer_;  // disk mode
  std::string open_error_;
  SendHealth health_;              // written by the sink thread, read by status()
  std::string last_auth_refusal_;  // the store's answer last logged for a 401/403 (sink thread)
  std::thread feeder_;
  std::atomic<int64_t> fed_bytes_{0};  // read from disk, not yet delivered
  DiskBufferStats published_;          // what the counters show so far (feeder thread)
  struct BufferMetrics {
    prometheus::Gauge& segments;
    prometheus::Gauge& undelivered;
    prometheus::Counter& corrupt;
    prometheus::Counter& truncated;
    prometheus::Counter& dropped;
    prometheus::Counter& replayed;
    prometheus::Counter& fsyncs;
    prometheus::Counter& append_errors;
  };
  std::optional<BufferMetrics> buffer_metrics_;
};

}  // namespace rwgate::sinks
