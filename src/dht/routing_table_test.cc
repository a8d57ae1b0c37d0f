#include "dht/routing_table.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

namespace tesseras::dht {
namespace {

using Outcome = RoutingTable::Outcome;

core::NodeId RandomId(std::mt19937_64& rng) {
  core::NodeId id;
  for (auto& b : id.bytes) b = static_cast<uint8_t>(rng());
  return id;
}

Contact MakeContact(const core::NodeId& id, const std::string& ip, uint16_t port = 4000) {
  Contact c;
  c.id = id;
  c.endpoint = net::tcp::endpoint(net::asio::ip::make_address(ip), port);
  return c;
}

class RoutingTableTest : public ::testing::Test {
 protected:
  RoutingTableTest() : rng_(7), self_(RandomId(rng_)), table_(self_, RoutingConfig{4, 2, 3}) {}
  // A random id whose distance to self falls in `bucket`.
  core::NodeId IdIn(int bucket) { return table_.RandomIdIn(bucket, rng_); }

  std::mt19937_64 rng_;
  core::NodeId self_;
  RoutingTable table_;
  RoutingTable::TimePoint now_ = std::chrono::steady_clock::now();
};

TEST_F(RoutingTableTest, RandomIdLandsInItsBucket) {
  for (int b : {0, 1, 7, 8, 100, 255}) EXPECT_EQ(table_.BucketOf(IdIn(b)), b);
  EXPECT_EQ(table_.BucketOf(self_), 256);
}

TEST_F(RoutingTableTest, ClosestMatchesBruteForce) {
  RoutingTable big(self_, RoutingConfig{20, 2, 3});
  std::vector<Contact> all;
  for (int i = 0; i < 300; ++i) {
    auto c = MakeContact(RandomId(rng_),
                         "10." + std::to_string(i / 250) + "." + std::to_string(i % 250) + ".1");
    if (big.Update(c, now_).outcome == Outcome::kAdded) all.push_back(c);
  }
  EXPECT_EQ(big.size(), all.size());
  auto target = RandomId(rng_);
  std::sort(all.begin(), all.end(), [&](const Contact& a, const Contact& b) {
    return core::XorDistance(target, a.id) < core::XorDistance(target, b.id);
  });
  auto got = big.Closest(target, 20);
  ASSERT_EQ(got.size(), 20u);
  for (std::size_t i = 0; i < 20; ++i) EXPECT_EQ(got[i].id, all[i].id);
}

TEST_F(RoutingTableTest, SubnetCapPerBucket) {
  EXPECT_EQ(table_.Update(MakeContact(IdIn(0), "192.0.2.1"), now_).outcome, Outcome::kAdded);
  EXPECT_EQ(table_.Update(MakeContact(IdIn(0), "192.0.2.2"), now_).outcome, Outcome::kAdded);
  EXPECT_EQ(table_.Update(MakeContact(IdIn(0), "192.0.2.3"), now_).outcome, Outcome::kSubnetLimit);
  EXPECT_EQ(table_.Update(MakeContact(IdIn(0), "192.0.3.1"), now_).outcome, Outcome::kAdded);
  // Another bucket has its own allowance.
  EXPECT_EQ(table_.Update(MakeContact(IdIn(1), "192.0.2.3"), now_).outcome, Outcome::kAdded);
  // IPv6: /48.
  EXPECT_EQ(table_.Update(MakeContact(IdIn(2), "2001:db8:1::1"), now_).outcome, Outcome::kAdded);
  EXPECT_EQ(table_.Update(MakeContact(IdIn(2), "2001:db8:1:ffff::2"), now_).outcome,
            Outcome::kAdded);
  EXPECT_EQ(table_.Update(MakeContact(IdIn(2), "2001:db8:1:1::3"), now_).outcome,
            Outcome::kSubnetLimit);
  EXPECT_EQ(table_.Update(MakeContact(IdIn(2), "2001:db8:2::1"), now_).outcome, Outcome::kAdded);
}

TEST_F(RoutingTableTest, FullBucketNamesLeastRecentlySeen) {
  std::vector<Contact> in;
  for (int i = 0; i < 4; ++i) {
    in.push_back(MakeContact(IdIn(0), "198.51." + std::to_string(i) + ".1"));
    ASSERT_EQ(table_.Update(in.back(), now_).outcome, Outcome::kAdded);
  }
  // Touch the first: the second becomes least recently seen.
  EXPECT_EQ(table_.Update(in[0], now_).outcome, Outcome::kUpdated);
  auto newcomer = MakeContact(IdIn(0), "203.0.113.9");
  auto r = table_.Update(newcomer, now_);
  ASSERT_EQ(r.outcome, Outcome::kBucketFull);
  ASSERT_TRUE(r.least_recent);
  EXPECT_EQ(r.least_recent->id, in[1].id);
  EXPECT_FALSE(table_.Contains(newcomer.id));
  // Its ping failed: replaced.
  EXPECT_TRUE(table_.Replace(in[1].id, newcomer, now_));
  EXPECT_TRUE(table_.Contains(newcomer.id));
  EXPECT_FALSE(table_.Contains(in[1].id));
}

TEST_F(RoutingTableTest, DroppedAfterConsecutiveFailures) {
  auto c = MakeContact(IdIn(3), "192.0.2.7");
  table_.Update(c, now_);
  EXPECT_FALSE(table_.Failed(c.id));
  EXPECT_FALSE(table_.Failed(c.id));
  table_.Update(c, now_);  // a success resets the count
  EXPECT_FALSE(table_.Failed(c.id));
  EXPECT_FALSE(table_.Failed(c.id));
  EXPECT_TRUE(table_.Failed(c.id));
  EXPECT_FALSE(table_.Contains(c.id));
}

TEST_F(RoutingTableTest, RefreshCoversBucketsBelowClosestNeighbour) {
  table_.Update(MakeContact(IdIn(5), "192.0.2.7"), now_);
  auto buckets = table_.BucketsToRefresh(now_, std::chrono::milliseconds(0));
  for (int b = 0; b <= 5; ++b) {
    EXPECT_NE(std::find(buckets.begin(), buckets.end(), b), buckets.end()) << b;
  }
  EXPECT_EQ(std::find(buckets.begin(), buckets.end(), 6), buckets.end());
}

}  // namespace
}  // namespace tesseras::dht
