// Proof of possession (scheme and cost: docs/ATTESTATION.md).
//
// The requester sends a fresh random 32-byte challenge and the fragment indices
// it wants proven (empty: all the holder has). For every requested fragment it
// holds, the holder answers with the fragment's checksum and `samples` leaves
// of the fragment's proof tree chosen by the challenge, each with its Merkle
// path to the proof root in the owner's signed plan. The whole answer, with the
// requested indices, is time-stamped and signed by the holder. An answer is one
// protocol message, so it carries at most AttestBatchSize(samples) proofs and
// requesters ask in batches of that size. Leaf choice:
//
//   x = derive_key("tesseras 2026 audit sample v1",
//                  challenge || holder node id || tessera || index as u32 LE)
//       extended to 8*samples bytes (BLAKE3 XOF)
//   leaf j = (u64 LE at x[8j]) mod leaf_count
//
// A holder that kept only checksums (or roots) cannot produce the leaves; one
// that kept a fraction f of a fragment passes a sample with probability ~f.
#pragma once

#include <array>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/bytes.h"
#include "core/fragment.h"
#include "crypto/identity.h"
#include "replication/records.h"

namespace tesseras::replication {

inline constexpr int kDefaultAuditSamples = 2;

// ---- Size of one answer (docs/ATTESTATION.md, "Batches") ----------------------
//
// An answer travels as one message of at most core::kMaxMessageBytes (1 MiB).
// Worst case per proof, for any plan:
// - one sample: leaf_index 8 + leaf_length 4 + leaf ≤ 16,384 + path_length 1 +
//   32 per path level. A fragment is at most 64 MiB (FORMAT.md: shard_size ≤
//   67,108,864), so ≤ 4,096 leaves and ≤ 12 path levels: 16,781 bytes;
// - its response (FragmentProof.response): sample count 1 + samples × 16,781;
// - around it on the wire (protobuf, AttestResponse.proofs): the field's tag and
//   length 4, index 3, checksum 34, the response's tag and length 4: 45 bytes.
// Everything else in the frame (length prefix, envelope, tessera, holder,
// challenge, timestamp, signature, holder key) takes 235 bytes at most;
// kAttestFixedBytes reserves 1 KiB for it.
inline constexpr uint64_t kMaxFragmentBytes = 64ull << 20;
inline constexpr std::size_t kMaxProofPathLevels = 12;
static_assert((uint64_t{1} << kMaxProofPathLevels) * core::kProofLeafBytes >= kMaxFragmentBytes,
              "a path of kMaxProofPathLevels reaches every leaf of the largest fragment");
inline constexpr std::size_t kMaxSampleBytes =
    8 + 4 + core::kProofLeafBytes + 1 + 32 * kMaxProofPathLevels;  // 16,781
inline constexpr std::size_t kProofWireOverhead = 45;
inline constexpr std::size_t kAttestFixedBytes = 1024;

// Largest FragmentProof.response with `samples` samples (1..kMaxAuditSamples).
constexpr std::size_t MaxProofResponseBytes(int samples) {
  return 1 + static_cast<std::size_t>(samples) * kMaxSampleBytes;
}
// Largest FragmentProof on the wire.
constexpr std::size_t MaxProofWireBytes(int samples) {
  return kProofWireOverhead + MaxProofResponseBytes(samples);
}
// The most proofs one answer carries (a holder never puts more in one), and so
// the most indices a requester asks for at once: as many worst-case proofs as
// fit beside the fixed part, at least 1 and at most 255.
constexpr std::size_t AttestBatchSize(int samples) {
  const int s = samples < 1                                    ? 1
                : samples > static_cast<int>(kMaxAuditSamples) ? static_cast<int>(kMaxAuditSamples)
                                                               : samples;
  const std::size_t n = (core::kMaxMessageBytes - kAttestFixedBytes) / MaxProofWireBytes(s);
  return n < 1 ? 1 : n > 255 ? 255 : n;
}
// With the default 2 samples: 33,608 bytes per proof, 31 proofs per answer,
// 1,042,872 bytes at most (of 1,048,576).
inline constexpr std::size_t kDefaultAttestBatch = AttestBatchSize(kDefaultAuditSamples);
static_assert(MaxProofWireBytes(kDefaultAuditSamples) == 33'608);
static_assert(kDefaultAttestBatch == 31);
static_assert(kAttestFixedBytes + kDefaultAttestBatch * MaxProofWireBytes(kDefaultAuditSamples) <=
                  core::kMaxMessageBytes,
              "a full batch fits in one message");
static_assert(MaxProofWireBytes(static_cast<int>(kMaxAuditSamples)) < (1u << 21),
              "proof lengths fit the 3-byte varints counted in kProofWireOverhead");

// An upper bound on the size of the message that carries `a` (the fixed part
// plus each proof's response and wire overhead).
std::size_t AttestationWireBound(const core::Attestation& a);

using Challenge = std::array<uint8_t, 32>;

Challenge FreshChallenge();

std::vector<uint64_t> SampleLeaves(const Challenge& challenge, const core::NodeId& holder,
                                   const core::ContentHash& tessera, uint32_t index,
                                   uint64_t leaf_count, int samples);

// The Merkle paths of the given leaves of one fragment, from its stored proof
// tree (core::FragmentStore::ReadProofPaths), one per leaf, bottom first.
using ProofPathReader = std::function<core::Result<std::vector<std::vector<core::ContentHash>>>(
    std::span<const uint64_t> leaves)>;

struct HeldFragment {
  uint32_t index = 0;
  core::RandomAccessSource* bytes = nullptr;
  // Where the stored proof tree is, if one is kept; without it the fragment
  // is read whole to build its tree.
  ProofPathReader paths;
};

struct LocalCheck {
  uint32_t index = 0;
  // The holder's own bytes still match the plan: the whole fragment hashed to
  // its checksum, or (from the stored tree) every sampled leaf led to its
  // proof root.
  bool checksum_ok = false;
};

// Holder side, for a request that named `requested` (empty: all). Proves the
// fragments of `fragments` that `requested` names (all of them if it is empty),
// in the order given, and stops after AttestBatchSize(samples) proofs so that
// the answer always fits in one message: the rest are not read and not proven.
// For a fragment with a stored proof tree it reads only the sampled leaves and
// their paths (bytes read per audit do not depend on the fragment's size), and
// keeps the proof only if each path leads from the leaf's bytes to the plan's
// proof root; otherwise (no tree, or one that does not lead there) it reads
// the fragment once, computing its checksum and proof tree. Signs the answer
// (the requested indices included). Fragments whose bytes no longer match the
// plan are left out of the attestation and reported in `local`.
core::Result<core::Attestation> MakeAttestation(const crypto::Identity& holder,
                                                const SignedPlan& plan, const Challenge& challenge,
                                                const std::vector<uint32_t>& requested,
                                                int64_t now_ms,
                                                const std::vector<HeldFragment>& fragments,
                                                int samples = kDefaultAuditSamples,
                                                std::vector<LocalCheck>* local = nullptr);

struct AttestationCheck {
  std::vector<uint32_t> proven;                          // fragment indices proven held
  std::vector<std::pair<uint32_t, std::string>> failed;  // index, why
};

// Requester side, for the request we sent (`challenge`, `requested`): the
// attestation must name the same requested indices (attestation.requested ==
// `requested`, covered by the signature), the holder's signature and key
// (attestation.holder_key must hash to `expected_holder`), the echoed
// challenge, the timestamp (within max_skew_ms of now), then each proof against
// the signed plan. A proof of an index that was not requested, or a second
// proof of the same index, fails. Errors only for an attestation that is
// unusable as a whole; per-fragment failures are in `failed`.
core::Result<AttestationCheck> VerifyAttestation(
    const core::Attestation& attestation, const core::NodeId& expected_holder,
    const SignedPlan& plan, const Challenge& challenge, const std::vector<uint32_t>& requested,
    int64_t now_ms, int64_t max_skew_ms = 10 * 60 * 1000, int samples = kDefaultAuditSamples);

}  // namespace tesseras::replication
