// What a fragment is, what travels with it, and what holders answer.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/ids.h"
#include "core/tier.h"

namespace tesseras::core {

// Names one fragment of one tessera and pins its bytes: `checksum` is the BLAKE3
// hash of exactly the fragment's shard_size bytes (padding included).
struct FragmentId {
  ContentHash tessera;
  uint32_t index = 0;        // 0..shard_count-1; data shards first, then parity
  uint32_t shard_count = 0;  // data + parity (1 for the small tier)
  ContentHash checksum;

  bool operator==(const FragmentId&) const = default;
};

// Leaf size of the per-fragment proof tree used by attestations (docs/FORMAT.md).
inline constexpr uint32_t kProofLeafBytes = 16 * 1024;

// The result of encoding: the plan plus the checksum of every fragment, in index
// order. The replication layer signs it (the owner's "signed plan"), so a
// receiver can check any single fragment against it.
struct FragmentTable {
  ContentHash tessera;
  FragmentPlan plan;
  std::vector<ContentHash> checksums;  // size == plan.total_shards()
  // Root of each fragment's proof tree (kProofLeafBytes leaves), in index order;
  // empty when the encoder was not asked for them.
  std::vector<ContentHash> proof_roots;

  FragmentId IdOf(uint32_t index) const {
    return FragmentId{tessera, index, plan.total_shards(), checksums.at(index)};
  }
  bool operator==(const FragmentTable&) const = default;
};

// A fragment with the metadata it travels with. The bytes themselves move as a
// stream (see DhtPort::ReplicateFragment); `table` lets the receiver check the
// index, size and checksum, and `plan_signature` (64-byte Ed25519 by `owner`,
// empty until signed) proves who authored the plan.
struct FragmentEnvelope {
  FragmentId id;
  FragmentTable table;
  std::array<uint8_t, 32> owner_public_key{};
  std::vector<uint8_t> plan_signature;
};

// A holder's answer to Replicate: which fragment indices of that tessera it now holds.
struct ReplicateAck {
  ContentHash tessera;
  NodeId holder;
  std::vector<uint32_t> held_indices;
};

// Proof that a holder has one fragment's bytes right now. `response` is computed
// from the challenge and the fragment bytes (scheme: docs/ATTESTATION.md).
struct FragmentProof {
  uint32_t index = 0;
  ContentHash checksum;
  std::vector<uint8_t> response;
};

// Every request and answer between nodes, except the bytes of a fragment
// (which stream in chunks), is one protocol message of at most this many bytes
// (net::kMaxFrameBytes is this value). An attestation is one such answer, which
// is why attestations are asked for in batches (docs/ATTESTATION.md).
inline constexpr std::size_t kMaxMessageBytes = 1 << 20;

// A signed, time-stamped answer to a fresh challenge.
struct Attestation {
  ContentHash tessera;
  NodeId holder;
  std::array<uint8_t, 32> challenge{};
  // The fragment indices the request asked for, as sent (empty: every fragment
  // the holder has). Covered by the signature; not carried in the answer: the
  // requester puts in what it asked, so an answer signed for another subset
  // fails the signature check.
  std::vector<uint32_t> requested;
  int64_t timestamp_ms = 0;  // holder's clock, Unix epoch
  std::vector<FragmentProof> proofs;
  std::array<uint8_t, 32> holder_key{};  // Ed25519 public key; must hash to `holder`
  std::vector<uint8_t> signature;        // holder's Ed25519 over the canonical encoding
};

// A node as the replication layer sees it.
struct PeerInfo {
  NodeId id;
  std::string address;  // "ip:port" or "[ipv6]:port"
  bool operator==(const PeerInfo&) const = default;
};

}  // namespace tesseras::core
