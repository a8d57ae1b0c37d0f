// Signed objects of the replication layer and their canonical encodings
// (normative text: docs/FORMAT.md, "Signed plan", "Holder record", "Attestation").
//
// Every signed object is encoded as fixed-layout little-endian binary; the
// signature is Ed25519 over the encoding of everything before it. Parsing
// checks every length and count against hard limits before allocating.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/fragment.h"
#include "crypto/identity.h"

namespace tesseras::replication {

inline constexpr std::size_t kMaxAddressBytes = 64;
inline constexpr std::size_t kMaxHolders = 512;
inline constexpr std::size_t kMaxAuditSamples = 16;

// The owner's signed plan: the fragment table (with proof roots) and the
// owner's key, signed by that key. A fragment belongs to a tessera only if a
// plan signed by the tessera's owner lists its checksum.
struct SignedPlan {
  core::FragmentTable table;
  crypto::PublicKey owner{};
  crypto::Signature signature{};

  static SignedPlan Sign(const core::FragmentTable& table, const crypto::Identity& owner);
  // Canonical bytes covered by the signature.
  std::vector<uint8_t> SignedBytes() const;
  std::vector<uint8_t> Encode() const;  // SignedBytes() || signature
  static core::Result<SignedPlan> Decode(std::span<const uint8_t> bytes);
  // Signature valid, plan consistent with its size (tier, counts, shard size),
  // one checksum and one proof root per fragment.
  core::Result<void> Verify() const;
  core::NodeId owner_id() const { return crypto::NodeIdFromPublicKey(owner); }
};

struct HolderEntry {
  core::NodeId node_id;
  std::string address;
  std::vector<uint32_t> indices;  // fragment indices this holder keeps
  bool operator==(const HolderEntry&) const = default;
};

// Who holds what, published by the owner at the DHT nodes closest to the
// tessera hash so that any node can restore it. `version` (owner's clock, ms)
// orders updates: a reader keeps the highest valid version.
struct HolderRecord {
  SignedPlan plan;
  uint64_t version = 0;
  std::vector<HolderEntry> holders;
  crypto::Signature signature{};  // by plan.owner

  static HolderRecord Sign(SignedPlan plan, uint64_t version, std::vector<HolderEntry> holders,
                           const crypto::Identity& owner);
  std::vector<uint8_t> SignedBytes() const;
  std::vector<uint8_t> Encode() const;
  static core::Result<HolderRecord> Decode(std::span<const uint8_t> bytes);
  core::Result<void> Verify() const;  // both signatures, indices inside the plan
};

// The DHT record types that carry the objects above (docs/PROTOCOL.md §8):
// the owner's holder record, and a holder's own claim.
inline constexpr uint32_t kHolderRecordType = 1;
inline constexpr uint32_t kHolderClaimType = 2;

// BLAKE3 of a signed plan's encoding: names one owner's plan of a tessera, so
// that claims about different plans for the same hash never mix.
core::ContentHash PlanDigest(const SignedPlan& plan);

// A holder's own statement of what it keeps of a tessera, signed by the holder
// and published at the DHT nodes closest to the tessera hash. It carries the
// owner's signed plan, so that the tessera can be found, audited, repaired and
// restored once the owner's machine and its holder record are gone. A claim
// says where to look, never that the bytes are there: maintainers count a
// claimed copy only once it has proven possession, and restorers check every
// byte against the plan. Claims from different holders coexist; a reader keeps
// each holder's newest (`claimed_at_ms`). An empty index list withdraws it.
struct HolderClaim {
  SignedPlan plan;
  crypto::PublicKey holder_key{};
  std::string address;            // where the holder listens, "ip:port" or "[ipv6]:port"
  std::vector<uint32_t> indices;  // strictly ascending, each < k + m
  uint64_t claimed_at_ms = 0;     // holder's clock
  crypto::Signature signature{};  // by holder_key over everything before it

  static HolderClaim Sign(SignedPlan plan, std::string address, std::vector<uint32_t> indices,
                          uint64_t claimed_at_ms, const crypto::Identity& holder);
  std::vector<uint8_t> SignedBytes() const;
  std::vector<uint8_t> Encode() const;
  static core::Result<HolderClaim> Decode(std::span<const uint8_t> bytes);
  // Both signatures, the address length, indices ascending and inside the plan.
  // `plan_verified`: the caller has verified this very plan already (many
  // claims carry the same plan), so only the claim's own signature is checked.
  core::Result<void> Verify(bool plan_verified = false) const;
  core::NodeId holder() const { return crypto::NodeIdFromPublicKey(holder_key); }
};

// Whether encoded bytes are a holder record or a holder claim (by magic).
bool LooksLikeHolderClaim(std::span<const uint8_t> bytes);

// One sampled leaf of a fragment's proof tree, with its path to the root.
struct LeafSample {
  uint64_t leaf_index = 0;
  std::vector<uint8_t> leaf;
  std::vector<core::ContentHash> path;
};

// The canonical encoding of an Attestation's proofs: each FragmentProof's
// `response` is the encoded list of LeafSamples for that fragment.
std::vector<uint8_t> EncodeSamples(const std::vector<LeafSample>& samples);
core::Result<std::vector<LeafSample>> DecodeSamples(std::span<const uint8_t> bytes);

// Canonical bytes of an attestation covered by the holder's signature.
std::vector<uint8_t> AttestationSignedBytes(const core::Attestation& a);
// Signed bytes || 64-byte signature (the holder's key is inside the signed bytes).
std::vector<uint8_t> EncodeAttestation(const core::Attestation& a);
core::Result<core::Attestation> DecodeAttestation(std::span<const uint8_t> bytes);

}  // namespace tesseras::replication
