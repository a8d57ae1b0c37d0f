// The dashboard's pure JSON helpers: subnet labels, health summaries, spread.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "daemon/replicated_node.h"

namespace tesseras::daemon {
namespace {

replication::HolderHealth Holder(std::string addr, std::vector<uint32_t> indices,
                                 std::vector<uint32_t> proven) {
  replication::HolderHealth h;
  h.entry.address = std::move(addr);
  h.entry.indices = std::move(indices);
  h.proven = std::move(proven);
  h.answered = !h.proven.empty();
  h.reachable = h.answered;
  return h;
}

TEST(DashboardOpsTest, SubnetLabelsAsPeopleWriteThem) {
  EXPECT_EQ(SubnetLabel("127.0.101.1:7700"), "127.0.101.0/24");
  EXPECT_EQ(SubnetLabel("192.0.2.200:1"), "192.0.2.0/24");
  EXPECT_EQ(SubnetLabel("[2001:db8:1:2::5]:7700"), "2001:db8:1::/48");
  EXPECT_EQ(SubnetLabel("[::1]:7700"), "0:0:0::/48");
  EXPECT_EQ(SubnetLabel("not an address"), "not an address");
}

// The summary carries the policy's margin (HealthReport::margin), not one of
// its own, and counts the holders that proved something in this check.
TEST(DashboardOpsTest, SummaryCarriesThePolicysMarginAndTheProvenHolders) {
  replication::HealthReport h;
  h.plan = *core::PlanForSize(5 * core::kMiB);  // 16 + 8
  h.state = replication::HealthState::kDegraded;
  h.fragments_verified = 18;
  h.margin = 5;  // e.g. 21 counted (3 on suspect holders) − 16
  h.holders = {Holder("127.0.1.1:7700", {0, 1, 2}, {0, 1, 2}),
               Holder("127.0.2.1:7700", {3, 4}, {})};
  Json j = HealthSummaryJson(h, 1234);
  EXPECT_EQ(j.at("state"), "degraded");
  EXPECT_EQ(j.at("margin"), 5);
  EXPECT_EQ(j.at("holders_proven"), 1);
  EXPECT_EQ(j.at("fragments_total"), 24);
  EXPECT_EQ(j.at("checked_at"), 1234);
  h.margin = -1;
  EXPECT_EQ(HealthSummaryJson(h, 0).at("margin"), -1);  // lost
}

TEST(DashboardOpsTest, SmallTesseraSummaryCountsHoldersAndCopies) {
  replication::HealthReport h;
  h.plan = *core::PlanForSize(1000);
  for (int i = 1; i <= 5; ++i) {
    h.holders.push_back(Holder("127.0." + std::to_string(i) + ".1:7700", {0},
                               i <= 3 ? std::vector<uint32_t>{0} : std::vector<uint32_t>{}));
  }
  h.margin = 2;
  Json j = HealthSummaryJson(h, 0);
  EXPECT_EQ(j.at("holders_proven"), 3);
  EXPECT_EQ(j.at("margin"), 2);
  EXPECT_EQ(j.at("replication_factor"), 7);
}

TEST(DashboardOpsTest, SpreadCountsHoldersAndFragmentsPerSubnetMostCrowdedFirst) {
  replication::HealthReport h;
  h.holders = {Holder("127.0.1.1:7700", {0, 1}, {}), Holder("127.0.2.1:7700", {2}, {}),
               Holder("127.0.2.2:7700", {3, 4, 5}, {})};
  Json spread = SubnetSpreadJson(h);
  ASSERT_EQ(spread.size(), 2u);
  EXPECT_EQ(spread[0], (Json{{"subnet", "127.0.2.0/24"}, {"holders", 2}, {"fragments", 4}}));
  EXPECT_EQ(spread[1], (Json{{"subnet", "127.0.1.0/24"}, {"holders", 1}, {"fragments", 2}}));
}

}  // namespace
}  // namespace tesseras::daemon
