// libFuzzer target: arbitrary bytes as a connection's inbound stream. Drives
// the frame decoder (length prefix, 1 MiB cap, chunk data after its frame),
// protobuf parsing, the exactly-one-body check and ValidateEnvelope. Also
// feeds the input as one frame payload (an accepted one carries exactly one
// body field), re-encodes every envelope that validated (it must encode again
// and decode to the same), and parses the input as a DHT record
// (docs/PROTOCOL.md section 8: a record that parses re-encodes to the same
// bytes, 148 + value_length of them).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>

#include "dht/record.h"
#include "net/wire.h"

using tesseras::net::DecodePayload;
using tesseras::net::EncodeFrame;
using tesseras::net::FrameDecoder;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> input(data, size);

  // 1. As a stream, split at a data-dependent point to exercise partial reads.
  FrameDecoder decoder;
  std::size_t cut = size == 0 ? 0 : data[0] % (size + 1);
  decoder.Feed(input.first(cut));
  for (int pass = 0; pass < 2; ++pass) {
    while (true) {
      auto next = decoder.Next();
      if (!next.ok() || !next->has_value()) break;
      const auto& env = (*next)->env;
      if ((*next)->data.size() != tesseras::net::DataFollowing(env)) __builtin_trap();
      (void)tesseras::net::KindOf(env);
      (void)tesseras::net::BodyName(env);
      auto again = EncodeFrame(env);
      if (again.ok()) {
        auto round = DecodePayload(std::span<const uint8_t>(
            reinterpret_cast<const uint8_t*>(again->data()) + 4, again->size() - 4));
        if (!round.ok()) __builtin_trap();  // a valid envelope must stay valid
      }
    }
    if (pass == 0) decoder.Feed(input.subspan(cut));
  }

  // 2. As one frame payload.
  if (DecodePayload(input).ok() && tesseras::net::BodyFieldCount(input) != 1) __builtin_trap();

  // 3. As a record (structure only; signatures are not fuzzed).
  auto record = tesseras::dht::Record::Parse(input);
  if (record.ok()) {
    auto bytes = record->Encode();
    if (bytes.size() != tesseras::dht::kRecordOverhead + record->value.size() ||
        !std::equal(bytes.begin(), bytes.end(), input.begin(), input.end())) {
      __builtin_trap();
    }
  }
  return 0;
}
