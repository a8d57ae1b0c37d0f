// DhtPort: everything the replication layer asks of the network.
//
// Contract
// - Blocking: each call waits for the remote answer or a timeout (kTimeout /
//   kUnavailable). Call from a worker thread, never from the network thread;
//   implementations hand the work to the network thread and wait.
// - Thread-safe: concurrent calls are allowed (that is how transfers run in parallel).
// - Every answer has been authenticated: it comes from the node whose id is in
//   the PeerInfo, or the call fails.
// - Implemented by dht::DhtPortAdapter (src/dht/dht_port_adapter.h); the wire
//   protocol is docs/PROTOCOL.md. Calling it from the network thread itself
//   fails with kInternal instead of deadlocking; after shutdown calls fail with
//   kCancelled.
#pragma once

#include <array>
#include <optional>
#include <vector>

#include "core/bytes.h"
#include "core/fragment.h"

namespace tesseras::core {

class DhtPort {
 public:
  virtual ~DhtPort() = default;

  // Up to `count` live peers closest to `target` by XOR distance, closest first,
  // excluding ourselves (an iterative lookup; every peer returned answered it).
  virtual Result<std::vector<PeerInfo>> FindPeers(const NodeId& target, std::size_t count) = 0;

  // Streams one fragment (envelope + `bytes`, exactly envelope.table.plan.shard_size
  // bytes) to `peer` and returns its acknowledgement.
  virtual Result<ReplicateAck> ReplicateFragment(const PeerInfo& peer,
                                                 const FragmentEnvelope& envelope,
                                                 RandomAccessSource& bytes) = 0;

  // Asks `peer` to attest, against `challenge`, the fragments of `tessera`
  // named in `indices` that it holds (every fragment it holds if `indices` is
  // empty); at most 255 distinct indices, each < 255, else kInvalidArgument.
  // The answer is one message (kMaxMessageBytes): a holder proves at most as
  // many fragments as fit, so callers ask in batches of at most
  // replication::AttestBatchSize(samples) indices (docs/ATTESTATION.md). The
  // returned attestation's `requested` is `indices`, for the signature check.
  // `owner` names whose plan of the hash to prove (AttestRequest.owner);
  // nullopt: the requester's own plan at the holder if any, else the first
  // plan the holder stored for the hash.
  virtual Result<Attestation> RequestAttestation(const PeerInfo& peer, const ContentHash& tessera,
                                                 const std::array<uint8_t, 32>& challenge,
                                                 const std::vector<uint32_t>& indices,
                                                 const std::optional<NodeId>& owner) = 0;

  virtual Result<void> Ping(const PeerInfo& peer) = 0;

  // Streams fragment `index` of `tessera` from `peer` into `out` and finishes
  // `out` once every byte arrived; on failure `out` is not finished. The
  // caller verifies the bytes (a sink that checks them can refuse in Finish).
  // `owner` names whose plan of the hash the fragment is of (a holder may keep
  // several owners' plans for one hash); nullopt: the first plan the holder
  // stored for it.
  virtual Result<void> FetchFragment(const PeerInfo& peer, const ContentHash& tessera,
                                     uint32_t index, ByteSink& out,
                                     const std::optional<NodeId>& owner) = 0;

  // Stores a signed record (e.g. a holder record) at the nodes closest to `key`.
  // `record` is the encoding of docs/PROTOCOL.md section 8 (build it with
  // dht::Record::Sign(...).Encode()); its key must equal `key`, and it is
  // refused with kCorrupt unless its signature verifies. The DHT republishes
  // it periodically while running (re-signed with a fresh expiry when this
  // node's key is the publisher; otherwise until it expires). Returns how many
  // nodes accepted it; kUnavailable if none did.
  virtual Result<std::size_t> PutRecord(const NodeId& key, const std::vector<uint8_t>& record) = 0;

  // Every valid (signature-checked, unexpired) record found for `key`, in the
  // same encoding (possibly several versions). kNotFound if none.
  virtual Result<std::vector<std::vector<uint8_t>>> GetRecords(const NodeId& key) = 0;
};

}  // namespace tesseras::core
