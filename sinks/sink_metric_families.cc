// The metric families every remote_write sink reports into (docs/configuration.md,
// "Metrics"): registered once per registry, each sink resolves its own children.
#include <prometheus/counter.h>
#include <prometheus/gauge.h>

#include "sinks/remote_write_sink.h"

namespace rwgate::sinks {

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

}  // namespace rwgate::sinks
