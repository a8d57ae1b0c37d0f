// Proof of possession (scheme and cost: docs/ATTESTATION.md).
//
// The requester sends a fresh random 32-byte challenge. For every fragment of
// the tessera it holds, the holder answers with the fragment's checksum and
// `samples` leaves of the fragment's proof tree chosen by the challenge, each
// with its Merkle path to the proof root in the owner's signed plan. The whole
// answer is time-stamped and signed by the holder. Leaf choice:
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
#include <optional>
#include <string>
#include <vector>

#include "core/bytes.h"
#include "core/fragment.h"
#include "crypto/identity.h"
#include "replication/records.h"

namespace tesseras::replication {

inline constexpr int kDefaultAuditSamples = 2;

using Challenge = std::array<uint8_t, 32>;

Challenge FreshChallenge();

std::vector<uint64_t> SampleLeaves(const Challenge& challenge, const core::NodeId& holder,
                                   const core::ContentHash& tessera, uint32_t index,
                                   uint64_t leaf_count, int samples);

struct HeldFragment {
  uint32_t index = 0;
  core::RandomAccessSource* bytes = nullptr;
};

struct LocalCheck {
  uint32_t index = 0;
  bool checksum_ok = false;  // the holder's own bytes still match the plan
};

// Holder side. Reads every held fragment once (computing its checksum and proof
// tree), answers the sampled leaves, and signs. Fragments whose bytes no longer
// match the plan are left out of the attestation and reported in `local`.
core::Result<core::Attestation> MakeAttestation(const crypto::Identity& holder,
                                                const SignedPlan& plan, const Challenge& challenge,
                                                int64_t now_ms,
                                                const std::vector<HeldFragment>& fragments,
                                                int samples = kDefaultAuditSamples,
                                                std::vector<LocalCheck>* local = nullptr);

struct AttestationCheck {
  std::vector<uint32_t> proven;                          // fragment indices proven held
  std::vector<std::pair<uint32_t, std::string>> failed;  // index, why
};

// Requester side: the holder's signature and key (attestation.holder_key must
// hash to `expected_holder`),
// the echoed challenge, the timestamp (within max_skew_ms of now), then each proof
// against the signed plan. Errors only for an attestation that is unusable as a
// whole; per-fragment failures are in `failed`.
core::Result<AttestationCheck> VerifyAttestation(const core::Attestation& attestation,
                                                 const core::NodeId& expected_holder,
                                                 const SignedPlan& plan, const Challenge& challenge,
                                                 int64_t now_ms,
                                                 int64_t max_skew_ms = 10 * 60 * 1000,
                                                 int samples = kDefaultAuditSamples);

}  // namespace tesseras::replication
