#include "replication/records.h"

#include <algorithm>
#include <set>

#include "crypto/blake3_hasher.h"
#include "replication/byte_codec.h"

namespace tesseras::replication {
namespace {

using core::ErrorCode;
using core::MakeError;
using core::Result;

constexpr char kPlanMagic[8] = {'T', 'S', 'P', 'L', 'A', 'N', '0', '1'};
constexpr char kHolderMagic[8] = {'T', 'S', 'H', 'O', 'L', 'D', '0', '1'};
constexpr char kClaimMagic[8] = {'T', 'S', 'C', 'L', 'A', 'I', 'M', '1'};
// An attestation for a request that named no indices (all held) keeps the
// first layout; one for a request that named indices signs them too.
constexpr char kAttestMagic[8] = {'T', 'S', 'A', 'T', 'T', 'S', '0', '1'};
constexpr char kAttestSubsetMagic[8] = {'T', 'S', 'A', 'T', 'T', 'S', '0', '2'};

void Magic(ByteWriter& w, const char (&m)[8]) {
  w.Bytes(std::span(reinterpret_cast<const uint8_t*>(m), 8));
}

Result<void> ExpectMagic(ByteReader& r, const char (&m)[8]) {
  auto got = TRY(r.Bytes(8));
  if (!std::equal(got.begin(), got.end(), reinterpret_cast<const uint8_t*>(m))) {
    return r.Malformed("bad magic (expected " + std::string(m, 8) + ")");
  }
  return core::Ok();
}

}  // namespace

// ---- SignedPlan -------------------------------------------------------------------

std::vector<uint8_t> SignedPlan::SignedBytes() const {
  ByteWriter w;
  Magic(w, kPlanMagic);
  const auto& p = table.plan;
  w.Id(table.tessera);
  w.U8(static_cast<uint8_t>(p.tier));
  w.U64(p.original_size);
  w.U32(p.data_shards);
  w.U32(p.parity_shards);
  w.U64(p.shard_size);
  w.U32(core::kProofLeafBytes);
  for (const auto& c : table.checksums) w.Id(c);
  for (const auto& r : table.proof_roots) w.Id(r);
  w.Bytes(owner);
  return std::move(w.out());
}

std::vector<uint8_t> SignedPlan::Encode() const {
  auto out = SignedBytes();
  out.insert(out.end(), signature.begin(), signature.end());
  return out;
}

SignedPlan SignedPlan::Sign(const core::FragmentTable& table, const crypto::Identity& owner) {
  SignedPlan p;
  p.table = table;
  p.owner = owner.public_key();
  p.signature = owner.Sign(p.SignedBytes());
  return p;
}

Result<SignedPlan> SignedPlan::Decode(std::span<const uint8_t> bytes) {
  ByteReader r(bytes, "signed plan");
  TRY(ExpectMagic(r, kPlanMagic));
  SignedPlan p;
  p.table.tessera = TRY(r.Id<core::ContentHash>());
  uint8_t tier = TRY(r.U8());
  if (tier > 2) return r.Malformed("unknown tier " + std::to_string(tier));
  auto& plan = p.table.plan;
  plan.tier = static_cast<core::Tier>(tier);
  plan.original_size = TRY(r.U64());
  plan.data_shards = TRY(r.U32());
  plan.parity_shards = TRY(r.U32());
  plan.shard_size = TRY(r.U64());
  uint32_t leaf = TRY(r.U32());
  if (leaf != core::kProofLeafBytes) return r.Malformed("unsupported proof leaf size");
  if (plan.data_shards == 0 || plan.data_shards + uint64_t{plan.parity_shards} > 255) {
    return r.Malformed("shard counts out of range");
  }
  const uint32_t n = plan.total_shards();
  for (uint32_t i = 0; i < n; ++i) p.table.checksums.push_back(TRY(r.Id<core::ContentHash>()));
  for (uint32_t i = 0; i < n; ++i) p.table.proof_roots.push_back(TRY(r.Id<core::ContentHash>()));
  p.owner = TRY(r.Array<32>());
  p.signature = TRY(r.Array<64>());
  if (!r.done()) return r.Malformed("trailing bytes");
  return p;
}

Result<void> SignedPlan::Verify() const {
  const auto& plan = table.plan;
  auto valid = core::ValidatePlan(plan);
  if (!valid.ok())
    return MakeError(ErrorCode::kInvalidArgument, "signed plan: " + valid.error().message);
  if (table.checksums.size() != plan.total_shards() ||
      table.proof_roots.size() != plan.total_shards()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "signed plan must list one checksum and one proof root per fragment");
  }
  if (!crypto::VerifySignature(owner, SignedBytes(), signature)) {
    return MakeError(ErrorCode::kCorrupt, "signed plan for " + table.tessera.Short() +
                                              "… has an invalid owner signature");
  }
  return core::Ok();
}

// ---- HolderRecord -----------------------------------------------------------------

std::vector<uint8_t> HolderRecord::SignedBytes() const {
  ByteWriter w;
  Magic(w, kHolderMagic);
  auto plan_bytes = plan.Encode();
  w.U32(static_cast<uint32_t>(plan_bytes.size()));
  w.Bytes(plan_bytes);
  w.U64(version);
  w.U32(static_cast<uint32_t>(holders.size()));
  for (const auto& h : holders) {
    w.Id(h.node_id);
    w.U8(static_cast<uint8_t>(h.address.size()));
    w.Bytes(std::span(reinterpret_cast<const uint8_t*>(h.address.data()), h.address.size()));
    w.U16(static_cast<uint16_t>(h.indices.size()));
    for (uint32_t i : h.indices) w.U16(static_cast<uint16_t>(i));
  }
  return std::move(w.out());
}

std::vector<uint8_t> HolderRecord::Encode() const {
  auto out = SignedBytes();
  out.insert(out.end(), signature.begin(), signature.end());
  return out;
}

HolderRecord HolderRecord::Sign(SignedPlan plan, uint64_t version, std::vector<HolderEntry> holders,
                                const crypto::Identity& owner) {
  HolderRecord r;
  r.plan = std::move(plan);
  r.version = version;
  r.holders = std::move(holders);
  r.signature = owner.Sign(r.SignedBytes());
  return r;
}

Result<HolderRecord> HolderRecord::Decode(std::span<const uint8_t> bytes) {
  ByteReader r(bytes, "holder record");
  TRY(ExpectMagic(r, kHolderMagic));
  HolderRecord rec;
  uint32_t plan_len = TRY(r.U32());
  auto plan_bytes = TRY(r.Bytes(plan_len));
  rec.plan = TRY(SignedPlan::Decode(plan_bytes));
  rec.version = TRY(r.U64());
  uint32_t count = TRY(r.U32());
  if (count > kMaxHolders) return r.Malformed("too many holders (" + std::to_string(count) + ")");
  for (uint32_t i = 0; i < count; ++i) {
    HolderEntry h;
    h.node_id = TRY(r.Id<core::NodeId>());
    uint8_t alen = TRY(r.U8());
    if (alen > kMaxAddressBytes) return r.Malformed("address too long");
    auto a = TRY(r.Bytes(alen));
    h.address.assign(a.begin(), a.end());
    uint16_t n = TRY(r.U16());
    if (n > rec.plan.table.plan.total_shards()) return r.Malformed("too many indices");
    for (uint16_t j = 0; j < n; ++j) h.indices.push_back(TRY(r.U16()));
    rec.holders.push_back(std::move(h));
  }
  rec.signature = TRY(r.Array<64>());
  if (!r.done()) return r.Malformed("trailing bytes");
  return rec;
}

Result<void> HolderRecord::Verify() const {
  TRY(plan.Verify());
  const uint32_t n = plan.table.plan.total_shards();
  std::set<core::NodeId> seen;
  for (const auto& h : holders) {
    if (!seen.insert(h.node_id).second) {
      return MakeError(ErrorCode::kInvalidArgument, "holder record lists a holder twice");
    }
    for (uint32_t i : h.indices) {
      if (i >= n) {
        return MakeError(
            ErrorCode::kInvalidArgument,
            "holder record names fragment " + std::to_string(i) + " of " + std::to_string(n));
      }
    }
  }
  if (!crypto::VerifySignature(plan.owner, SignedBytes(), signature)) {
    return MakeError(ErrorCode::kCorrupt, "holder record has an invalid owner signature");
  }
  return core::Ok();
}

// ---- HolderClaim ------------------------------------------------------------------

core::ContentHash PlanDigest(const SignedPlan& plan) { return crypto::Blake3(plan.Encode()); }

bool LooksLikeHolderClaim(std::span<const uint8_t> bytes) {
  return bytes.size() >= 8 && std::equal(bytes.begin(), bytes.begin() + 8,
                                         reinterpret_cast<const uint8_t*>(kClaimMagic));
}

std::vector<uint8_t> HolderClaim::SignedBytes() const {
  ByteWriter w;
  Magic(w, kClaimMagic);
  auto plan_bytes = plan.Encode();
  w.U32(static_cast<uint32_t>(plan_bytes.size()));
  w.Bytes(plan_bytes);
  w.Bytes(holder_key);
  w.U8(static_cast<uint8_t>(address.size()));
  w.Bytes(std::span(reinterpret_cast<const uint8_t*>(address.data()), address.size()));
  w.U16(static_cast<uint16_t>(indices.size()));
  for (uint32_t i : indices) w.U16(static_cast<uint16_t>(i));
  w.U64(claimed_at_ms);
  return std::move(w.out());
}

std::vector<uint8_t> HolderClaim::Encode() const {
  auto out = SignedBytes();
  out.insert(out.end(), signature.begin(), signature.end());
  return out;
}

HolderClaim HolderClaim::Sign(SignedPlan plan, std::string address, std::vector<uint32_t> indices,
                              uint64_t claimed_at_ms, const crypto::Identity& holder) {
  HolderClaim c;
  c.plan = std::move(plan);
  c.holder_key = holder.public_key();
  c.address = std::move(address);
  c.indices = std::move(indices);
  c.claimed_at_ms = claimed_at_ms;
  c.signature = holder.Sign(c.SignedBytes());
  return c;
}

Result<HolderClaim> HolderClaim::Decode(std::span<const uint8_t> bytes) {
  ByteReader r(bytes, "holder claim");
  TRY(ExpectMagic(r, kClaimMagic));
  HolderClaim c;
  uint32_t plan_len = TRY(r.U32());
  auto plan_bytes = TRY(r.Bytes(plan_len));
  c.plan = TRY(SignedPlan::Decode(plan_bytes));
  c.holder_key = TRY(r.Array<32>());
  uint8_t alen = TRY(r.U8());
  if (alen > kMaxAddressBytes) return r.Malformed("address too long");
  auto a = TRY(r.Bytes(alen));
  c.address.assign(a.begin(), a.end());
  uint16_t n = TRY(r.U16());
  if (n > c.plan.table.plan.total_shards()) return r.Malformed("too many indices");
  for (uint16_t j = 0; j < n; ++j) c.indices.push_back(TRY(r.U16()));
  c.claimed_at_ms = TRY(r.U64());
  c.signature = TRY(r.Array<64>());
  if (!r.done()) return r.Malformed("trailing bytes");
  return c;
}

Result<void> HolderClaim::Verify(bool plan_verified) const {
  if (!plan_verified) TRY(plan.Verify());
  const uint32_t n = plan.table.plan.total_shards();
  for (std::size_t j = 0; j < indices.size(); ++j) {
    if (indices[j] >= n || (j > 0 && indices[j] <= indices[j - 1])) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "holder claim indices must be ascending and below " + std::to_string(n));
    }
  }
  if (!crypto::VerifySignature(holder_key, SignedBytes(), signature)) {
    return MakeError(ErrorCode::kCorrupt, "holder claim has an invalid holder signature");
  }
  return core::Ok();
}

// ---- Attestation ------------------------------------------------------------------

std::vector<uint8_t> EncodeSamples(const std::vector<LeafSample>& samples) {
  ByteWriter w;
  w.U8(static_cast<uint8_t>(samples.size()));
  for (const auto& s : samples) {
    w.U64(s.leaf_index);
    w.U32(static_cast<uint32_t>(s.leaf.size()));
    w.Bytes(s.leaf);
    w.U8(static_cast<uint8_t>(s.path.size()));
    for (const auto& h : s.path) w.Id(h);
  }
  return std::move(w.out());
}

Result<std::vector<LeafSample>> DecodeSamples(std::span<const uint8_t> bytes) {
  ByteReader r(bytes, "attestation samples");
  uint8_t count = TRY(r.U8());
  if (count > kMaxAuditSamples) return r.Malformed("too many samples");
  std::vector<LeafSample> out;
  for (uint8_t i = 0; i < count; ++i) {
    LeafSample s;
    s.leaf_index = TRY(r.U64());
    uint32_t len = TRY(r.U32());
    if (len > core::kProofLeafBytes) return r.Malformed("leaf longer than a proof leaf");
    auto leaf = TRY(r.Bytes(len));
    s.leaf.assign(leaf.begin(), leaf.end());
    uint8_t depth = TRY(r.U8());
    if (depth > 64) return r.Malformed("proof path too long");
    for (uint8_t d = 0; d < depth; ++d) s.path.push_back(TRY(r.Id<core::ContentHash>()));
    out.push_back(std::move(s));
  }
  if (!r.done()) return r.Malformed("trailing bytes");
  return out;
}

std::vector<uint8_t> AttestationSignedBytes(const core::Attestation& a) {
  ByteWriter w;
  Magic(w, a.requested.empty() ? kAttestMagic : kAttestSubsetMagic);
  w.Id(a.tessera);
  w.Id(a.holder);
  w.Bytes(a.challenge);
  w.U64(static_cast<uint64_t>(a.timestamp_ms));
  w.Bytes(a.holder_key);
  if (!a.requested.empty()) {
    w.U16(static_cast<uint16_t>(a.requested.size()));
    for (uint32_t i : a.requested) w.U16(static_cast<uint16_t>(i));
  }
  w.U16(static_cast<uint16_t>(a.proofs.size()));
  for (const auto& p : a.proofs) {
    w.U16(static_cast<uint16_t>(p.index));
    w.Id(p.checksum);
    w.U32(static_cast<uint32_t>(p.response.size()));
    w.Bytes(p.response);
  }
  return std::move(w.out());
}

std::vector<uint8_t> EncodeAttestation(const core::Attestation& a) {
  auto out = AttestationSignedBytes(a);
  out.insert(out.end(), a.signature.begin(), a.signature.end());
  return out;
}

Result<core::Attestation> DecodeAttestation(std::span<const uint8_t> bytes) {
  ByteReader r(bytes, "attestation");
  const bool subset =
      bytes.size() >= 8 && std::equal(bytes.begin(), bytes.begin() + 8,
                                      reinterpret_cast<const uint8_t*>(kAttestSubsetMagic));
  TRY(ExpectMagic(r, subset ? kAttestSubsetMagic : kAttestMagic));
  core::Attestation a;
  a.tessera = TRY(r.Id<core::ContentHash>());
  a.holder = TRY(r.Id<core::NodeId>());
  a.challenge = TRY(r.Array<32>());
  a.timestamp_ms = static_cast<int64_t>(TRY(r.U64()));
  a.holder_key = TRY(r.Array<32>());
  if (subset) {
    uint16_t count = TRY(r.U16());
    if (count == 0 || count > 255) return r.Malformed("requested index count out of range");
    for (uint16_t i = 0; i < count; ++i) {
      uint16_t idx = TRY(r.U16());
      if (idx >= 255) return r.Malformed("requested index out of range");
      a.requested.push_back(idx);
    }
  }
  uint16_t n = TRY(r.U16());
  if (n > 255) return r.Malformed("too many proofs");
  for (uint16_t i = 0; i < n; ++i) {
    core::FragmentProof p;
    p.index = TRY(r.U16());
    p.checksum = TRY(r.Id<core::ContentHash>());
    uint32_t len = TRY(r.U32());
    if (len > kMaxAuditSamples * (core::kProofLeafBytes + 64 * 32 + 16) + 1) {
      return r.Malformed("proof response too long");
    }
    auto resp = TRY(r.Bytes(len));
    p.response.assign(resp.begin(), resp.end());
    a.proofs.push_back(std::move(p));
  }
  auto sig = TRY(r.Array<64>());
  a.signature.assign(sig.begin(), sig.end());
  if (!r.done()) return r.Malformed("trailing bytes");
  return a;
}

}  // namespace tesseras::replication
