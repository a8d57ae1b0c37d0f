#include "net/wire.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>

#include <bitset>
#include <cstring>

namespace tesseras::net {
namespace {

using core::ErrorCode;
using core::MakeError;
using core::Result;

core::Error Bad(std::string what) { return MakeError(ErrorCode::kProtocol, std::move(what)); }

Result<void> Exact(const std::string& field, std::size_t want, std::string_view name) {
  if (field.size() != want) {
    return Bad(std::string(name) + " must be " + std::to_string(want) + " bytes, got " +
               std::to_string(field.size()));
  }
  return core::Ok();
}

Result<void> AtMost(std::size_t n, std::size_t max, std::string_view name) {
  if (n > max) {
    return Bad(std::string(name) + " has " + std::to_string(n) + " entries/bytes; at most " +
               std::to_string(max) + " allowed");
  }
  return core::Ok();
}

Result<void> CheckContact(const wire::NodeContact& c) {
  TRY(Exact(c.node_id(), 32, "contact node_id"));
  TRY(Exact(c.public_key(), 32, "contact public_key"));
  if (c.ip().size() != 4 && c.ip().size() != 16) return Bad("contact ip must be 4 or 16 bytes");
  if (c.port() == 0 || c.port() > 65535) return Bad("contact port out of range");
  return core::Ok();
}

Result<void> CheckEnvelopeMsg(const wire::FragmentEnvelope& e) {
  TRY(Exact(e.tessera(), 32, "envelope tessera"));
  TRY(Exact(e.checksum(), 32, "envelope checksum"));
  TRY(Exact(e.owner_public_key(), 32, "envelope owner_public_key"));
  if (!e.plan_signature().empty()) TRY(Exact(e.plan_signature(), 64, "plan_signature"));
  if (!e.has_plan()) return Bad("envelope without plan");
  const auto& p = e.plan();
  if (p.tier() > 2) return Bad("plan tier out of range");
  if (p.data_shards() == 0 || p.data_shards() > kMaxShards || p.parity_shards() > kMaxShards ||
      p.data_shards() + p.parity_shards() > kMaxShards) {
    return Bad("plan shard counts out of range");
  }
  if (p.shard_size() == 0 || p.shard_size() > kMaxTransferBytes) {
    return Bad("plan shard_size out of range");
  }
  if (e.shard_count() != p.data_shards() + p.parity_shards()) {
    return Bad("envelope shard_count does not match the plan");
  }
  if (e.index() >= e.shard_count()) return Bad("envelope index out of range");
  if (static_cast<uint32_t>(e.checksums_size()) != e.shard_count()) {
    return Bad("envelope checksum count does not match shard_count");
  }
  for (const auto& c : e.checksums()) TRY(Exact(c, 32, "envelope checksums[]"));
  if (e.proof_roots_size() != 0 && static_cast<uint32_t>(e.proof_roots_size()) != e.shard_count()) {
    return Bad("envelope proof root count does not match shard_count");
  }
  for (const auto& r : e.proof_roots()) TRY(Exact(r, 32, "envelope proof_roots[]"));
  if (e.checksums(static_cast<int>(e.index())) != e.checksum()) {
    return Bad("envelope checksum differs from checksums[index]");
  }
  return core::Ok();
}

}  // namespace

int BodyFieldCount(std::span<const uint8_t> payload) {
  using google::protobuf::internal::WireFormatLite;
  google::protobuf::io::CodedInputStream in(payload.data(), static_cast<int>(payload.size()));
  int count = 0;
  for (;;) {
    uint32_t tag = in.ReadTag();
    if (tag == 0) return in.ConsumedEntireMessage() ? count : -1;
    int field = WireFormatLite::GetTagFieldNumber(tag);
    if (field >= kFirstBodyField && field <= kLastBodyField) ++count;
    if (!WireFormatLite::SkipField(&in, tag)) return -1;
  }
}

BodyKind KindOf(const wire::Envelope& env) {
  using B = wire::Envelope::BodyCase;
  switch (env.body_case()) {
    case B::kHello:
      return BodyKind::kHello;
    case B::kPing:
    case B::kFindNode:
    case B::kFindValue:
    case B::kStore:
    case B::kReplicate:
    case B::kAttestRequest:
    case B::kFetchFragment:
      return BodyKind::kRequest;
    case B::kChunk:
    case B::kCredit:
      return BodyKind::kStream;
    case B::kError:
      return BodyKind::kError;
    default:
      return BodyKind::kResponse;
  }
}

std::string_view BodyName(const wire::Envelope& env) {
  using B = wire::Envelope::BodyCase;
  switch (env.body_case()) {
    case B::kHello:
      return "Hello";
    case B::kPing:
      return "Ping";
    case B::kPong:
      return "Pong";
    case B::kFindNode:
      return "FindNode";
    case B::kNodes:
      return "Nodes";
    case B::kFindValue:
      return "FindValue";
    case B::kValue:
      return "Value";
    case B::kStore:
      return "Store";
    case B::kStored:
      return "Stored";
    case B::kReplicate:
      return "Replicate";
    case B::kReplicateAck:
      return "ReplicateAck";
    case B::kAttestRequest:
      return "AttestRequest";
    case B::kAttestResponse:
      return "AttestResponse";
    case B::kFetchFragment:
      return "FetchFragment";
    case B::kFragmentHeader:
      return "FragmentHeader";
    case B::kChunk:
      return "Chunk";
    case B::kCredit:
      return "Credit";
    case B::kError:
      return "Error";
    case B::BODY_NOT_SET:
      return "(none)";
  }
  return "(unknown)";
}

Result<void> ValidateEnvelope(const wire::Envelope& env) {
  if (env.version() != kProtocolVersion) {
    return MakeError(ErrorCode::kVersionMismatch,
                     "protocol version " + std::to_string(env.version()) + " not supported");
  }
  using B = wire::Envelope::BodyCase;
  if (env.body_case() == B::BODY_NOT_SET) return Bad("envelope without a known body");
  BodyKind kind = KindOf(env);
  if (kind == BodyKind::kHello && env.request_id() != 0) return Bad("Hello with a request id");
  if ((kind == BodyKind::kRequest || kind == BodyKind::kResponse || kind == BodyKind::kStream) &&
      env.request_id() == 0) {
    return Bad(std::string(BodyName(env)) + " without a request id");
  }
  switch (env.body_case()) {
    case B::kHello: {
      TRY(Exact(env.hello().node_id(), 32, "hello node_id"));
      if (env.hello().listen_port() > 65535) return Bad("hello listen_port out of range");
      break;
    }
    case B::kFindNode:
      TRY(Exact(env.find_node().target(), 32, "find_node target"));
      break;
    case B::kNodes:
      TRY(AtMost(env.nodes().nodes_size(), kMaxContactsPerReply, "nodes"));
      for (const auto& c : env.nodes().nodes()) TRY(CheckContact(c));
      break;
    case B::kFindValue:
      TRY(Exact(env.find_value().key(), 32, "find_value key"));
      break;
    case B::kValue:
      TRY(AtMost(env.value().records_size(), kMaxRecordsPerReply, "value records"));
      for (const auto& r : env.value().records()) TRY(AtMost(r.size(), kMaxRecordBytes, "record"));
      TRY(AtMost(env.value().closer_size(), kMaxContactsPerReply, "value closer"));
      for (const auto& c : env.value().closer()) TRY(CheckContact(c));
      break;
    case B::kStore:
      if (env.store().record().empty()) return Bad("empty record");
      TRY(AtMost(env.store().record().size(), kMaxRecordBytes, "store record"));
      break;
    case B::kReplicate:
      if (!env.replicate().has_envelope()) return Bad("replicate without envelope");
      TRY(CheckEnvelopeMsg(env.replicate().envelope()));
      break;
    case B::kReplicateAck:
      TRY(Exact(env.replicate_ack().tessera(), 32, "replicate_ack tessera"));
      TRY(Exact(env.replicate_ack().holder(), 32, "replicate_ack holder"));
      TRY(AtMost(env.replicate_ack().held_indices_size(), kMaxShards, "held_indices"));
      for (uint32_t i : env.replicate_ack().held_indices()) {
        if (i >= kMaxShards) return Bad("held index out of range");
      }
      break;
    case B::kAttestRequest: {
      const auto& a = env.attest_request();
      TRY(Exact(a.tessera(), 32, "attest tessera"));
      TRY(Exact(a.challenge(), 32, "attest challenge"));
      TRY(AtMost(a.indices_size(), kMaxShards, "attest indices"));
      if (!a.owner().empty()) TRY(Exact(a.owner(), 32, "attest owner"));
      std::bitset<kMaxShards> seen;
      for (uint32_t i : a.indices()) {
        if (i >= kMaxShards) return Bad("attest index out of range");
        if (seen.test(i)) return Bad("attest index " + std::to_string(i) + " repeated");
        seen.set(i);
      }
      break;
    }
    case B::kAttestResponse: {
      const auto& a = env.attest_response();
      TRY(Exact(a.tessera(), 32, "attestation tessera"));
      TRY(Exact(a.holder(), 32, "attestation holder"));
      TRY(Exact(a.challenge(), 32, "attestation challenge"));
      if (!a.signature().empty()) TRY(Exact(a.signature(), 64, "attestation signature"));
      if (!a.holder_key().empty()) TRY(Exact(a.holder_key(), 32, "attestation holder key"));
      TRY(AtMost(a.proofs_size(), kMaxShards, "attestation proofs"));
      for (const auto& p : a.proofs()) {
        if (p.index() >= kMaxShards) return Bad("proof index out of range");
        TRY(Exact(p.checksum(), 32, "proof checksum"));
        TRY(AtMost(p.response().size(), kMaxProofResponseBytes, "proof response"));
      }
      break;
    }
    case B::kFetchFragment:
      TRY(Exact(env.fetch_fragment().tessera(), 32, "fetch tessera"));
      if (env.fetch_fragment().index() >= kMaxShards) return Bad("fetch index out of range");
      if (!env.fetch_fragment().owner().empty()) {
        TRY(Exact(env.fetch_fragment().owner(), 32, "fetch owner"));
      }
      break;
    case B::kFragmentHeader:
      if (env.fragment_header().size() == 0 || env.fragment_header().size() > kMaxTransferBytes) {
        return Bad("fragment size out of range");
      }
      break;
    case B::kChunk:
      if (env.chunk().length() == 0) return Bad("empty chunk");
      TRY(AtMost(env.chunk().length(), kMaxChunkBytes, "chunk"));
      if (env.chunk().offset() >= kMaxTransferBytes) return Bad("chunk offset out of range");
      break;
    case B::kCredit:
      if (env.credit().chunks() == 0 || env.credit().chunks() > kMaxCreditChunks) {
        return Bad("credit out of range");
      }
      break;
    case B::kError:
      TRY(AtMost(env.error().reason().size(), kMaxErrorReasonBytes, "error reason"));
      break;
    default:
      break;
  }
  return core::Ok();
}

Result<std::string> EncodeFrame(const wire::Envelope& env) {
  std::size_t n = env.ByteSizeLong();
  if (n == 0 || n > kMaxFrameBytes) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "frame of " + std::to_string(n) + " bytes is outside 1..1 MiB");
  }
  std::string out(kFrameHeaderBytes + n, '\0');
  out[0] = static_cast<char>((n >> 24) & 0xff);
  out[1] = static_cast<char>((n >> 16) & 0xff);
  out[2] = static_cast<char>((n >> 8) & 0xff);
  out[3] = static_cast<char>(n & 0xff);
  if (!env.SerializeToArray(out.data() + kFrameHeaderBytes, static_cast<int>(n))) {
    return MakeError(ErrorCode::kInternal, "protobuf serialisation failed");
  }
  return out;
}

Result<FrameBuffer> EncodeFrameBuffer(const wire::Envelope& env) {
  std::size_t n = env.ByteSizeLong();
  if (n == 0 || n > kMaxFrameBytes) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "frame of " + std::to_string(n) + " bytes is outside 1..1 MiB");
  }
  FrameBuffer out;
  out.size = kFrameHeaderBytes + n;
  out.bytes.reset(new uint8_t[out.size]);
  out.bytes[0] = static_cast<uint8_t>((n >> 24) & 0xff);
  out.bytes[1] = static_cast<uint8_t>((n >> 16) & 0xff);
  out.bytes[2] = static_cast<uint8_t>((n >> 8) & 0xff);
  out.bytes[3] = static_cast<uint8_t>(n & 0xff);
  if (!env.SerializeToArray(out.bytes.get() + kFrameHeaderBytes, static_cast<int>(n))) {
    return MakeError(ErrorCode::kInternal, "protobuf serialisation failed");
  }
  return out;
}

Result<uint32_t> DecodeFrameLength(std::span<const uint8_t, kFrameHeaderBytes> h) {
  uint32_t n = (uint32_t{h[0]} << 24) | (uint32_t{h[1]} << 16) | (uint32_t{h[2]} << 8) | h[3];
  if (n == 0) return Bad("empty frame");
  if (n > kMaxFrameBytes) return Bad("frame length " + std::to_string(n) + " exceeds 1 MiB");
  return n;
}

Result<wire::Envelope> DecodePayload(std::span<const uint8_t> payload) {
  if (payload.empty() || payload.size() > kMaxFrameBytes) return Bad("frame size out of range");
  wire::Envelope env;
  if (!env.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    return Bad("frame is not a valid envelope");
  }
  // A oneof keeps the last member parsed, so "exactly one body" is checked on
  // the bytes: two body fields (or one twice) are a violation.
  if (int bodies = BodyFieldCount(payload); bodies > 1) {
    return Bad("envelope carries " + std::to_string(bodies) + " body fields; exactly one allowed");
  }
  TRY(ValidateEnvelope(env));
  return env;
}

void FrameDecoder::Feed(std::span<const uint8_t> bytes) {
  if (failed_) return;
  if (pos_ > 0 && pos_ == buffer_.size()) {
    buffer_.clear();
    pos_ = 0;
  }
  buffer_.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

Result<std::optional<DecodedFrame>> FrameDecoder::Next() {
  if (failed_) return Bad("decoder already failed");
  if (!pending_) {
    if (buffered() < kFrameHeaderBytes) return std::optional<DecodedFrame>();
    const auto* p = reinterpret_cast<const uint8_t*>(buffer_.data() + pos_);
    auto len = DecodeFrameLength(std::span<const uint8_t, kFrameHeaderBytes>(p, kFrameHeaderBytes));
    if (!len.ok()) {
      failed_ = true;
      return std::move(len).error();
    }
    if (buffered() < kFrameHeaderBytes + *len) return std::optional<DecodedFrame>();
    auto env = DecodePayload(std::span<const uint8_t>(p + kFrameHeaderBytes, *len));
    pos_ += kFrameHeaderBytes + *len;
    if (!env.ok()) {
      failed_ = true;
      return std::move(env).error();
    }
    pending_ = std::move(env).value();
  }
  std::size_t data = DataFollowing(*pending_);
  if (buffered() < data) return std::optional<DecodedFrame>();
  DecodedFrame frame{std::move(*pending_), buffer_.substr(pos_, data)};
  pending_.reset();
  pos_ += data;
  return std::optional<DecodedFrame>(std::move(frame));
}

wire::Envelope MakeErrorEnvelope(uint64_t request_id, core::ErrorCode code,
                                 std::string_view reason) {
  wire::Envelope env;
  env.set_version(kProtocolVersion);
  env.set_request_id(request_id);
  auto* e = env.mutable_error();
  e->set_code(static_cast<uint32_t>(code));
  e->set_reason(std::string(reason.substr(0, kMaxErrorReasonBytes)));
  return env;
}

core::Error ErrorFromWire(const wire::Error& e) {
  uint32_t c = e.code();
  auto code = (c >= 1 && c <= 16) ? static_cast<ErrorCode>(c) : ErrorCode::kProtocol;
  return MakeError(code, "peer: " + e.reason());
}

}  // namespace tesseras::net
