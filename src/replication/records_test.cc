#include "replication/records.h"

#include <gtest/gtest.h>

#include <random>

#include "crypto/blake3_hasher.h"
#include "replication/fragment_codec.h"

namespace tesseras::replication {
namespace {

core::FragmentTable MakeTable(std::size_t size) {
  std::vector<uint8_t> payload(size);
  std::mt19937 rng(static_cast<uint32_t>(size));
  for (auto& b : payload) b = static_cast<uint8_t>(rng());
  auto plan = *core::PlanForSize(size);
  std::vector<core::NullSink> sinks(plan.total_shards());
  std::vector<core::ByteSink*> ptrs;
  for (auto& s : sinks) ptrs.push_back(&s);
  core::MemorySource src(payload);
  CodecOptions opt;
  opt.compute_proof_roots = true;
  return *EncodeTessera(crypto::Blake3(payload), plan, src, ptrs, opt);
}

TEST(RecordsTest, SignedPlanRoundTripAndVerify) {
  auto owner = *crypto::Identity::Generate(0);
  auto plan = SignedPlan::Sign(MakeTable(5 * core::kMiB), owner);
  ASSERT_TRUE(plan.Verify().ok());
  auto bytes = plan.Encode();
  auto back = SignedPlan::Decode(bytes);
  ASSERT_TRUE(back.ok()) << back.error().ToString();
  EXPECT_EQ(back->table, plan.table);
  EXPECT_TRUE(back->Verify().ok());
  EXPECT_EQ(back->owner_id(), owner.node_id());
}

TEST(RecordsTest, ForgedOrTamperedPlanIsRefused) {
  auto owner = *crypto::Identity::Generate(0);
  auto other = *crypto::Identity::Generate(0);
  auto plan = SignedPlan::Sign(MakeTable(1000), owner);
  // A checksum changed after signing.
  auto tampered = plan;
  tampered.table.checksums[0].bytes[3] ^= 1;
  EXPECT_EQ(tampered.Verify().error().code, core::ErrorCode::kCorrupt);
  // Someone else's key claimed as owner.
  auto forged = plan;
  forged.owner = other.public_key();
  EXPECT_FALSE(forged.Verify().ok());
  // A plan inconsistent with its size, even if signed.
  auto table = MakeTable(1000);
  table.plan.shard_size = 10;
  EXPECT_EQ(SignedPlan::Sign(table, owner).Verify().error().code,
            core::ErrorCode::kInvalidArgument);
  // Every truncation and a trailing byte are malformed, never a crash.
  auto bytes = plan.Encode();
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FALSE(SignedPlan::Decode(std::span(bytes.data(), n)).ok()) << n;
  }
  bytes.push_back(0);
  EXPECT_FALSE(SignedPlan::Decode(bytes).ok());
}

TEST(RecordsTest, HolderRecordRoundTripAndChecks) {
  auto owner = *crypto::Identity::Generate(0);
  auto plan = SignedPlan::Sign(MakeTable(5 * core::kMiB), owner);
  std::vector<HolderEntry> holders;
  for (uint32_t i = 0; i < 24; ++i) {
    core::NodeId id;
    id.bytes[0] = static_cast<uint8_t>(i + 1);
    holders.push_back({id, "127.0." + std::to_string(i + 1) + ".1:7700", {i}});
  }
  auto rec = HolderRecord::Sign(plan, 1234, holders, owner);
  ASSERT_TRUE(rec.Verify().ok());
  auto back = HolderRecord::Decode(rec.Encode());
  ASSERT_TRUE(back.ok()) << back.error().ToString();
  EXPECT_EQ(back->holders, holders);
  EXPECT_EQ(back->version, 1234u);
  EXPECT_TRUE(back->Verify().ok());

  // Signed by someone other than the plan's owner.
  auto mallory = *crypto::Identity::Generate(0);
  auto forged = HolderRecord::Sign(plan, 1235, holders, mallory);
  EXPECT_EQ(forged.Verify().error().code, core::ErrorCode::kCorrupt);
  // An index outside the plan.
  holders[0].indices = {24};
  EXPECT_FALSE(HolderRecord::Sign(plan, 1, holders, owner).Verify().ok());
  // Garbage.
  std::vector<uint8_t> junk(300, 0xAB);
  EXPECT_FALSE(HolderRecord::Decode(junk).ok());
}

TEST(RecordsTest, HolderClaimRoundTripAndChecks) {
  auto owner = *crypto::Identity::Generate(0);
  auto holder = *crypto::Identity::Generate(0);
  auto plan = SignedPlan::Sign(MakeTable(5 * core::kMiB), owner);
  auto claim = HolderClaim::Sign(plan, "127.0.9.1:7700", {3, 7}, 5555, holder);
  ASSERT_TRUE(claim.Verify().ok());
  EXPECT_EQ(claim.holder(), holder.node_id());
  auto bytes = claim.Encode();
  EXPECT_TRUE(LooksLikeHolderClaim(bytes));
  EXPECT_FALSE(LooksLikeHolderClaim(HolderRecord::Sign(plan, 1, {}, owner).Encode()));
  auto back = HolderClaim::Decode(bytes);
  ASSERT_TRUE(back.ok()) << back.error().ToString();
  EXPECT_TRUE(back->Verify().ok());
  EXPECT_EQ(back->indices, std::vector<uint32_t>({3, 7}));
  EXPECT_EQ(back->address, "127.0.9.1:7700");
  EXPECT_EQ(back->claimed_at_ms, 5555u);
  EXPECT_EQ(PlanDigest(back->plan), PlanDigest(plan));

  // Someone claiming for the holder: the signature is the holder's or nothing.
  auto mallory = *crypto::Identity::Generate(0);
  auto forged = claim;
  forged.signature = mallory.Sign(forged.SignedBytes());
  EXPECT_EQ(forged.Verify().error().code, core::ErrorCode::kCorrupt);
  // Indices out of the plan, or not ascending.
  EXPECT_FALSE(HolderClaim::Sign(plan, "a:1", {24}, 1, holder).Verify().ok());
  EXPECT_FALSE(HolderClaim::Sign(plan, "a:1", {7, 3}, 1, holder).Verify().ok());
  EXPECT_FALSE(HolderClaim::Sign(plan, "a:1", {3, 3}, 1, holder).Verify().ok());
  // A plan tampered with inside the claim.
  auto bad_plan = claim;
  bad_plan.plan.table.checksums[0].bytes[0] ^= 1;
  bad_plan.signature = holder.Sign(bad_plan.SignedBytes());
  EXPECT_FALSE(bad_plan.Verify().ok());
  EXPECT_TRUE(bad_plan.Verify(/*plan_verified=*/true).ok());  // the caller vouched for it
  // Every truncation and a trailing byte are malformed, never a crash.
  for (std::size_t n = 0; n < bytes.size(); n += 7) {
    EXPECT_FALSE(HolderClaim::Decode(std::span(bytes.data(), n)).ok()) << n;
  }
  bytes.push_back(0);
  EXPECT_FALSE(HolderClaim::Decode(bytes).ok());
}

// FORMAT.md §12: the largest claim (a Large plan, every index, the longest
// address) is 5,100 bytes and fits the DHT's 16 KiB record value.
TEST(RecordsTest, TheLargestClaimFitsARecord) {
  auto owner = *crypto::Identity::Generate(0);
  auto holder = *crypto::Identity::Generate(0);
  // A Large table without encoding 300 MiB: sizes do not depend on the hashes.
  core::FragmentTable table;
  table.plan = *core::PlanForSize(300 * core::kMiB);
  table.checksums.resize(72);
  table.proof_roots.resize(72);
  auto plan = SignedPlan::Sign(table, owner);
  ASSERT_TRUE(plan.Verify().ok());
  EXPECT_EQ(plan.Encode().size(), 165u + 64 * 72);
  std::vector<uint32_t> all(72);
  for (uint32_t i = 0; i < 72; ++i) all[i] = i;
  auto claim = HolderClaim::Sign(plan, std::string(kMaxAddressBytes, '1'), all, 1, holder);
  EXPECT_EQ(claim.Encode().size(), 5100u);
  EXPECT_LE(claim.Encode().size(), 16u * 1024);
}

}  // namespace
}  // namespace tesseras::replication
