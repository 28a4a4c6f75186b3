#include "sinks/remote_write_sink.h"

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <random>

#include "base/log.h"
#include "proto/hash.h"

namespace rwgate::sinks {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::awaitable;
using asio::use_awaitable;
using Clock = std::chrono::steady_clock;

struct RemoteWriteSink::Shard {
  Shard(asio::io_context& ioc, HttpRequest request, const StoreAddress& address, TlsClient* tls)
      : wake(ioc), backoff_timer(ioc), connection(ioc, address, tls), request(std::move(request)) {
    this->request.target(connection.request_target(std::string(this->request.target())));
  }

  std::mutex mu;                    // guards everything down to `sealed`
  std::string open_body;            // RW 1.0: encoded so far
  proto::V2RequestBuilder open_v2;  // RW 2.0: interned so far
  PendingRequest open_counts;       // counts for the open request (body unused)
  Clock::time_point open_since{};
  std::deque<PendingRequest> sealed;

  // Only touched on the sink thread:
  asio::steady_timer wake;
  asio::steady_timer backoff_timer;
  StoreConnection connection;
  // Headers set once (make_http_request); the body is replaced per request (set_body).
  HttpRequest request;
  CompressBuffer compress;                      // set_body's
  std::mt19937_64 rng{std::random_device{}()};  // backoff jitter
  int index = 0;
  // Samples of the request being sent or waiting out a backoff (taken off `sealed`), so a
  // drain deadline that cuts it short still counts it as dropped.
  std::atomic<uint64_t> sending{0};
  std::atomic<Clock::rep> sending_since{0};  // that request's `since`; 0: none
};

namespace {

// A failed attempt in one line, for the status page: "HTTP 503: <the store's answer>", or
// the connection's error.
std::string describe(const SendOutcome& outcome) {
  std::string text = outcome.status != kNoAnswer ? "HTTP " + std::to_string(outcome.status) : "";
  if (!outcome.error_text.empty()) text += (text.empty() ? "" : ": ") + outcome.error_text;
  for (char& c : text) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  return text;
}

// sink="...", and tenant="..." for one tenant's sink.
prometheus::Labels metric_labels(const RemoteWriteOptions& o, prometheus::Labels more = {}) {
  more.emplace("sink", o.name);
  if (!o.tenant.empty()) more.emplace("tenant", o.tenant);
  return more;
}

}  // namespace

RemoteWriteSink::RemoteWriteSink(RemoteWriteOptions options, SinkMetricFamilies& families)
    : options_(std::move(options)),
      log_name_(options_.tenant.empty() ? options_.name : options_.name + "/" + options_.tenant),
      families_(families),
      metrics_{families.forwarded_samples.Add(metric_labels(options_)),
               families.forwarded_histograms.Add(metric_labels(options_)),
               families.forwarded_exemplars.Add(metric_labels(options_)),
               families.dropped_samples.Add(metric_labels(options_, {{"reason", "rejected"}})),
               families.dropped_samples.Add(metric_labels(options_, {{"reason", "shutdown"}})),
               families.retries.Add(metric_labels(options_)),
               families.queue_bytes.Add(metric_labels(options_)),
               SendCounters(families.sends, metric_labels(options_))} {
  families.queue_capacity_bytes.Add(metric_labels(options_))
      .Set(static_cast<double>(options_.max_bytes));
  if (options_.tls.enabled) {
    // The config loader checked the files; they can still be gone by now.
    std::string error;
    tls_ = TlsClient::make(options_.tls, options_.host, error);
    if (!tls_)
      log::error("sink TLS files do not load; sends fail until they do",
                 {{"sink", log_name_}, {"error", error}});
  }
  address_ = StoreAddress{options_.host, options_.port, options_.proxy, options_.tls.enabled};
  for (int i = 0; i < options_.shards; ++i) {
    shards_.push_back(
        std::make_unique<Shard>(ioc_, make_http_request(options_), address_, tls_.get()));
    shards_.back()->index = i;
  }
  if (options_.disk) {
    buffer_ = DiskBuffer::open(*options_.disk, open_error_);
    const prometheus::Labels l = metric_labels(options_);
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
        req.since = Clock::now();
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
                                size_t reserved_bytes,
                                std::span<const proto::FamilyMetadata> metadata) {
  if (options_.disk && !buffer_) {
    return Status::error("its buffer could not be opened: " + open_error_);
  }
  const size_t nshards = shards_.size();
  const EnqueueScratchPool::Lease scratch = scratch_.lease();
  scratch->reset(nshards);
  // RW 2.0 carries metadata on series only: what RW 1.0 requests say is kept for later ones.
  std::optional<FamilyMetadataCache::Reader> known;
  if (options_.protocol == proto::Protocol::kV2) {
    if (!metadata.empty()) known_metadata_.learn(metadata);
    scratch->encode.known = &known.emplace(known_metadata_);
  }
  if (options_.disk) return enqueue_to_disk(batch, series, metadata, *scratch);

  // The series of each shard, in order: each shard's lock is then taken once.
  for (size_t i = 0; i < series.size(); ++i) {
    scratch->of_shard[series[i].hash % nshards].push_back(static_cast<uint32_t>(i));
  }
  int64_t added = 0;
  for (size_t si = 0; si < nshards; ++si) {
    added += append_to_shard(si, batch, series, scratch->of_shard[si], metadata, scratch->encode);
  }
  // Settle the reservation against what was really encoded.
  add_bytes(added - static_cast<int64_t>(reserved_bytes));
  return {};
}

int64_t RemoteWriteSink::append_to_shard(size_t si, const proto::Batch& batch,
                                         std::span<const proto::SeriesOut> series,
                                         std::span<const uint32_t> indexes,
                                         std::span<const proto::FamilyMetadata> metadata,
                                         EncodeState& state) {
  Shard& shard = *shards_[si];
  const bool v1 = options_.protocol == proto::Protocol::kV1;
  // RW 1.0 family metadata rides with shard 0 (RW 2.0 attaches it to its series).
  const bool with_metadata = si == 0 && v1 && !metadata.empty();
  if (indexes.empty() && !with_metadata) return 0;

  int64_t added = 0;
  bool sealed_any = false;
  std::lock_guard lock(shard.mu);
  // Charges the open request's growth to the queue. Every request carries what it was
  // charged (accounted_bytes) and gives exactly that back when delivered or dropped.
  auto charge = [&] {
    const size_t now = v1 ? shard.open_body.size() : shard.open_v2.size_bytes();
    if (now > shard.open_counts.accounted_bytes) {
      added += static_cast<int64_t>(now - shard.open_counts.accounted_bytes);
      shard.open_counts.accounted_bytes = now;
    }
  };
  // An empty open request starts its batch_send_deadline with the first series it gets.
  auto start_if_empty = [&] {
    if (shard.open_counts.accounted_bytes == 0) shard.open_since = Clock::now();
  };
  start_if_empty();
  for (const uint32_t i : indexes) {
    const proto::Series& s = batch.series[series[i].index];
    append_series(options_.protocol, shard.open_body, shard.open_v2, batch, series[i], state);
    shard.open_counts.samples += s.samples_count;
    shard.open_counts.histograms += s.histograms_count;
    shard.open_counts.exemplars += s.exemplars_count;
    if (shard.open_counts.samples + shard.open_counts.histograms >=
        static_cast<uint64_t>(options_.max_samples_per_send)) {
      charge();
      seal_open(shard);
      sealed_any = true;
      start_if_empty();
    }
  }
  if (with_metadata) {
    for (const proto::FamilyMetadata& md : metadata) proto::append_metadata_v1(shard.open_body, md);
  }
  charge();
  if (sealed_any) wake(shard);
  return added;
}

Status RemoteWriteSink::enqueue_to_disk(const proto::Batch& batch,
                                        std::span<const proto::SeriesOut> series,
                                        std::span<const proto::FamilyMetadata> metadata,
                                        EnqueueScratch& scratch) {
  const size_t nshards = shards_.size();
  auto& records = scratch.records;
  for (const proto::SeriesOut& out : series) {
    const size_t si = out.hash % nshards;
    scratch.used[si] = true;
    append_series(options_.protocol, records[si].second, scratch.builders[si], batch, out,
                  scratch.encode);
    const proto::Series& s = batch.series[out.index];
    records[si].first.samples += s.samples_count;
    records[si].first.histograms += s.histograms_count;
    records[si].first.exemplars += s.exemplars_count;
  }
  if (options_.protocol == proto::Protocol::kV1 && !metadata.empty()) {
    scratch.used[0] = true;
    for (const proto::FamilyMetadata& md : metadata)
      proto::append_metadata_v1(records[0].second, md);
  }
  // The used shards' records to the front, in shard order; the rest keep their capacity.
  size_t nused = 0;
  for (size_t si = 0; si < nshards; ++si) {
    if (!scratch.used[si]) continue;
    if (options_.protocol == proto::Protocol::kV2) scratch.builders[si].finish(records[si].second);
    if (si != nused) std::swap(records[nused], records[si]);
    ++nused;
  }
  if (nused == 0) return {};
  Status st = buffer_->append(std::span(records).first(nused));
  if (!st) {
    log::error("sink buffer cannot take data; answering 503",
               {{"component", "sink"}, {"sink", log_name_}, {"error", st.reason()}});
  }
  return st;
}

void RemoteWriteSink::seal_open(Shard& shard) {
  PendingRequest req = std::move(shard.open_counts);
  req.since = shard.open_since;
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

void RemoteWriteSink::status(std::vector<SinkStatus>& out) const {
  SinkStatus& st = out.emplace_back();
  st.name = log_name_;
  st.url = std::string(options_.tls.enabled ? "https://" : "http://") +
           net::host_header(options_.host, options_.port, options_.tls.enabled) + options_.target;
  st.protocol = options_.protocol == proto::Protocol::kV2 ? "2.0" : "1.0";
  health_.fill(st);
  st.queue_bytes = used_bytes_.load();
  st.queue_capacity_bytes = static_cast<int64_t>(options_.max_bytes);
  st.disk = buffer_ != nullptr;
  if (buffer_metrics_) st.buffer_undelivered = buffer_metrics_->undelivered.Value();
  st.forwarded_samples = metrics_.forwarded_samples.Value();
  // The oldest of: a request being sent (or waiting out a backoff), the first sealed one
  // of each shard, and each shard's open one.
  Clock::time_point oldest = Clock::time_point::max();
  for (const auto& shard : shards_) {
    if (const Clock::rep sending = shard->sending_since.load(); sending != 0)
      oldest = std::min(oldest, Clock::time_point(Clock::duration(sending)));
    std::lock_guard lock(shard->mu);
    if (!shard->sealed.empty()) oldest = std::min(oldest, shard->sealed.front().since);
    if (shard->open_counts.accounted_bytes > 0) oldest = std::min(oldest, shard->open_since);
  }
  if (oldest != Clock::time_point::max())
    st.oldest_unsent_seconds = std::chrono::duration<double>(Clock::now() - oldest).count();
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
  for (;;) {
    PendingRequest req;
    const Next next = take_next(*shard, req);
    if (next == Next::kStop) co_return;
    if (next == Next::kWait) {
      boost::system::error_code ec;  // cancelled by wake(): there is something to send
      co_await shard->wake.async_wait(asio::redirect_error(use_awaitable, ec));
      continue;
    }
    co_await deliver(shard, &req);
    release(*shard, req);
  }
}

RemoteWriteSink::Next RemoteWriteSink::take_next(Shard& shard, PendingRequest& req) {
  const Clock::duration deadline = options_.batch_send_deadline;
  std::lock_guard lock(shard.mu);
  const bool stopping = stopping_.load(std::memory_order_relaxed);
  const bool open_nonempty = shard.open_counts.accounted_bytes > 0;
  // At stop the open request goes without waiting out its batch_send_deadline.
  const bool open_due = open_nonempty && (Clock::now() - shard.open_since >= deadline || stopping);
  if (shard.sealed.empty() && open_due) seal_open(shard);
  if (!shard.sealed.empty()) {
    req = std::move(shard.sealed.front());
    shard.sealed.pop_front();
    return Next::kSend;
  }
  if (stopping) return Next::kStop;
  const auto wait = open_nonempty ? shard.open_since + deadline - Clock::now() : deadline;
  shard.wake.expires_after(std::max<Clock::duration>(wait, std::chrono::milliseconds(1)));
  return Next::kWait;
}

awaitable<void> RemoteWriteSink::deliver(Shard* shard, PendingRequest* req) {
  shard->sending.store(req->samples + req->histograms);
  shard->sending_since.store(req->since.time_since_epoch().count());  // release() clears it
  // Compressed once: every attempt sends these same bytes.
  set_body(shard->request, req->body, shard->compress);
  Backoff backoff(options_.min_backoff, options_.max_backoff);
  bool resent_for_auth = false;
  for (int attempt = 0;; ++attempt) {
    const SendOutcome outcome = co_await send_once(shard);
    metrics_.sends.of(outcome.status).Increment();
    const SendClass cls = classify(outcome.status, options_.retry_on_http_429);
    // Refused credentials that have changed since (a rotated password or key, a new
    // token): again with the new ones, at once, instead of dropping what was acknowledged.
    // Once per request: fresh credentials refused too are a final answer.
    if ((outcome.status == 401 || outcome.status == 403) && options_.credentials &&
        !resent_for_auth && options_.credentials->changed_since(outcome.auth_version)) {
      resent_for_auth = true;
      metrics_.retries.Increment();
      continue;
    }
    switch (cls) {
      case SendClass::kDelivered:
        health_.delivered();
        count_delivered(*req);
        co_return;
      case SendClass::kFinalFailure:
        health_.refused(describe(outcome));
        drop_rejected(*req, outcome);
        co_return;
      case SendClass::kRetry:
        break;
    }
    if (past_stop_deadline()) {
      // A buffered request stays on disk for the next start; a queued one is lost.
      if (!buffer_) {
        metrics_.dropped_shutdown.Increment(static_cast<double>(req->samples + req->histograms));
      }
      co_return;
    }
    metrics_.retries.Increment();
    health_.retrying(describe(outcome));
    log_retry(outcome, attempt);
    shard->backoff_timer.expires_after(backoff.next(outcome.retry_after, shard->rng()));
    boost::system::error_code ignored;
    co_await shard->backoff_timer.async_wait(asio::redirect_error(use_awaitable, ignored));
  }
}

awaitable<SendOutcome> RemoteWriteSink::send_once(Shard* shard) {
  SendOutcome outcome;
  if (options_.credentials) {
    // Computed now, not when queued: a rotated secret is used from the next send on.
    if (Status st = options_.credentials->apply(shard->request, outcome.auth_version); !st) {
      outcome.error_text = st.reason();
      co_return outcome;
    }
  }
  StoreConnection::Response res;
  outcome.error_text = co_await shard->connection.exchange(shard->request, res, options_.timeout);
  if (!outcome.error_text.empty()) co_return outcome;
  outcome.status = static_cast<int>(res.result_int());
  if (outcome.status / 100 != 2) {
    outcome.error_text = res.body().substr(0, 256);
    if (auto it = res.find(http::field::retry_after); it != res.end()) {
      outcome.retry_after = parse_retry_after(it->value());
    }
  }
  co_return outcome;
}

bool RemoteWriteSink::past_stop_deadline() const {
  return stopping_.load(std::memory_order_relaxed) &&
         Clock::now().time_since_epoch().count() >= stop_deadline_.load();
}

void RemoteWriteSink::count_delivered(const PendingRequest& req) {
  metrics_.forwarded_samples.Increment(static_cast<double>(req.samples));
  metrics_.forwarded_histograms.Increment(static_cast<double>(req.histograms));
  metrics_.forwarded_exemplars.Increment(static_cast<double>(req.exemplars));
  for (const uint64_t seq : req.seqs) buffer_->done(seq);
}

void RemoteWriteSink::drop_rejected(const PendingRequest& req, const SendOutcome& outcome) {
  metrics_.dropped_rejected.Increment(static_cast<double>(req.samples + req.histograms));
  for (const uint64_t seq : req.seqs) buffer_->done(seq);  // given up for good
  // Refused credentials refuse every request alike: said once per change of the answer.
  const bool auth = outcome.status == 401 || outcome.status == 403;
  if (auth && outcome.error_text == last_auth_refusal_) return;
  last_auth_refusal_ = auth ? outcome.error_text : std::string();
  log::error("store rejected a request; dropping it",
             {{"component", "sink"},
              {"sink", log_name_},
              {"status", std::to_string(outcome.status)},
              {"samples", std::to_string(req.samples + req.histograms)},
              {"response", outcome.error_text}});
}

void RemoteWriteSink::log_retry(const SendOutcome& outcome, int attempt) {
  // The first failure and every tenth: an outage is visible without flooding the log.
  if (attempt != 0 && attempt % 10 != 0) return;
  log::warn("send failed; retrying",
            {{"component", "sink"},
             {"sink", log_name_},
             {"status", outcome.status != kNoAnswer ? std::to_string(outcome.status) : "error"},
             {"error", outcome.error_text},
             {"attempt", std::to_string(attempt + 1)}});
}

void RemoteWriteSink::release(Shard& shard, const PendingRequest& req) {
  shard.sending.store(0);
  shard.sending_since.store(0);
  if (buffer_) {
    fed_bytes_.fetch_sub(static_cast<int64_t>(req.accounted_bytes));
  } else {
    add_bytes(-static_cast<int64_t>(req.accounted_bytes));
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
      log::info("sink stopped; undelivered records stay in its buffer for the next start",
                {{"component", "sink"}, {"sink", log_name_}, {"records", std::to_string(left)}});
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
              {{"component", "sink"}, {"sink", log_name_}, {"samples", std::to_string(left)}});
  }
}

}  // namespace rwgate::sinks
