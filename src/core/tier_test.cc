#include "core/tier.h"

#include <gtest/gtest.h>

namespace tesseras::core {
namespace {

TEST(TierTest, Boundaries) {
  struct Case {
    uint64_t size;
    Tier tier;
    uint32_t data, parity;
  } cases[] = {
      {0, Tier::kSmall, 1, 0},
      {1, Tier::kSmall, 1, 0},
      {4 * kMiB - 1, Tier::kSmall, 1, 0},
      {4 * kMiB, Tier::kMedium, 16, 8},
      {256 * kMiB - 1, Tier::kMedium, 16, 8},
      {256 * kMiB, Tier::kLarge, 48, 24},
      {kGiB, Tier::kLarge, 48, 24},
  };
  for (const auto& c : cases) {
    auto plan = PlanForSize(c.size);
    ASSERT_TRUE(plan.ok()) << c.size;
    EXPECT_EQ(plan->tier, c.tier) << c.size;
    EXPECT_EQ(plan->data_shards, c.data) << c.size;
    EXPECT_EQ(plan->parity_shards, c.parity) << c.size;
    EXPECT_EQ(plan->replication_factor, 7u);
    EXPECT_EQ(plan->shard_size, (c.size + c.data - 1) / c.data) << c.size;
    EXPECT_TRUE(ValidatePlan(*plan).ok());
  }
  EXPECT_EQ(4 * kMiB, 4'194'304u);
  EXPECT_EQ(256 * kMiB, 268'435'456u);
  EXPECT_EQ(kGiB, 1'073'741'824u);
}

TEST(TierTest, OverOneGibIsRefusedNamingBothSizes) {
  auto plan = PlanForSize(kGiB + 1);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.error().code, ErrorCode::kTesseraTooBig);
  EXPECT_NE(plan.error().message.find("1073741825"), std::string::npos);
  EXPECT_NE(plan.error().message.find("1073741824"), std::string::npos);
}

TEST(TierTest, ShardSizeRoundsUp) {
  auto plan = PlanForSize(4 * kMiB + 1);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->shard_size, 4 * kMiB / 16 + 1);
  EXPECT_EQ(plan->total_shards(), 24u);
}

TEST(TierTest, ValidateRejectsInconsistentPlans) {
  auto plan = *PlanForSize(10 * kMiB);
  plan.shard_size += 1;
  EXPECT_FALSE(ValidatePlan(plan).ok());
  plan = *PlanForSize(10 * kMiB);
  plan.tier = Tier::kLarge;
  EXPECT_FALSE(ValidatePlan(plan).ok());
  plan = *PlanForSize(10 * kMiB);
  plan.parity_shards = 2;
  EXPECT_FALSE(ValidatePlan(plan).ok());
}

TEST(TierTest, MakePlanRejectsBadCodes) {
  EXPECT_FALSE(MakePlan(Tier::kMedium, 100, 0, 2).ok());
  EXPECT_FALSE(MakePlan(Tier::kMedium, 100, 200, 56).ok());
  EXPECT_FALSE(MakePlan(Tier::kSmall, 100, 2, 1).ok());
  EXPECT_TRUE(MakePlan(Tier::kMedium, 100, 4, 2).ok());
}

TEST(TierTest, Names) {
  EXPECT_EQ(TierName(Tier::kLarge), "large");
  EXPECT_EQ(*TierFromName("medium"), Tier::kMedium);
  EXPECT_FALSE(TierFromName("huge").ok());
}

}  // namespace
}  // namespace tesseras::core
