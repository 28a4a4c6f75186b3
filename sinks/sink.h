// The Sink seam: where the pipeline hands accepted data to a destination.
#pragma once

#include <chrono>
#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"
#include "proto/batch.h"
#include "sinks/sink_status.h"

namespace rwgate::sinks {

/// A destination for accepted series. The ingest path calls try_reserve() on every sink
/// first, and enqueue() on all of them only when every reservation succeeded: a request
/// is acknowledged only once every sink has taken it, and is refused (503) whole otherwise.
/// Implementations must be safe to call from several ingest threads at once.
class Sink {
 public:
  virtual ~Sink() = default;

  /// The sink's configured name, used in logs and metric labels.
  virtual const std::string& name() const = 0;

  /// Reserves queue room for about `bytes` of encoded data of `series` (of `batch`): the
  /// series tell a sink with a queue per tenant which queues to reserve in. False: a queue
  /// is full.
  virtual bool try_reserve(const proto::Batch& batch, std::span<const proto::SeriesOut> series,
                           size_t bytes) = 0;
  /// Gives back a reservation that will not be used (another sink was full).
  virtual void cancel_reservation(const proto::Batch& batch,
                                  std::span<const proto::SeriesOut> series, size_t bytes) = 0;
  /// Takes `series` of `batch` (after try_reserve(bytes) succeeded), each with the labels
  /// it is to be sent with. Never blocks on the network. An error (a disk buffer that
  /// cannot write) means the sink did not take the data; ingest then answers 503.
  virtual Status enqueue(const proto::Batch& batch, std::span<const proto::SeriesOut> series,
                         size_t reserved_bytes) = 0;

  /// Appends what the status page shows of it (a sink with tenants: one per tenant).
  virtual void status(std::vector<SinkStatus>& out) const { (void)out; }

  /// Starts sending. Called once, before the first enqueue().
  virtual void start() = 0;
  /// Stops taking data, sends what is queued until `deadline`, then gives up the rest.
  virtual void stop(std::chrono::steady_clock::time_point deadline) = 0;
};

}  // namespace rwgate::sinks
