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

}  // namespace
}  // namespace tesseras::replication
