#include "replication/attestation.h"

#include <gtest/gtest.h>

#include <random>

#include "crypto/blake3_hasher.h"
#include "replication/fragment_codec.h"
#include "replication/proof_tree.h"

namespace tesseras::replication {
namespace {

struct Fixture {
  crypto::Identity owner = *crypto::Identity::Generate(0);
  crypto::Identity holder = *crypto::Identity::Generate(0);
  std::vector<std::vector<uint8_t>> fragments;
  SignedPlan plan;

  explicit Fixture(std::size_t size) {
    std::vector<uint8_t> payload(size);
    std::mt19937 rng(static_cast<uint32_t>(size));
    for (auto& b : payload) b = static_cast<uint8_t>(rng());
    auto p = *core::PlanForSize(size);
    std::vector<core::MemorySink> sinks(p.total_shards());
    std::vector<core::ByteSink*> ptrs;
    for (auto& s : sinks) ptrs.push_back(&s);
    core::MemorySource src(payload);
    CodecOptions opt;
    opt.compute_proof_roots = true;
    plan = SignedPlan::Sign(*EncodeTessera(crypto::Blake3(payload), p, src, ptrs, opt), owner);
    for (auto& s : sinks) fragments.push_back(s.bytes());
  }
};

TEST(AttestationTest, HonestHolderPasses) {
  Fixture f(5 * core::kMiB);
  core::MemorySource a(f.fragments[3]), b(f.fragments[20]);
  auto challenge = FreshChallenge();
  const int64_t now = 1'800'000'000'000;
  std::vector<LocalCheck> local;
  auto att = MakeAttestation(f.holder, f.plan, challenge, now, {{3, &a}, {20, &b}},
                             kDefaultAuditSamples, &local);
  ASSERT_TRUE(att.ok()) << att.error().ToString();
  ASSERT_EQ(local.size(), 2u);
  EXPECT_TRUE(local[0].checksum_ok && local[1].checksum_ok);
  // Through the wire encoding.
  auto decoded = DecodeAttestation(EncodeAttestation(*att));
  ASSERT_TRUE(decoded.ok()) << decoded.error().ToString();
  auto check = VerifyAttestation(*decoded, f.holder.node_id(), f.plan, challenge, now + 1000);
  ASSERT_TRUE(check.ok()) << check.error().ToString();
  EXPECT_EQ(check->proven, (std::vector<uint32_t>{3, 20}));
  EXPECT_TRUE(check->failed.empty());
}

TEST(AttestationTest, HolderWithOnlyChecksumsFails) {
  Fixture f(5 * core::kMiB);
  auto challenge = FreshChallenge();
  const int64_t now = 1'800'000'000'000;
  // A cheater: right checksum, bytes replaced by zeros (it kept nothing else).
  std::vector<uint8_t> zeros(f.fragments[5].size(), 0);
  core::MemorySource z(zeros);
  // MakeAttestation itself refuses to attest bytes that don't match; forge the
  // proof by hand with what a checksum-only holder could compute.
  core::Attestation forged;
  forged.tessera = f.plan.table.tessera;
  forged.holder = f.holder.node_id();
  forged.challenge = challenge;
  forged.timestamp_ms = now;
  forged.holder_key = f.holder.public_key();
  auto picks = SampleLeaves(challenge, f.holder.node_id(), f.plan.table.tessera, 5,
                            ProofLeafCount(f.plan.table.plan.shard_size), kDefaultAuditSamples);
  std::vector<LeafSample> samples;
  for (auto li : picks) {
    LeafSample s;
    s.leaf_index = li;
    s.leaf.assign(core::kProofLeafBytes, 0);
    samples.push_back(s);
  }
  forged.proofs.push_back({5, f.plan.table.checksums[5], EncodeSamples(samples)});
  auto sig = f.holder.Sign(AttestationSignedBytes(forged));
  forged.signature.assign(sig.begin(), sig.end());
  auto check = VerifyAttestation(forged, f.holder.node_id(), f.plan, challenge, now);
  ASSERT_TRUE(check.ok());
  EXPECT_TRUE(check->proven.empty());
  ASSERT_EQ(check->failed.size(), 1u);
  EXPECT_EQ(check->failed[0].first, 5u);

  // And an honest holder whose fragment rotted reports it locally and attests nothing.
  std::vector<LocalCheck> local;
  auto att = MakeAttestation(f.holder, f.plan, challenge, now, {{5, &z}}, 2, &local);
  ASSERT_TRUE(att.ok());
  EXPECT_TRUE(att->proofs.empty());
  ASSERT_EQ(local.size(), 1u);
  EXPECT_FALSE(local[0].checksum_ok);
}

TEST(AttestationTest, ReplayWrongHolderStaleAndTamperedAreRefused) {
  Fixture f(1000);  // small tier: one fragment, one leaf
  core::MemorySource a(f.fragments[0]);
  auto c1 = FreshChallenge(), c2 = FreshChallenge();
  const int64_t now = 1'800'000'000'000;
  auto att = *MakeAttestation(f.holder, f.plan, c1, now, {{0, &a}});
  EXPECT_TRUE(VerifyAttestation(att, f.holder.node_id(), f.plan, c1, now).ok());
  EXPECT_EQ(VerifyAttestation(att, f.holder.node_id(), f.plan, c2, now).error().code,
            core::ErrorCode::kPermissionDenied);
  EXPECT_FALSE(VerifyAttestation(att, f.owner.node_id(), f.plan, c1, now).ok());
  EXPECT_FALSE(VerifyAttestation(att, f.holder.node_id(), f.plan, c1, now + 3600 * 1000).ok());
  auto tampered = att;
  tampered.timestamp_ms += 1;
  EXPECT_EQ(VerifyAttestation(tampered, f.holder.node_id(), f.plan, c1, now).error().code,
            core::ErrorCode::kCorrupt);
  // Another node's key presented for this holder's id.
  auto swapped = att;
  swapped.holder_key = f.owner.public_key();
  EXPECT_EQ(VerifyAttestation(swapped, f.holder.node_id(), f.plan, c1, now).error().code,
            core::ErrorCode::kPermissionDenied);
  // Junk encodings never crash.
  auto bytes = EncodeAttestation(att);
  for (std::size_t n = 0; n < bytes.size(); n += 7) {
    EXPECT_FALSE(DecodeAttestation(std::span(bytes.data(), n)).ok());
  }
}

}  // namespace
}  // namespace tesseras::replication
