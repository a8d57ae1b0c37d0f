#include "replication/attestation.h"

#include <gtest/gtest.h>

#include <random>

#include "crypto/blake3_hasher.h"
#include "replication/fragment_codec.h"
#include "replication/proof_tree.h"
#include "replication/testing/memory_ports.h"

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
  auto att = MakeAttestation(f.holder, f.plan, challenge, {}, now, {{3, &a, {}}, {20, &b, {}}},
                             kDefaultAuditSamples, &local);
  ASSERT_TRUE(att.ok()) << att.error().ToString();
  ASSERT_EQ(local.size(), 2u);
  EXPECT_TRUE(local[0].checksum_ok && local[1].checksum_ok);
  // Through the wire encoding.
  auto decoded = DecodeAttestation(EncodeAttestation(*att));
  ASSERT_TRUE(decoded.ok()) << decoded.error().ToString();
  auto check = VerifyAttestation(*decoded, f.holder.node_id(), f.plan, challenge, {}, now + 1000);
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
  auto check = VerifyAttestation(forged, f.holder.node_id(), f.plan, challenge, {}, now);
  ASSERT_TRUE(check.ok());
  EXPECT_TRUE(check->proven.empty());
  ASSERT_EQ(check->failed.size(), 1u);
  EXPECT_EQ(check->failed[0].first, 5u);

  // And an honest holder whose fragment rotted reports it locally and attests nothing.
  std::vector<LocalCheck> local;
  auto att = MakeAttestation(f.holder, f.plan, challenge, {}, now, {{5, &z, {}}}, 2, &local);
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
  auto att = *MakeAttestation(f.holder, f.plan, c1, {}, now, {{0, &a, {}}});
  EXPECT_TRUE(VerifyAttestation(att, f.holder.node_id(), f.plan, c1, {}, now).ok());
  EXPECT_EQ(VerifyAttestation(att, f.holder.node_id(), f.plan, c2, {}, now).error().code,
            core::ErrorCode::kPermissionDenied);
  EXPECT_FALSE(VerifyAttestation(att, f.owner.node_id(), f.plan, c1, {}, now).ok());
  EXPECT_FALSE(VerifyAttestation(att, f.holder.node_id(), f.plan, c1, {}, now + 3600 * 1000).ok());
  auto tampered = att;
  tampered.timestamp_ms += 1;
  EXPECT_EQ(VerifyAttestation(tampered, f.holder.node_id(), f.plan, c1, {}, now).error().code,
            core::ErrorCode::kCorrupt);
  // Another node's key presented for this holder's id.
  auto swapped = att;
  swapped.holder_key = f.owner.public_key();
  EXPECT_EQ(VerifyAttestation(swapped, f.holder.node_id(), f.plan, c1, {}, now).error().code,
            core::ErrorCode::kPermissionDenied);
  // Junk encodings never crash.
  auto bytes = EncodeAttestation(att);
  for (std::size_t n = 0; n < bytes.size(); n += 7) {
    EXPECT_FALSE(DecodeAttestation(std::span(bytes.data(), n)).ok());
  }
}

// The requested indices are signed: a holder proves only what was asked, the
// requester counts nothing else, and an answer signed for another subset fails.
TEST(AttestationTest, RequestedSubsetIsSignedAndEnforced) {
  Fixture f(5 * core::kMiB);  // medium: 24 fragments
  std::vector<core::MemorySource> sources;
  for (auto& bytes : f.fragments) sources.emplace_back(bytes);
  std::vector<HeldFragment> all;
  for (uint32_t i = 0; i < sources.size(); ++i) all.push_back({i, &sources[i], {}});
  auto challenge = FreshChallenge();
  const int64_t now = 1'800'000'000'000;
  const std::vector<uint32_t> asked{20, 3, 7};
  auto att = MakeAttestation(f.holder, f.plan, challenge, asked, now, all);
  ASSERT_TRUE(att.ok()) << att.error().ToString();
  ASSERT_EQ(att->proofs.size(), 3u);
  EXPECT_EQ(att->requested, asked);
  auto decoded = DecodeAttestation(EncodeAttestation(*att));
  ASSERT_TRUE(decoded.ok()) << decoded.error().ToString();
  EXPECT_EQ(decoded->requested, asked);
  auto check = VerifyAttestation(*decoded, f.holder.node_id(), f.plan, challenge, asked, now);
  ASSERT_TRUE(check.ok()) << check.error().ToString();
  EXPECT_EQ(check->proven, (std::vector<uint32_t>{3, 7, 20}));
  EXPECT_TRUE(check->failed.empty());
  // Checked against another request: refused before any proof counts.
  EXPECT_EQ(
      VerifyAttestation(*att, f.holder.node_id(), f.plan, challenge, {3, 7}, now).error().code,
      core::ErrorCode::kPermissionDenied);
  EXPECT_EQ(VerifyAttestation(*att, f.holder.node_id(), f.plan, challenge, {}, now).error().code,
            core::ErrorCode::kPermissionDenied);
  // The transport puts in what the requester asked; a holder that signed for
  // another subset fails the signature.
  auto other = *MakeAttestation(f.holder, f.plan, challenge, {3, 7}, now, all);
  other.requested = asked;
  EXPECT_EQ(
      VerifyAttestation(other, f.holder.node_id(), f.plan, challenge, asked, now).error().code,
      core::ErrorCode::kCorrupt);

  // A holder that adds proofs nobody asked for, or proves one index twice,
  // gets no credit for them (signed honestly by its own key).
  auto extra = *MakeAttestation(f.holder, f.plan, challenge, {}, now, {all[3], all[4], all[3]});
  ASSERT_EQ(extra.proofs.size(), 3u);
  extra.requested = {3};
  auto sig = f.holder.Sign(AttestationSignedBytes(extra));
  extra.signature.assign(sig.begin(), sig.end());
  auto strict = VerifyAttestation(extra, f.holder.node_id(), f.plan, challenge, {3}, now);
  ASSERT_TRUE(strict.ok()) << strict.error().ToString();
  EXPECT_EQ(strict->proven, std::vector<uint32_t>{3});
  ASSERT_EQ(strict->failed.size(), 2u);
  EXPECT_EQ(strict->failed[0].first, 4u);
  EXPECT_EQ(strict->failed[0].second, "not requested");
  EXPECT_EQ(strict->failed[1].first, 3u);

  // Junk encodings of the subset layout never crash either.
  auto bytes = EncodeAttestation(*att);
  for (std::size_t n = 0; n < bytes.size(); n += 7) {
    EXPECT_FALSE(DecodeAttestation(std::span(bytes.data(), n)).ok());
  }
}

// One answer never exceeds one message: the holder stops at AttestBatchSize
// proofs (the lowest indices first), whatever it was asked.
TEST(AttestationTest, AnAnswerStopsAtOneBatch) {
  Fixture f(5 * core::kMiB);  // 24 fragments; with 3 samples a batch is 20
  constexpr int kSamples = 3;
  ASSERT_EQ(AttestBatchSize(kSamples), 20u);
  std::vector<core::MemorySource> sources;
  for (auto& bytes : f.fragments) sources.emplace_back(bytes);
  std::vector<HeldFragment> all;
  for (uint32_t i = 0; i < sources.size(); ++i) all.push_back({i, &sources[i], {}});
  auto challenge = FreshChallenge();
  const int64_t now = 1'800'000'000'000;
  auto att = MakeAttestation(f.holder, f.plan, challenge, {}, now, all, kSamples);
  ASSERT_TRUE(att.ok()) << att.error().ToString();
  ASSERT_EQ(att->proofs.size(), 20u);
  for (uint32_t i = 0; i < 20; ++i) EXPECT_EQ(att->proofs[i].index, i);
  EXPECT_LE(AttestationWireBound(*att), core::kMaxMessageBytes);
  for (const auto& p : att->proofs) EXPECT_LE(p.response.size(), MaxProofResponseBytes(kSamples));
  auto check =
      VerifyAttestation(*att, f.holder.node_id(), f.plan, challenge, {}, now, 60'000, kSamples);
  ASSERT_TRUE(check.ok());
  EXPECT_EQ(check->proven.size(), 20u);
  // The rest, asked for by index, come in the next answer.
  std::vector<uint32_t> rest{20, 21, 22, 23};
  auto next = MakeAttestation(f.holder, f.plan, challenge, rest, now, all, kSamples);
  ASSERT_TRUE(next.ok());
  ASSERT_EQ(next->proofs.size(), 4u);
  EXPECT_EQ(next->proofs[0].index, 20u);
}

// The per-proof bound is exact for the worst case: full leaves and the
// deepest path a 64 MiB fragment can have.
TEST(AttestationTest, ProofSizeBoundIsTheWorstCase) {
  for (int s = 1; s <= static_cast<int>(kMaxAuditSamples); ++s) {
    std::vector<LeafSample> samples(static_cast<std::size_t>(s));
    for (auto& x : samples) {
      x.leaf_index = ProofLeafCount(kMaxFragmentBytes) - 1;
      x.leaf.assign(core::kProofLeafBytes, 0xa5);
      x.path.resize(kMaxProofPathLevels);
    }
    EXPECT_EQ(EncodeSamples(samples).size(), MaxProofResponseBytes(s)) << s;
    EXPECT_GE(AttestBatchSize(s), 1u);
    EXPECT_LE(kAttestFixedBytes + AttestBatchSize(s) * MaxProofWireBytes(s),
              core::kMaxMessageBytes);
  }
  EXPECT_EQ(ProofLeafCount(kMaxFragmentBytes), 4096u);
  EXPECT_EQ(MerklePath(std::vector<core::ContentHash>(4096), 4095).size(), kMaxProofPathLevels);
}

// ---- What an answer reads ------------------------------------------------------

// Counts the bytes read through it.
class CountingSource final : public core::RandomAccessSource {
 public:
  explicit CountingSource(core::RandomAccessSource& inner) : inner_(inner) {}
  uint64_t Size() const override { return inner_.Size(); }
  core::Result<void> ReadAt(uint64_t offset, std::span<uint8_t> out) override {
    bytes_read_ += out.size();
    return inner_.ReadAt(offset, out);
  }
  uint64_t bytes_read() const { return bytes_read_; }

 private:
  core::RandomAccessSource& inner_;
  uint64_t bytes_read_ = 0;
};

// A plan whose fragment 0 is `bytes` (a tessera of `payload_size` bytes; the
// other fragments' checksums and roots are placeholders: only 0 is held).
struct OneFragment {
  crypto::Identity owner = *crypto::Identity::Generate(0);
  crypto::Identity holder = *crypto::Identity::Generate(0);
  std::vector<uint8_t> bytes;
  SignedPlan plan;

  explicit OneFragment(uint64_t payload_size) {
    core::FragmentTable table;
    table.tessera.bytes.fill(0x5c);
    table.plan = *core::PlanForSize(payload_size);
    bytes.resize(table.plan.shard_size);
    std::mt19937_64 rng(payload_size);
    for (auto& b : bytes) b = static_cast<uint8_t>(rng());
    table.checksums.assign(table.plan.total_shards(), core::ContentHash{});
    table.proof_roots.assign(table.plan.total_shards(), core::ContentHash{});
    table.checksums[0] = crypto::Blake3(bytes);
    ProofTreeBuilder tree;
    tree.Update(bytes);
    table.proof_roots[0] = MerkleRoot(tree.FinishLeaves());
    plan = SignedPlan::Sign(table, owner);
  }
};

// An answer from the stored tree reads the sampled leaves and nothing else,
// whatever the fragment's size; without the tree it reads the fragment whole.
TEST(AttestationTest, FromTheStoredTreeAnAnswerReadsOnlyTheSampledLeaves) {
  for (uint64_t payload : {uint64_t{64} << 10, (uint64_t{256} << 20) - 1}) {
    OneFragment f(payload);
    SCOPED_TRACE("fragment of " + std::to_string(f.bytes.size()) + " bytes");
    testing::MemoryFragmentStore store;
    core::MemorySource in(f.bytes);
    ASSERT_TRUE(
        store.Store(f.plan.table.IdOf(0), f.bytes.size(), in, f.holder.node_id(), false).ok());
    auto opened = store.Open(f.plan.table.tessera, 0);
    ASSERT_TRUE(opened.ok());
    const auto& tessera = f.plan.table.tessera;
    ProofPathReader reader = [&](std::span<const uint64_t> leaves) {
      return store.ReadProofPaths(tessera, 0, leaves);
    };
    const auto challenge = FreshChallenge();
    const int64_t now = 1'800'000'000'000;

    CountingSource sampled(**opened);
    std::vector<LocalCheck> local;
    auto att = MakeAttestation(f.holder, f.plan, challenge, {0}, now, {{0, &sampled, reader}},
                               kDefaultAuditSamples, &local);
    ASSERT_TRUE(att.ok()) << att.error().ToString();
    ASSERT_EQ(local.size(), 1u);
    EXPECT_TRUE(local[0].checksum_ok);
    auto check = VerifyAttestation(*att, f.holder.node_id(), f.plan, challenge, {0}, now);
    ASSERT_TRUE(check.ok()) << check.error().ToString();
    EXPECT_EQ(check->proven, std::vector<uint32_t>{0});
    EXPECT_LE(sampled.bytes_read(), kDefaultAuditSamples * uint64_t{core::kProofLeafBytes});
    EXPECT_GT(sampled.bytes_read(), 0u);
    EXPECT_EQ(store.proof_path_reads(), 1u);

    // The baseline, in the same run: no stored tree, the whole fragment is read.
    CountingSource whole(**opened);
    auto read_all = MakeAttestation(f.holder, f.plan, challenge, {0}, now, {{0, &whole, {}}});
    ASSERT_TRUE(read_all.ok());
    EXPECT_EQ(read_all->proofs[0].response, att->proofs[0].response);  // the same proof
    EXPECT_EQ(whole.bytes_read(), f.bytes.size() + sampled.bytes_read());
  }
}

// A stored tree that does not lead to the plan's root (damaged) is never sent:
// the holder reads the fragment whole and answers from what it computed.
TEST(AttestationTest, AStoredTreeThatDoesNotLeadToTheRootIsNotUsed) {
  OneFragment f(8 * core::kMiB);  // Medium: 512 KiB fragments, 32 leaves
  core::MemorySource src(f.bytes);
  CountingSource counted(src);
  const uint64_t depth = 5;
  ProofPathReader wrong = [&](std::span<const uint64_t> leaves) {
    return core::Result<std::vector<std::vector<core::ContentHash>>>(
        std::vector<std::vector<core::ContentHash>>(leaves.size(),
                                                    std::vector<core::ContentHash>(depth)));
  };
  const auto challenge = FreshChallenge();
  const int64_t now = 1'800'000'000'000;
  auto att = MakeAttestation(f.holder, f.plan, challenge, {}, now, {{0, &counted, wrong}});
  ASSERT_TRUE(att.ok()) << att.error().ToString();
  auto check = VerifyAttestation(*att, f.holder.node_id(), f.plan, challenge, {}, now);
  ASSERT_TRUE(check.ok());
  EXPECT_EQ(check->proven, std::vector<uint32_t>{0});
  EXPECT_GE(counted.bytes_read(), f.bytes.size());  // it fell back to a whole read
}

// Damage in a sampled leaf is caught from the stored tree (the path no longer
// leads to the root) and confirmed by the whole read: not attested.
TEST(AttestationTest, ADamagedSampledLeafIsNotAttested) {
  OneFragment f(8 * core::kMiB);
  testing::MemoryFragmentStore store;
  core::MemorySource in(f.bytes);
  const auto& tessera = f.plan.table.tessera;
  ASSERT_TRUE(
      store.Store(f.plan.table.IdOf(0), f.bytes.size(), in, f.holder.node_id(), false).ok());
  const auto challenge = FreshChallenge();
  const uint64_t leaf = SampleLeaves(challenge, f.holder.node_id(), tessera, 0,
                                     ProofLeafCount(f.bytes.size()), kDefaultAuditSamples)[0];
  store.FlipByte(tessera, 0, leaf * core::kProofLeafBytes + 7);
  auto opened = store.Open(tessera, 0);
  ASSERT_TRUE(opened.ok());
  ProofPathReader reader = [&](std::span<const uint64_t> leaves) {
    return store.ReadProofPaths(tessera, 0, leaves);
  };
  std::vector<LocalCheck> local;
  const int64_t now = 1'800'000'000'000;
  auto att = MakeAttestation(f.holder, f.plan, challenge, {}, now, {{0, opened->get(), reader}},
                             kDefaultAuditSamples, &local);
  ASSERT_TRUE(att.ok());
  EXPECT_TRUE(att->proofs.empty());
  ASSERT_EQ(local.size(), 1u);
  EXPECT_FALSE(local[0].checksum_ok);
}

}  // namespace
}  // namespace tesseras::replication
