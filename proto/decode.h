// Zero-copy decoders for remote_write request bodies (already snappy-decompressed).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "proto/batch.h"

namespace rwgate::proto {

enum class Protocol : uint8_t { kV1, kV2 };

// What kind of input a decode error refused (Status::code<DecodeError>()).
enum class DecodeError : uint8_t {
  kProtobuf = 1,  // not a well-formed message
  kLabels,        // a series' labels are invalid
  kSymbols,       // RW 2.0: a symbol reference out of range, or a bad exemplar/metadata ref
  kHistogram,     // a native histogram Prometheus would refuse (proto/histogram.h)
  kEmptySeries,   // RW 2.0: a series with neither samples nor histograms
};

// Reused per connection: holds the scratch space RW 2.0 needs (the symbol table and the
// series views, since protobuf allows `symbols` to follow the series that use them).
class Decoder {
 public:
  // Decodes into `out` (cleared first). On error `out` is unspecified and the Status
  // carries a DecodeError and a one-line reason naming the series and what was wrong.
  Status decode(Protocol protocol, std::string_view body, Batch& out);
  Status decode_v1(std::string_view body, Batch& out);
  Status decode_v2(std::string_view body, Batch& out);

 private:
  Status collect_v2(std::string_view body);
  // false with `error` set on bad input (errors are rare: no Status on the good path).
  bool read_exemplar_v2(std::string_view part, size_t index, Batch& out, Status& error);
  bool read_metadata_v2(std::string_view part, size_t index, Series& s, Status& error) const;

  std::vector<std::string_view> symbols_;
  bool symbols_utf8_ = true;  // every symbol of the request is valid UTF-8
  std::vector<std::string_view> series_bytes_;
  std::vector<uint32_t> refs_;
};

// Sorts a series' labels by name, drops labels with an empty value (the Prometheus data
// model treats them as absent), and rejects: no labels, an empty name, a repeated name,
// no __name__. Returns the new label count through `count`. Exposed for tests.
// `reordered` (optional) is set when the labels had to be sorted.
// `check_utf8`: whether names and values still need the UTF-8 check (RW 2.0 checks its
// symbols once per request instead, and asks for it only when one of them failed).
Status normalize_series_labels(Label* labels, uint32_t& count, bool* reordered = nullptr,
                               bool check_utf8 = true);

}  // namespace rwgate::proto
