// Framing and message validation for the node-to-node protocol (docs/PROTOCOL.md).
//
// A frame is a 4-byte big-endian length followed by that many bytes of a
// serialized wire::Envelope. Lengths of 0 or above kMaxFrameBytes are refused
// before anything is allocated. A Chunk frame is followed by its
// `chunk.length` data bytes, unframed (DataFollowing). Every decoded envelope goes through
// ValidateEnvelope, which checks the version, that exactly one known body is
// set, and every length, count and range of that body. Code that receives a
// validated envelope may rely on those checks (e.g. a 32-byte id field really
// has 32 bytes).
//
// Pure functions and a small incremental decoder; no I/O. Thread-compatible.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/fragment.h"
#include "core/result.h"
#include "tesseras.pb.h"

namespace tesseras::net {

inline constexpr uint32_t kProtocolVersion = 1;
inline constexpr std::size_t kFrameHeaderBytes = 4;
// Hard cap on any frame (control frames and chunk frames alike). The layers
// above size their answers by core::kMaxMessageBytes (e.g. attestation batches).
inline constexpr std::size_t kMaxFrameBytes = 1 << 20;
static_assert(kMaxFrameBytes == core::kMaxMessageBytes, "one frame carries one message");
// Bulk data moves in chunks of at most this many bytes.
inline constexpr std::size_t kMaxChunkBytes = 256 * 1024;
// A Credit frame grants at most this many chunks at once.
inline constexpr uint32_t kMaxCreditChunks = 64;
// Largest fragment that may move in one Replicate / FetchFragment exchange.
inline constexpr uint64_t kMaxTransferBytes = 64ull << 20;
inline constexpr std::size_t kMaxContactsPerReply = 20;
// Records in one Value: a key may carry an owner record per plan and a claim
// per holder (dht::RecordStoreLimits), 176 at most; the byte cap (768 KiB of
// records) applies as well.
inline constexpr std::size_t kMaxRecordsPerReply = 256;
inline constexpr std::size_t kMaxRecordBytes = 17 * 1024;
inline constexpr std::size_t kMaxErrorReasonBytes = 1024;
inline constexpr uint32_t kMaxShards = 255;
// Sampled proof-tree leaves with their Merkle paths (docs/ATTESTATION.md).
inline constexpr std::size_t kMaxProofResponseBytes = 64 * 1024;

// Which kind of frame a body is.
enum class BodyKind {
  kHello,     // handshake only
  kRequest,   // opens an exchange: Ping, FindNode, FindValue, Store, Replicate,
              // AttestRequest, FetchFragment
  kResponse,  // ends (or, for FragmentHeader, starts the data of) an exchange
  kStream,    // Chunk, Credit: part of an open exchange
  kError,
};
BodyKind KindOf(const wire::Envelope& env);
std::string_view BodyName(const wire::Envelope& env);

// Envelope body fields are numbered kFirstBodyField..kLastBodyField (the
// oneof in proto/tesseras.proto).
inline constexpr int kFirstBodyField = 10;
inline constexpr int kLastBodyField = 27;
// How many top-level body fields a serialized Envelope carries, counting a
// field that appears twice twice; -1 if the bytes are not a well-formed
// message. A standard parser cannot tell (a oneof keeps the last member), so
// DecodePayload checks this on the bytes.
int BodyFieldCount(std::span<const uint8_t> payload);

// Checks everything a peer could get wrong; kVersionMismatch for another
// protocol version, kProtocol for anything else, with the reason.
core::Result<void> ValidateEnvelope(const wire::Envelope& env);

// Bytes that follow the frame of `env` on the stream: a validated Chunk's
// length, 0 for every other body.
inline std::size_t DataFollowing(const wire::Envelope& env) {
  return env.has_chunk() ? env.chunk().length() : 0;
}

// Serialises `env` with its 4-byte length prefix. kInvalidArgument if the
// result would exceed kMaxFrameBytes.
core::Result<std::string> EncodeFrame(const wire::Envelope& env);

// The same, into an uninitialised buffer (no zero-fill of up to 1 MiB per
// frame): what connections queue for writing.
struct FrameBuffer {
  std::unique_ptr<uint8_t[]> bytes;
  std::size_t size = 0;
};
core::Result<FrameBuffer> EncodeFrameBuffer(const wire::Envelope& env);

// Parses and validates one frame payload (without the length prefix),
// including that exactly one body field is present (BodyFieldCount).
core::Result<wire::Envelope> DecodePayload(std::span<const uint8_t> payload);

// Reads the 4-byte big-endian length; kProtocol if 0 or above kMaxFrameBytes.
core::Result<uint32_t> DecodeFrameLength(std::span<const uint8_t, kFrameHeaderBytes> header);

// One decoded frame: the envelope, and for a Chunk the data after it.
struct DecodedFrame {
  wire::Envelope env;
  std::string data;
};

// Incremental decoder over a byte stream (used by tests and the fuzzer; the
// connection reads header, payload and chunk data directly). After the first
// error the decoder stays failed, as a connection would be closed.
class FrameDecoder {
 public:
  void Feed(std::span<const uint8_t> bytes);
  // The next complete, validated frame (with its chunk data); nullopt if more
  // bytes are needed.
  core::Result<std::optional<DecodedFrame>> Next();
  std::size_t buffered() const { return buffer_.size() - pos_; }

 private:
  std::string buffer_;
  std::size_t pos_ = 0;
  std::optional<wire::Envelope> pending_;  // a Chunk waiting for its data
  bool failed_ = false;
};

// Builders used by both sides.
wire::Envelope MakeErrorEnvelope(uint64_t request_id, core::ErrorCode code,
                                 std::string_view reason);
core::Error ErrorFromWire(const wire::Error& e);

}  // namespace tesseras::net
