#include "sinks/remote_write_sink.h"

#include <snappy.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <optional>
#include <random>
#include <unordered_set>

#include "base/log.h"
#include "proto/hash.h"

namespace rwgate::sinks {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::awaitable;
using asio::use_awaitable;
using Clock = std::chrono::steady_clock;

SinkMetricFamilies::SinkMetricFamilies(prometheus::Registry& registry)
    : forwarded_samples(prometheus::BuildCounter()
                            .Name("rwgate_forwarded_samples_total")
                            .Help("Float samples delivered to a sink's store (2xx).")
                            .Register(registry)),
      forwarded_histograms(prometheus::BuildCounter()
                               .Name("rwgate_forwarded_histograms_total")
                               .Help("Native histogram samples delivered to a sink's store (2xx).")
                               .Register(registry)),
      forwarded_exemplars(prometheus::BuildCounter()
                              .Name("rwgate_forwarded_exemplars_total")
                              .Help("Exemplars delivered to a sink's store (2xx).")
                              .Register(registry)),
      dropped_samples(
          prometheus::BuildCounter()
              .Name("rwgate_dropped_samples_total")
              .Help("Samples a sink gave up on, by reason: rejected (a non-retryable 4xx "
                    "from the store) or shutdown (still queued at the drain deadline).")
              .Register(registry)),
      sends(prometheus::BuildCounter()
                .Name("rwgate_sends_total")
                .Help("Remote-write requests sent to a sink's store, by HTTP status (or \"error\" "
                      "for a network failure or timeout).")
                .Register(registry)),
      retries(prometheus::BuildCounter()
                  .Name("rwgate_send_retries_total")
                  .Help("Requests to a sink's store that were retried.")
                  .Register(registry)),
      queue_bytes(prometheus::BuildGauge()
                      .Name("rwgate_queue_bytes")
                      .Help("Bytes of encoded data waiting in a sink's queue.")
                      .Register(registry)),
      queue_capacity_bytes(prometheus::BuildGauge()
                               .Name("rwgate_queue_capacity_bytes")
                               .Help("The sink's queue bound (buffer.max_bytes).")
                               .Register(registry)),
      buffer_segments(prometheus::BuildGauge()
                          .Name("rwgate_buffer_segments")
                          .Help("Segment files of a sink's disk buffer.")
                          .Register(registry)),
      buffer_undelivered(prometheus::BuildGauge()
                             .Name("rwgate_buffer_undelivered_records")
                             .Help("Records in a sink's disk buffer not yet delivered.")
                             .Register(registry)),
      buffer_corrupt(prometheus::BuildCounter()
                         .Name("rwgate_buffer_corrupt_records_total")
                         .Help("Regions of a disk buffer that held no valid record (bad CRC, "
                               "bad header), skipped.")
                         .Register(registry)),
      buffer_truncated(prometheus::BuildCounter()
                           .Name("rwgate_buffer_truncated_bytes_total")
                           .Help("Bytes of a torn write cut off the newest segment at start.")
                           .Register(registry)),
      buffer_dropped(prometheus::BuildCounter()
                         .Name("rwgate_buffer_dropped_samples_total")
                         .Help("Samples dropped with the oldest segment of a full buffer "
                               "(buffer.on_full: drop_oldest).")
                         .Register(registry)),
      buffer_replayed(prometheus::BuildCounter()
                          .Name("rwgate_buffer_replayed_records_total")
                          .Help("Undelivered records found in a disk buffer at start.")
                          .Register(registry)),
      buffer_fsyncs(prometheus::BuildCounter()
                        .Name("rwgate_buffer_fsyncs_total")
                        .Help("fdatasync calls on a disk buffer.")
                        .Register(registry)),
      buffer_append_errors(prometheus::BuildCounter()
                               .Name("rwgate_buffer_append_errors_total")
                               .Help("Appends to a disk buffer that failed (disk full, I/O "
                                     "error): answered 503 at ingest.")
                               .Register(registry)) {}

namespace {

// One request body before snappy, and what it carries.
struct PendingRequest {
  std::string body;
  uint64_t samples = 0;
  uint64_t histograms = 0;
  uint64_t exemplars = 0;
  size_t accounted_bytes = 0;  // what this request holds of the queue's byte budget
  std::vector<uint64_t> seqs;  // disk mode: the buffer records it carries
};

// Appends one series to a shard's body (RW 1.0) or builder (RW 2.0), as the sink sends it.
void append_one(proto::Protocol protocol, std::string& body, proto::V2RequestBuilder& v2,
                const proto::Batch& batch, const proto::SeriesOut& out,
                std::unordered_set<std::string_view>& families_seen) {
  const proto::Series& s = batch.series[out.index];
  if (protocol == proto::Protocol::kV1) {
    proto::append_series_v1(body, batch, s, out.labels, out.encoded_labels);
    if (s.metadata.present) {
      // RW 2.0 input carries metadata per series; RW 1.0 output wants one entry per family.
      const std::string_view name = proto::label_value(out.labels, "__name__");
      if (families_seen.insert(name).second) {
        proto::append_metadata_v1(body, {s.metadata.type, name, s.metadata.help, s.metadata.unit});
      }
    }
    return;
  }
  proto::SeriesMetadata md = s.metadata;
  if (!md.present) {
    if (const auto* fm = proto::find_family_metadata(batch.metadata,
                                                     proto::label_value(out.labels, "__name__"))) {
      md = {fm->type, fm->help, fm->unit, true};
    }
  }
  v2.add_series(batch, s, out.labels, md);
}

// Parses Retry-After given in seconds (the HTTP-date form is rare from stores; ignored).
std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view v) {
  if (v.empty() || v.size() > 6) return std::nullopt;
  int64_t secs = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return std::nullopt;
    secs = secs * 10 + (c - '0');
  }
  return std::chrono::seconds(secs);
}

}  // namespace

struct RemoteWriteSink::Shard {
  explicit Shard(asio::io_context& ioc) : wake(ioc), stream(ioc) {}

  std::mutex mu;                    // guards everything down to `sealed`
  std::string open_body;            // RW 1.0: encoded so far
  proto::V2RequestBuilder open_v2;  // RW 2.0: interned so far
  PendingRequest open_counts;       // counts for the open request (body unused)
  Clock::time_point open_since{};
  std::deque<PendingRequest> sealed;

  // Only touched on the sink thread:
  asio::steady_timer wake;
  beast::tcp_stream stream;
  bool connected = false;
  int index = 0;
  // Samples of the request being sent or waiting out a backoff (taken off `sealed`), so a
  // drain deadline that cuts it short still counts it as dropped.
  std::atomic<uint64_t> sending{0};
};

RemoteWriteSink::RemoteWriteSink(RemoteWriteOptions options, SinkMetricFamilies& families)
    : options_(std::move(options)),
      families_(families),
      metrics_{families.forwarded_samples.Add({{"sink", options_.name}}),
               families.forwarded_histograms.Add({{"sink", options_.name}}),
               families.forwarded_exemplars.Add({{"sink", options_.name}}),
               families.dropped_samples.Add({{"sink", options_.name}, {"reason", "rejected"}}),
               families.dropped_samples.Add({{"sink", options_.name}, {"reason", "shutdown"}}),
               families.retries.Add({{"sink", options_.name}}),
               families.queue_bytes.Add({{"sink", options_.name}}),
               families.sends} {
  families.queue_capacity_bytes.Add({{"sink", options_.name}})
      .Set(static_cast<double>(options_.max_bytes));
  for (int i = 0; i < options_.shards; ++i) {
    shards_.push_back(std::make_unique<Shard>(ioc_));
    shards_.back()->index = i;
  }
  if (options_.disk) {
    buffer_ = DiskBuffer::open(*options_.disk, open_error_);
    const prometheus::Labels l = {{"sink", options_.name}};
    buffer_metrics_.emplace(
        BufferMetrics{families.buffer_segments.Add(l), families.buffer_undelivered.Add(l),
                      families.buffer_corrupt.Add(l), families.buffer_truncated.Add(l),
                      families.buffer_dropped.Add(l), families.buffer_replayed.Add(l),
                      families.buffer_fsyncs.Add(l), families.buffer_append_errors.Add(l)});
    if (buffer_) publish_buffer_metrics();
  }
}

void RemoteWriteSink::publish_buffer_metrics() {
  const DiskBufferStats now = buffer_->stats();
  BufferMetrics& m = *buffer_metrics_;
  auto bump = [](prometheus::Counter& c, uint64_t now_v, uint64_t was) {
    if (now_v > was) c.Increment(static_cast<double>(now_v - was));
  };
  bump(m.corrupt, now.corrupt_records, published_.corrupt_records);
  bump(m.truncated, now.truncated_bytes, published_.truncated_bytes);
  bump(m.dropped, now.dropped_samples, published_.dropped_samples);
  bump(m.replayed, now.replayed_records, published_.replayed_records);
  bump(m.fsyncs, now.fsyncs, published_.fsyncs);
  bump(m.append_errors, now.append_errors, published_.append_errors);
  published_ = now;
  m.segments.Set(static_cast<double>(buffer_->segments()));
  m.undelivered.Set(static_cast<double>(buffer_->undelivered()));
  metrics_.queue_bytes.Set(static_cast<double>(buffer_->bytes()));
}

void RemoteWriteSink::feed_loop() {
  // Records in memory, read from disk and not yet delivered, are bounded: past this, the
  // feeder waits for deliveries, and the rest stays on disk.
  const int64_t limit = std::max<int64_t>(
      8 << 20, std::min<int64_t>(64 << 20, static_cast<int64_t>(options_.max_bytes / 4)));
  auto last_publish = Clock::now();
  const size_t nshards = shards_.size();
  while (!stopping_.load()) {
    if (Clock::now() - last_publish >= std::chrono::seconds(1)) {
      publish_buffer_metrics();
      last_publish = Clock::now();
    }
    if (fed_bytes_.load() >= limit) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      continue;
    }
    BufferedRecord rec;
    if (!buffer_->next(rec, std::chrono::milliseconds(200))) continue;
    Shard& shard = *shards_[rec.meta.shard % nshards];
    fed_bytes_.fetch_add(static_cast<int64_t>(rec.body.size()));
    {
      std::lock_guard lock(shard.mu);
      // RW 1.0 requests are concatenations of fields: consecutive records of a shard join
      // into one send up to max_samples_per_send. RW 2.0 requests carry their own symbols.
      PendingRequest* last = shard.sealed.empty() ? nullptr : &shard.sealed.back();
      if (last != nullptr && options_.protocol == proto::Protocol::kV1 &&
          last->samples + last->histograms + rec.meta.samples + rec.meta.histograms <=
              static_cast<uint64_t>(options_.max_samples_per_send)) {
        last->body += rec.body;
        last->samples += rec.meta.samples;
        last->histograms += rec.meta.histograms;
        last->exemplars += rec.meta.exemplars;
        last->accounted_bytes += rec.body.size();
        last->seqs.push_back(rec.seq);
      } else {
        PendingRequest req;
        req.accounted_bytes = rec.body.size();
        req.body = std::move(rec.body);
        req.samples = rec.meta.samples;
        req.histograms = rec.meta.histograms;
        req.exemplars = rec.meta.exemplars;
        req.seqs.push_back(rec.seq);
        shard.sealed.push_back(std::move(req));
      }
    }
    wake(shard);
  }
  publish_buffer_metrics();
}

RemoteWriteSink::~RemoteWriteSink() { stop(Clock::now()); }

void RemoteWriteSink::add_bytes(int64_t delta) {
  const int64_t now = used_bytes_.fetch_add(delta, std::memory_order_relaxed) + delta;
  metrics_.queue_bytes.Set(static_cast<double>(now));
}

bool RemoteWriteSink::try_reserve(size_t bytes) {
  if (stopping_.load(std::memory_order_relaxed)) return false;
  if (options_.disk) return buffer_ != nullptr && buffer_->has_room(bytes);
  int64_t cur = used_bytes_.load(std::memory_order_relaxed);
  const auto max = static_cast<int64_t>(options_.max_bytes);
  do {
    // An empty queue takes any single request, so one huge request can never wedge a sink.
    if (cur > 0 && cur + static_cast<int64_t>(bytes) > max) return false;
  } while (!used_bytes_.compare_exchange_weak(cur, cur + static_cast<int64_t>(bytes),
                                              std::memory_order_relaxed));
  metrics_.queue_bytes.Set(static_cast<double>(cur + static_cast<int64_t>(bytes)));
  return true;
}

void RemoteWriteSink::cancel_reservation(size_t bytes) {
  if (!buffer_) add_bytes(-static_cast<int64_t>(bytes));  // the disk buffer reserves nothing
}

void RemoteWriteSink::wake(Shard& shard) {
  asio::post(ioc_, [&shard] { shard.wake.cancel(); });
}

Status RemoteWriteSink::enqueue(const proto::Batch& batch, std::span<const proto::SeriesOut> series,
                                size_t reserved_bytes) {
  if (options_.disk) {
    if (!buffer_) return Status::error("its buffer could not be opened: " + open_error_);
    return enqueue_to_disk(batch, series);
  }
  const size_t nshards = shards_.size();
  // The series of each shard, in order; small per-thread scratch, reused.
  thread_local std::vector<std::vector<uint32_t>> of_shard;
  of_shard.resize(std::max(of_shard.size(), nshards));
  for (size_t si = 0; si < nshards; ++si) of_shard[si].clear();
  for (size_t i = 0; i < series.size(); ++i) {
    of_shard[series[i].hash % nshards].push_back(static_cast<uint32_t>(i));
  }
  thread_local std::unordered_set<std::string_view> families_seen;
  families_seen.clear();

  int64_t added = 0;
  for (size_t si = 0; si < nshards; ++si) {
    Shard& shard = *shards_[si];
    bool sealed_any = false;
    bool touched = false;
    std::lock_guard lock(shard.mu);
    auto open_bytes = [&] {
      return options_.protocol == proto::Protocol::kV1 ? shard.open_body.size()
                                                       : shard.open_v2.size_bytes();
    };
    // Charges the open request's growth to the queue. Every request carries what it was
    // charged (accounted_bytes) and gives exactly that back when delivered or dropped.
    auto charge = [&] {
      const size_t now = open_bytes();
      if (now > shard.open_counts.accounted_bytes) {
        added += static_cast<int64_t>(now - shard.open_counts.accounted_bytes);
        shard.open_counts.accounted_bytes = now;
      }
    };
    auto touch = [&] {
      if (!touched && shard.open_counts.accounted_bytes == 0) shard.open_since = Clock::now();
      touched = true;
    };
    for (const uint32_t i : of_shard[si]) {
      touch();
      const proto::Series& s = batch.series[series[i].index];
      append_one(options_.protocol, shard.open_body, shard.open_v2, batch, series[i],
                 families_seen);
      shard.open_counts.samples += s.samples_count;
      shard.open_counts.histograms += s.histograms_count;
      shard.open_counts.exemplars += s.exemplars_count;
      if (shard.open_counts.samples + shard.open_counts.histograms >=
          static_cast<uint64_t>(options_.max_samples_per_send)) {
        charge();
        seal_open(shard);
        sealed_any = true;
        touched = false;
      }
    }
    // RW 1.0 family metadata rides with shard 0 (RW 2.0 attached it to its series above).
    if (si == 0 && options_.protocol == proto::Protocol::kV1 && !batch.metadata.empty()) {
      touch();
      for (const proto::FamilyMetadata& md : batch.metadata)
        proto::append_metadata_v1(shard.open_body, md);
    }
    if (touched) charge();
    if (sealed_any) wake(shard);
  }
  // Settle the reservation against what was really encoded.
  add_bytes(added - static_cast<int64_t>(reserved_bytes));
  return {};
}

Status RemoteWriteSink::enqueue_to_disk(const proto::Batch& batch,
                                        std::span<const proto::SeriesOut> series) {
  const size_t nshards = shards_.size();
  thread_local std::vector<std::pair<RecordMeta, std::string>> records;
  thread_local std::vector<proto::V2RequestBuilder> builders;
  thread_local std::unordered_set<std::string_view> families_seen;
  records.resize(nshards);
  builders.resize(std::max(builders.size(), nshards));
  families_seen.clear();
  for (size_t si = 0; si < nshards; ++si) {
    records[si].first = RecordMeta{static_cast<uint16_t>(si), 0, 0, 0};
    records[si].second.clear();
  }
  std::vector<bool> used(nshards, false);
  for (const proto::SeriesOut& out : series) {
    const size_t si = out.hash % nshards;
    used[si] = true;
    append_one(options_.protocol, records[si].second, builders[si], batch, out, families_seen);
    const proto::Series& s = batch.series[out.index];
    records[si].first.samples += s.samples_count;
    records[si].first.histograms += s.histograms_count;
    records[si].first.exemplars += s.exemplars_count;
  }
  if (options_.protocol == proto::Protocol::kV1 && !batch.metadata.empty()) {
    used[0] = true;
    for (const proto::FamilyMetadata& md : batch.metadata)
      proto::append_metadata_v1(records[0].second, md);
  }
  if (options_.protocol == proto::Protocol::kV2) {
    for (size_t si = 0; si < nshards; ++si) {
      if (used[si]) builders[si].finish(records[si].second);
    }
  }
  std::erase_if(records, [&](const auto& r) { return !used[r.first.shard]; });
  if (records.empty()) return {};
  Status st = buffer_->append(records);
  if (!st) {
    log::error("sink buffer cannot take data; answering 503",
               {{"component", "sink"}, {"sink", options_.name}, {"error", st.reason()}});
  }
  return st;
}

void RemoteWriteSink::seal_open(Shard& shard) {
  PendingRequest req = std::move(shard.open_counts);
  if (options_.protocol == proto::Protocol::kV1) {
    req.body = std::move(shard.open_body);
    // The next request will be about as large: one allocation instead of a doubling chain.
    shard.open_body = std::string();
    shard.open_body.reserve(req.body.size() + req.body.size() / 8);
  } else {
    shard.open_v2.finish(req.body);
  }
  shard.sealed.push_back(std::move(req));
  shard.open_counts = PendingRequest{};
}

void RemoteWriteSink::start() {
  if (started_) return;
  started_ = true;
  for (auto& shard : shards_) asio::co_spawn(ioc_, run_shard(shard.get()), asio::detached);
  thread_ = std::thread([this] {
    auto guard = asio::make_work_guard(ioc_);
    ioc_.run();
  });
  if (buffer_) feeder_ = std::thread([this] { feed_loop(); });
}

// One shard's sender: takes sealed requests in order and delivers each before the next.
awaitable<void> RemoteWriteSink::run_shard(Shard* shard) {
  std::mt19937_64 rng(std::random_device{}());
  std::string compressed;
  beast::flat_buffer buffer;
  const Clock::duration deadline = options_.batch_send_deadline;
  for (;;) {
    PendingRequest req;
    bool have = false;
    {
      std::lock_guard lock(shard->mu);
      const bool open_nonempty = shard->open_counts.accounted_bytes > 0;
      const bool open_due = open_nonempty && (Clock::now() - shard->open_since >= deadline ||
                                              stopping_.load(std::memory_order_relaxed));
      if (shard->sealed.empty() && open_due) seal_open(*shard);
      if (!shard->sealed.empty()) {
        req = std::move(shard->sealed.front());
        shard->sealed.pop_front();
        have = true;
      } else if (stopping_.load(std::memory_order_relaxed)) {
        co_return;
      }
      if (!have) {
        const auto wait = open_nonempty ? shard->open_since + deadline - Clock::now() : deadline;
        shard->wake.expires_after(std::max<Clock::duration>(wait, std::chrono::milliseconds(1)));
      }
    }
    if (!have) {
      boost::system::error_code ec;
      co_await shard->wake.async_wait(asio::redirect_error(use_awaitable, ec));
      continue;
    }

    shard->sending.store(req.samples + req.histograms);
    snappy::Compress(req.body.data(), req.body.size(), &compressed);
    auto backoff = options_.min_backoff;
    for (int attempt = 0;; ++attempt) {
      int status = 0;
      std::string error_text;
      std::optional<std::chrono::milliseconds> retry_after;
      {
        boost::system::error_code ec;
        if (!shard->connected) {
          asio::ip::tcp::resolver resolver(ioc_);
          auto endpoints = co_await resolver.async_resolve(options_.host, options_.port,
                                                           asio::redirect_error(use_awaitable, ec));
          if (!ec) {
            shard->stream.expires_after(options_.timeout);
            co_await shard->stream.async_connect(endpoints,
                                                 asio::redirect_error(use_awaitable, ec));
          }
          shard->connected = !ec;
        }
        if (!ec) {
          http::request<http::string_body> hreq{http::verb::post, options_.target, 11};
          const bool v6 = options_.host.find(':') != std::string::npos;
          hreq.set(http::field::host,
                   (v6 ? "[" + options_.host + "]" : options_.host) + ":" + options_.port);
          hreq.set(http::field::user_agent, "rwgate/0.1");
          hreq.set(http::field::content_encoding, "snappy");
          if (options_.protocol == proto::Protocol::kV1) {
            hreq.set(http::field::content_type, "application/x-protobuf");
            hreq.set("X-Prometheus-Remote-Write-Version", "0.1.0");
          } else {
            hreq.set(http::field::content_type,
                     "application/x-protobuf;proto=io.prometheus.write.v2.Request");
            hreq.set("X-Prometheus-Remote-Write-Version", "2.0.0");
          }
          for (const auto& [k, v] : options_.headers) hreq.set(k, v);
          hreq.body().swap(compressed);  // lent to the request, taken back below
          hreq.prepare_payload();
          shard->stream.expires_after(options_.timeout);
          co_await http::async_write(shard->stream, hreq, asio::redirect_error(use_awaitable, ec));
          hreq.body().swap(compressed);
          if (!ec) {
            http::response<http::string_body> res;
            buffer.clear();
            co_await http::async_read(shard->stream, buffer, res,
                                      asio::redirect_error(use_awaitable, ec));
            if (!ec) {
              status = res.result_int();
              if (status / 100 != 2) {
                error_text = res.body().substr(0, 256);
                if (auto it = res.find(http::field::retry_after); it != res.end()) {
                  retry_after = parse_retry_after(it->value());
                }
              }
              if (!res.keep_alive()) {
                shard->stream.socket().close(ec);
                shard->connected = false;
                ec = {};
              }
            }
          }
        }
        if (ec) {
          error_text = ec.message();
          boost::system::error_code ignored;
          shard->stream.socket().close(ignored);
          shard->connected = false;
        }
      }
      families_.sends
          .Add({{"sink", options_.name}, {"status", status ? std::to_string(status) : "error"}})
          .Increment();
      if (status / 100 == 2) {
        metrics_.forwarded_samples.Increment(static_cast<double>(req.samples));
        metrics_.forwarded_histograms.Increment(static_cast<double>(req.histograms));
        metrics_.forwarded_exemplars.Increment(static_cast<double>(req.exemplars));
        for (const uint64_t seq : req.seqs) buffer_->done(seq);
        break;
      }
      const bool retryable =
          status == 0 || status / 100 == 5 || (status == 429 && options_.retry_on_http_429);
      if (!retryable) {
        metrics_.dropped_rejected.Increment(static_cast<double>(req.samples + req.histograms));
        for (const uint64_t seq : req.seqs) buffer_->done(seq);  // given up for good
        log::error("store rejected a request; dropping it",
                   {{"component", "sink"},
                    {"sink", options_.name},
                    {"status", std::to_string(status)},
                    {"samples", std::to_string(req.samples + req.histograms)},
                    {"response", error_text}});
        break;
      }
      if (stopping_.load(std::memory_order_relaxed) &&
          Clock::now().time_since_epoch().count() >= stop_deadline_.load()) {
        // A buffered request stays on disk for the next start; a queued one is lost.
        if (!buffer_)
          metrics_.dropped_shutdown.Increment(static_cast<double>(req.samples + req.histograms));
        break;
      }
      metrics_.retries.Increment();
      if (attempt == 0 || attempt % 10 == 0) {
        log::warn("send failed; retrying", {{"component", "sink"},
                                            {"sink", options_.name},
                                            {"status", status ? std::to_string(status) : "error"},
                                            {"error", error_text},
                                            {"attempt", std::to_string(attempt + 1)}});
      }
      // Full jitter on the upper half: wait in [backoff/2, backoff].
      auto wait = std::chrono::milliseconds(
          backoff.count() / 2 +
          static_cast<int64_t>(rng() % static_cast<uint64_t>(backoff.count() / 2 + 1)));
      // A store's Retry-After wins, but never below min_backoff (a "0" must not spin).
      if (retry_after) {
        wait = std::clamp<std::chrono::milliseconds>(*retry_after, options_.min_backoff,
                                                     std::chrono::minutes(5));
      }
      backoff = std::min(backoff * 2, options_.max_backoff);
      asio::steady_timer timer(ioc_);
      timer.expires_after(wait);
      boost::system::error_code ignored;
      co_await timer.async_wait(asio::redirect_error(use_awaitable, ignored));
    }
    shard->sending.store(0);
    if (buffer_) {
      fed_bytes_.fetch_sub(static_cast<int64_t>(req.accounted_bytes));
    } else {
      add_bytes(-static_cast<int64_t>(req.accounted_bytes));
    }
  }
}

void RemoteWriteSink::stop(Clock::time_point deadline) {
  if (buffer_) {
    // What is on disk stays for the next start: give the sends under way a moment, no more.
    deadline = std::min(deadline, Clock::now() + std::chrono::seconds(5));
  }
  stop_deadline_.store(deadline.time_since_epoch().count());
  if (stopping_.exchange(true)) return;
  if (!started_) {
    if (buffer_) buffer_->close();
    return;
  }
  if (feeder_.joinable()) feeder_.join();
  for (auto& shard : shards_) wake(*shard);
  // Senders finish when their queues are empty; past the deadline, stop them.
  while (Clock::now() < deadline) {
    bool idle = true;
    for (auto& shard : shards_) {
      std::lock_guard lock(shard->mu);
      if (!shard->sealed.empty() || shard->open_counts.accounted_bytes > 0) idle = false;
    }
    if (idle && used_bytes_.load() <= 0 && fed_bytes_.load() <= 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ioc_.stop();
  if (thread_.joinable()) thread_.join();
  if (buffer_) {
    publish_buffer_metrics();
    const uint64_t left = buffer_->undelivered();
    buffer_->close();
    if (left > 0) {
      log::info(
          "sink stopped; undelivered records stay in its buffer for the next start",
          {{"component", "sink"}, {"sink", options_.name}, {"records", std::to_string(left)}});
    }
    return;
  }
  int64_t left = 0;
  for (auto& shard : shards_) {
    std::lock_guard lock(shard->mu);
    for (const auto& r : shard->sealed) left += static_cast<int64_t>(r.samples + r.histograms);
    left += static_cast<int64_t>(shard->open_counts.samples + shard->open_counts.histograms);
    left += static_cast<int64_t>(shard->sending.load());
  }
  if (left > 0) {
    metrics_.dropped_shutdown.Increment(static_cast<double>(left));
    log::warn("drain deadline passed; dropping queued samples",
              {{"component", "sink"}, {"sink", options_.name}, {"samples", std::to_string(left)}});
  }
}

}  // namespace rwgate::sinks
