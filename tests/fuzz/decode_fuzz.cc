// libFuzzer target: remote_write bodies (after snappy) and the snappy layer itself.
//
// Invariants beyond "no crash, no read past the end" (ASan):
//   - whatever decodes, re-encodes, and the re-encoding decodes to the same batch;
//   - snappy input that claims a size over our limit is refused before allocation.
#include <snappy.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "proto/decode.h"
#include "proto/encode.h"

namespace {

using namespace rwgate::proto;

bool same_labels(std::span<const Label> a, std::span<const Label> b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}

void check_round_trip(Protocol in, const Batch& batch) {
  for (Protocol out : {Protocol::kV1, Protocol::kV2}) {
    std::string encoded;
    encode_batch(out, batch, encoded);
    Decoder d;
    Batch again;
    const rwgate::Status st = d.decode(out, encoded, again);
    if (!st) {
      std::fprintf(stderr, "re-encoded batch does not decode: %s\n", st.reason().c_str());
      std::abort();
    }
    if (again.series.size() != batch.series.size()) std::abort();
    for (size_t i = 0; i < batch.series.size(); ++i) {
      const Series& a = batch.series[i];
      const Series& b = again.series[i];
      if (!same_labels(batch.labels_of(a), again.labels_of(b))) std::abort();
      if (a.samples_count != b.samples_count || a.histograms_count != b.histograms_count ||
          a.exemplars_count != b.exemplars_count) {
        std::abort();
      }
      for (uint32_t j = 0; j < a.samples_count; ++j) {
        const Sample& x = batch.samples_of(a)[j];
        const Sample& y = again.samples_of(b)[j];
        if (std::memcmp(&x.value, &y.value, 8) != 0 || x.timestamp != y.timestamp) std::abort();
      }
      for (uint32_t j = 0; j < a.histograms_count; ++j) {
        if (batch.histograms_of(a)[j].raw != again.histograms_of(b)[j].raw) std::abort();
      }
    }
  }
  (void)in;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  // First byte picks the path; the rest is the body.
  const uint8_t mode = data[0] % 3;
  const std::string body(reinterpret_cast<const char*>(data + 1), size - 1);
  Decoder decoder;
  Batch batch;
  if (mode == 2) {
    size_t len = 0;
    if (!snappy::GetUncompressedLength(body.data(), body.size(), &len)) return 0;
    if (len > (1u << 20)) return 0;  // the ingest limit check, before allocating
    std::string out(len, '\0');
    if (!snappy::RawUncompress(body.data(), body.size(), out.data())) return 0;
    if (decoder.decode_v1(out, batch).ok()) check_round_trip(Protocol::kV1, batch);
    return 0;
  }
  const Protocol p = mode == 0 ? Protocol::kV1 : Protocol::kV2;
  if (decoder.decode(p, body, batch).ok()) check_round_trip(p, batch);
  return 0;
}
