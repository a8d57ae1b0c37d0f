#include "replication/attestation.h"

#include <sodium.h>

#include <algorithm>
#include <cstring>

#include "crypto/blake3_hasher.h"
#include "replication/proof_tree.h"

namespace tesseras::replication {
namespace {

using core::ErrorCode;
using core::MakeError;
using core::Result;

// The leaf's bytes (the last leaf may be short).
Result<LeafSample> ReadLeaf(core::RandomAccessSource& bytes, uint64_t leaf_index) {
  LeafSample s;
  s.leaf_index = leaf_index;
  const uint64_t start = leaf_index * core::kProofLeafBytes;
  const std::size_t len =
      static_cast<std::size_t>(std::min<uint64_t>(core::kProofLeafBytes, bytes.Size() - start));
  s.leaf.resize(len);
  TRY(bytes.ReadAt(start, s.leaf));
  return s;
}

// The leaf's bytes, taken from `picked` when it was sampled already (a small
// fragment has few leaves) instead of read again.
Result<LeafSample> ReadSampledLeaf(core::RandomAccessSource& bytes, uint64_t leaf_index,
                                   const std::vector<LeafSample>& picked) {
  for (const auto& p : picked) {
    if (p.leaf_index == leaf_index) {
      LeafSample s;
      s.leaf_index = leaf_index;
      s.leaf = p.leaf;
      return s;
    }
  }
  return ReadLeaf(bytes, leaf_index);
}

// The samples from the stored proof tree: the sampled leaves' bytes and their
// kept paths, each checked against the plan's proof root. nullopt when there
// is no tree, or a path does not lead to the root (a damaged leaf or tree):
// the caller then reads the whole fragment.
Result<std::optional<std::vector<LeafSample>>> ProveFromStoredTree(const core::NodeId& holder,
                                                                   const core::FragmentTable& table,
                                                                   const Challenge& challenge,
                                                                   const HeldFragment& f,
                                                                   int samples) {
  if (!f.paths || f.index >= table.proof_roots.size()) return std::nullopt;
  const uint64_t leaf_count = ProofLeafCount(f.bytes->Size());
  const auto leaves = SampleLeaves(challenge, holder, table.tessera, f.index, leaf_count, samples);
  auto paths = f.paths(leaves);
  if (!paths.ok() || paths->size() != leaves.size()) return std::nullopt;
  std::vector<LeafSample> picked;
  for (std::size_t j = 0; j < leaves.size(); ++j) {
    ASSIGN_OR_RETURN(LeafSample s, ReadSampledLeaf(*f.bytes, leaves[j], picked));
    s.path = std::move((*paths)[j]);
    if (!VerifyMerklePath(table.proof_roots[f.index], leaf_count, s.leaf_index, s.leaf, s.path)) {
      return std::nullopt;
    }
    picked.push_back(std::move(s));
  }
  return picked;
}

// The samples from one read of the whole fragment (checksum and proof tree on
// the way); nullopt when its bytes do not match the plan's checksum.
Result<std::optional<std::vector<LeafSample>>> ProveFromWholeFragment(
    const core::NodeId& holder, const core::FragmentTable& table, const Challenge& challenge,
    const HeldFragment& f, int samples, std::vector<uint8_t>& buf) {
  if (buf.empty()) buf.resize(1 << 20);
  crypto::Blake3Hasher sum;
  ProofTreeBuilder tree;
  const uint64_t size = f.bytes->Size();
  for (uint64_t off = 0; off < size; off += buf.size()) {
    std::size_t n = static_cast<std::size_t>(std::min<uint64_t>(buf.size(), size - off));
    TRY(f.bytes->ReadAt(off, std::span(buf.data(), n)));
    sum.Update(std::span(buf.data(), n));
    tree.Update(std::span(buf.data(), n));
  }
  if (sum.Finalize() != table.checksums[f.index]) return std::nullopt;
  auto leaves = tree.FinishLeaves();
  std::vector<LeafSample> picked;
  for (uint64_t li :
       SampleLeaves(challenge, holder, table.tessera, f.index, leaves.size(), samples)) {
    ASSIGN_OR_RETURN(LeafSample s, ReadSampledLeaf(*f.bytes, li, picked));
    s.path = MerklePath(leaves, li);
    picked.push_back(std::move(s));
  }
  return picked;
}

}  // namespace

Challenge FreshChallenge() {
  Challenge c;
  if (sodium_init() < 0) std::abort();  // libsodium cannot fail here on Linux
  randombytes_buf(c.data(), c.size());
  return c;
}

std::vector<uint64_t> SampleLeaves(const Challenge& challenge, const core::NodeId& holder,
                                   const core::ContentHash& tessera, uint32_t index,
                                   uint64_t leaf_count, int samples) {
  crypto::Blake3Hasher h = crypto::Blake3Hasher::ForContext("tesseras 2026 audit sample v1");
  h.Update(challenge);
  h.Update(holder.bytes);
  h.Update(tessera.bytes);
  uint8_t le[4];
  for (int i = 0; i < 4; ++i) le[i] = static_cast<uint8_t>(index >> (8 * i));
  h.Update(le);
  std::vector<uint8_t> x(8 * static_cast<std::size_t>(samples));
  h.FinalizeXof(x);
  std::vector<uint64_t> out;
  for (int j = 0; j < samples; ++j) {
    uint64_t v = 0;
    for (int b = 0; b < 8; ++b) v |= uint64_t{x[8 * j + b]} << (8 * b);
    out.push_back(v % leaf_count);
  }
  return out;
}

std::size_t AttestationWireBound(const core::Attestation& a) {
  std::size_t n = kAttestFixedBytes;
  for (const auto& p : a.proofs) n += kProofWireOverhead + p.response.size();
  return n;
}

Result<core::Attestation> MakeAttestation(const crypto::Identity& holder, const SignedPlan& plan,
                                          const Challenge& challenge,
                                          const std::vector<uint32_t>& requested, int64_t now_ms,
                                          const std::vector<HeldFragment>& fragments, int samples,
                                          std::vector<LocalCheck>* local) {
  if (samples < 1 || samples > static_cast<int>(kMaxAuditSamples)) {
    return MakeError(ErrorCode::kInvalidArgument, "audit sample count out of range");
  }
  if (requested.size() > 255) {
    return MakeError(ErrorCode::kInvalidArgument, "more than 255 requested indices");
  }
  const auto& table = plan.table;
  core::Attestation a;
  a.tessera = table.tessera;
  a.holder = holder.node_id();
  a.challenge = challenge;
  a.requested = requested;
  a.timestamp_ms = now_ms;
  a.holder_key = holder.public_key();
  const std::size_t max_proofs = AttestBatchSize(samples);
  std::vector<uint8_t> buf;  // for whole reads only
  for (const auto& f : fragments) {
    if (!requested.empty() &&
        std::find(requested.begin(), requested.end(), f.index) == requested.end()) {
      continue;  // not asked for
    }
    // A full answer: what was not proven yet is left for another request.
    if (a.proofs.size() == max_proofs) break;
    if (f.index >= table.checksums.size() || f.bytes == nullptr) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "fragment " + std::to_string(f.index) + " is outside the plan");
    }
    if (f.bytes->Size() != table.plan.shard_size) {
      if (local) local->push_back({f.index, false});
      continue;  // not the plan's fragment; the caller repairs it
    }
    ASSIGN_OR_RETURN(std::optional<std::vector<LeafSample>> picked,
                     ProveFromStoredTree(a.holder, table, challenge, f, samples));
    if (!picked) {
      ASSIGN_OR_RETURN(picked, ProveFromWholeFragment(a.holder, table, challenge, f, samples, buf));
    }
    if (local) local->push_back({f.index, picked.has_value()});
    if (!picked) continue;  // a corrupt fragment is not attested; the caller repairs it
    a.proofs.push_back({f.index, table.checksums[f.index], EncodeSamples(*picked)});
  }
  auto sig = holder.Sign(AttestationSignedBytes(a));
  a.signature.assign(sig.begin(), sig.end());
  return a;
}

Result<AttestationCheck> VerifyAttestation(const core::Attestation& a,
                                           const core::NodeId& expected_holder,
                                           const SignedPlan& plan, const Challenge& challenge,
                                           const std::vector<uint32_t>& requested, int64_t now_ms,
                                           int64_t max_skew_ms, int samples) {
  const crypto::PublicKey& holder_key = a.holder_key;
  if (a.requested != requested) {
    return MakeError(ErrorCode::kPermissionDenied,
                     "attestation answers another request (requested indices differ)");
  }
  if (a.holder != expected_holder || crypto::NodeIdFromPublicKey(holder_key) != expected_holder) {
    return MakeError(ErrorCode::kPermissionDenied,
                     "attestation is not from the holder " + expected_holder.Short() + "…");
  }
  if (!crypto::VerifySignature(holder_key, AttestationSignedBytes(a), a.signature)) {
    return MakeError(ErrorCode::kCorrupt, "attestation signature is invalid");
  }
  if (a.challenge != challenge) {
    return MakeError(ErrorCode::kPermissionDenied,
                     "attestation answers another challenge (replay)");
  }
  if (a.tessera != plan.table.tessera) {
    return MakeError(ErrorCode::kInvalidArgument, "attestation is for another tessera");
  }
  if (a.timestamp_ms < now_ms - max_skew_ms || a.timestamp_ms > now_ms + max_skew_ms) {
    return MakeError(ErrorCode::kPermissionDenied, "attestation timestamp is out of range");
  }
  const auto& table = plan.table;
  AttestationCheck check;
  const uint64_t leaf_count = ProofLeafCount(table.plan.shard_size);
  std::vector<bool> seen(table.checksums.size(), false);
  for (const auto& p : a.proofs) {
    auto fail = [&](std::string why) { check.failed.emplace_back(p.index, std::move(why)); };
    if (p.index >= table.checksums.size()) {
      fail("index outside the plan");
      continue;
    }
    if (!requested.empty() &&
        std::find(requested.begin(), requested.end(), p.index) == requested.end()) {
      fail("not requested");
      continue;
    }
    if (seen[p.index]) {
      fail("proven twice in one attestation");
      continue;
    }
    seen[p.index] = true;
    if (p.checksum != table.checksums[p.index]) {
      fail("checksum differs from the plan");
      continue;
    }
    auto decoded = DecodeSamples(p.response);
    if (!decoded.ok()) {
      fail(decoded.error().message);
      continue;
    }
    auto expect =
        SampleLeaves(challenge, expected_holder, table.tessera, p.index, leaf_count, samples);
    if (decoded->size() != expect.size()) {
      fail("wrong number of samples");
      continue;
    }
    bool good = true;
    for (std::size_t j = 0; j < expect.size() && good; ++j) {
      const auto& s = (*decoded)[j];
      const uint64_t start = s.leaf_index * core::kProofLeafBytes;
      const uint64_t want_len =
          start < table.plan.shard_size
              ? std::min<uint64_t>(core::kProofLeafBytes, table.plan.shard_size - start)
              : 0;
      good = s.leaf_index == expect[j] && s.leaf.size() == want_len &&
             VerifyMerklePath(table.proof_roots[p.index], leaf_count, s.leaf_index, s.leaf, s.path);
    }
    if (!good) {
      fail("sampled bytes do not match the proof root");
      continue;
    }
    check.proven.push_back(p.index);
  }
  return check;
}

}  // namespace tesseras::replication
