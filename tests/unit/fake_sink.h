// A Sink for unit tests: keeps what it is handed, and can be told to refuse.
#pragma once

#include <cstdint>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "proto/batch.h"
#include "proto/encode.h"
#include "sinks/sink.h"

namespace rwgate::testing {

class FakeSink final : public sinks::Sink {
 public:
  struct Taken {
    std::string labels;  // RW 1.0 Label fields
    uint32_t tenant;     // proto::Series::tenant
    double value;
    bool stale;  // the staleness marker NaN
    int64_t timestamp_ms;
  };

  explicit FakeSink(std::string name = "fake") : name_(std::move(name)) {}
  const std::string& name() const override { return name_; }
  bool try_reserve(const proto::Batch&, std::span<const proto::SeriesOut>, size_t bytes) override {
    std::lock_guard lock(mu_);
    if (full) return false;
    reserved += bytes;
    return true;
  }
  void cancel_reservation(const proto::Batch&, std::span<const proto::SeriesOut>,
                          size_t bytes) override {
    std::lock_guard lock(mu_);
    reserved -= bytes;
    ++cancelled;
  }
  Status enqueue(const proto::Batch& batch, std::span<const proto::SeriesOut> series,
                 size_t bytes) override {
    std::lock_guard lock(mu_);
    if (fail_enqueue) return Status::error("disk on fire");
    reserved -= bytes;
    ++enqueues;
    for (const proto::SeriesOut& so : series) {
      const proto::Series& s = batch.series[so.index];
      std::string encoded;
      proto::append_labels_v1(encoded, so.labels);
      for (uint32_t k = 0; k < s.samples_count; ++k) {
        const proto::Sample& smp = batch.samples[s.samples_begin + k];
        uint64_t bits;
        std::memcpy(&bits, &smp.value, sizeof bits);
        taken.push_back(
            {encoded, s.tenant, smp.value, bits == proto::kStaleNaNBits, smp.timestamp});
      }
    }
    return {};
  }
  void start() override {}
  void stop(std::chrono::steady_clock::time_point) override {}

  // Set by tests; read under the sink's lock by the calls above.
  bool full = false;
  bool fail_enqueue = false;
  // What happened, for tests to read once the code under test is done.
  std::vector<Taken> taken;
  size_t reserved = 0;
  int cancelled = 0;
  int enqueues = 0;

 private:
  std::mutex mu_;
  std::string name_;
};

}  // namespace rwgate::testing
