// ReplicationHandler: the port through which the DHT hands requests that touch
// disk (Replicate, AttestRequest, FetchFragment) to the replication layer.
//
// Contract
// - Set on a dht::Node after construction (Node::SetReplicationHandler). Until
//   one is set, those requests are answered with Error{unimplemented}.
// - Every method runs on the worker pool, never on the network thread, and may
//   block on disk. Calls for different requests may run concurrently; the calls
//   for one IncomingFragment are sequential (Write..., then Finish), possibly on
//   different pool threads.
// - `from` has been authenticated by the TLS handshake.
// - Return errors as values; an exception escaping a method is caught and
//   answered with Error{internal}.
// - Validation the network layer already did: every id is 32 bytes, the
//   envelope's plan passes core::ValidatePlan, index < shard_count,
//   checksums.size() == shard_count, checksum == checksums[index], and
//   shard_size <= 64 MiB; an attestation request names at most 255 distinct
//   indices, each < 255. Signatures and ownership are the handler's to check.
#pragma once

#include <array>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/bytes.h"
#include "core/fragment.h"
#include "core/result.h"
#include "crypto/identity.h"

namespace tesseras::dht {

// Who sent a request.
struct RequestContext {
  core::NodeId peer;
  crypto::PublicKey peer_public_key{};
  std::string peer_address;  // observed "ip:port" of the connection
};

// A fragment being received. Write receives the bytes in order, exactly
// envelope.table.plan.shard_size of them in total; Finish is called once after
// the last byte and returns the acknowledgement. Destroying it without a
// successful Finish must discard what was written (nothing partial on disk).
class IncomingFragment {
 public:
  virtual ~IncomingFragment() = default;
  virtual core::Result<void> Write(std::span<const uint8_t> data) = 0;
  virtual core::Result<core::ReplicateAck> Finish() = 0;
};

class ReplicationHandler {
 public:
  virtual ~ReplicationHandler() = default;

  // Decides whether to accept the fragment (signature, ownership, quota).
  virtual core::Result<std::unique_ptr<IncomingFragment>> BeginReplicate(
      const RequestContext& from, const core::FragmentEnvelope& envelope) = 0;

  // Proves the fragments of `tessera` named in `indices` that we hold (all we
  // hold if `indices` is empty). The answer must fit in one frame
  // (core::kMaxMessageBytes); a larger one is not sent: the requester gets
  // Error{resource_exhausted} instead.
  // Of `owner`'s plan of the hash when named; otherwise of the requester's own
  // plan if we keep one, else of the first plan we stored for it.
  virtual core::Result<core::Attestation> Attest(const RequestContext& from,
                                                 const core::ContentHash& tessera,
                                                 const std::array<uint8_t, 32>& challenge,
                                                 const std::vector<uint32_t>& indices,
                                                 const std::optional<core::NodeId>& owner) = 0;

  // The bytes of one fragment we hold (kNotFound if we do not), of `owner`'s
  // plan of the hash when named, else of the first plan we stored for it.
  // Size() must be at most 64 MiB.
  virtual core::Result<std::unique_ptr<core::RandomAccessSource>> OpenFragment(
      const RequestContext& from, const core::ContentHash& tessera, uint32_t index,
      const std::optional<core::NodeId>& owner) = 0;
};

}  // namespace tesseras::dht
