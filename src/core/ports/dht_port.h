// DhtPort: everything the replication layer asks of the network.
//
// Contract
// - Blocking: each call waits for the remote answer or a timeout (kTimeout /
//   kUnavailable). Call from a worker thread, never from the network thread;
//   implementations hand the work to the network thread and wait.
// - Thread-safe: concurrent calls are allowed (that is how transfers run in parallel).
// - Every answer has been authenticated: it comes from the node whose id is in
//   the PeerInfo, or the call fails.
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
  // excluding ourselves.
  virtual Result<std::vector<PeerInfo>> FindPeers(const NodeId& target, std::size_t count) = 0;

  // Streams one fragment (envelope + `bytes`, exactly envelope.table.plan.shard_size
  // bytes) to `peer` and returns its acknowledgement.
  virtual Result<ReplicateAck> ReplicateFragment(const PeerInfo& peer,
                                                 const FragmentEnvelope& envelope,
                                                 RandomAccessSource& bytes) = 0;

  // Asks `peer` to attest the fragments of `tessera` it holds against `challenge`.
  virtual Result<Attestation> RequestAttestation(const PeerInfo& peer, const ContentHash& tessera,
                                                 const std::array<uint8_t, 32>& challenge) = 0;

  virtual Result<void> Ping(const PeerInfo& peer) = 0;

  // Streams fragment `index` of `tessera` from `peer` into `out` (the caller
  // verifies the checksum; the sink is not finished on failure).
  virtual Result<void> FetchFragment(const PeerInfo& peer, const ContentHash& tessera,
                                     uint32_t index, ByteSink& out) = 0;

  // Stores a signed record (e.g. a holder record) at the nodes closest to `key`.
  // Returns how many nodes accepted it; kUnavailable if none did.
  virtual Result<std::size_t> PutRecord(const NodeId& key, const std::vector<uint8_t>& record) = 0;

  // Every valid record found for `key` (possibly several versions). kNotFound if none.
  virtual Result<std::vector<std::vector<uint8_t>>> GetRecords(const NodeId& key) = 0;
};

}  // namespace tesseras::core
