#include "dht/lookup_policy.h"

#include <gtest/gtest.h>

#include <random>

namespace tesseras::dht {
namespace {

Contact At(const core::NodeId& id, const std::string& ip) {
  Contact c;
  c.id = id;
  c.endpoint = net::tcp::endpoint(net::asio::ip::make_address(ip), 7700);
  return c;
}

// An id whose distance to `target` has `lz` leading zero bits, then `tail`.
core::NodeId Near(const core::NodeId& target, int lz, uint8_t tail) {
  core::NodeId d{};
  d.bytes[static_cast<std::size_t>(lz / 8)] = static_cast<uint8_t>(0x80u >> (lz % 8));
  d.bytes[31] ^= tail;
  return core::XorDistance(target, d);
}

class FrontierTest : public ::testing::Test {
 protected:
  core::NodeId target_{};
};

// Ids ground near the key on one /24 take at most max_per_subnet places in
// the frontier, so honest nodes farther away are still asked and returned.
TEST_F(FrontierTest, OneSubnetTakesAtMostItsShare) {
  LookupFrontier f(target_, 4, LookupLimits{2, 8});
  for (int i = 0; i < 10; ++i)
    f.Add(At(Near(target_, 200, uint8_t(i)), "10.9.9." + std::to_string(i + 1)), std::nullopt);
  for (int i = 0; i < 4; ++i)
    f.Add(At(Near(target_, 10 + i, 0), "10." + std::to_string(i) + ".0.1"), std::nullopt);
  auto asked = f.Next(16);
  ASSERT_EQ(asked.size(), 4u);  // the frontier holds n = 4
  int clustered = 0;
  for (const auto& c : asked)
    clustered += c.endpoint.address().to_string().rfind("10.9.9.", 0) == 0;
  EXPECT_EQ(clustered, 2);
  for (const auto& c : asked) f.Answered(c.id);
  EXPECT_TRUE(f.Done());
  auto result = f.Result(4);
  ASSERT_EQ(result.size(), 4u);
  EXPECT_EQ(result[0].endpoint.address().to_string().substr(0, 7), "10.9.9.");
  EXPECT_EQ(result[1].endpoint.address().to_string().substr(0, 7), "10.9.9.");
  EXPECT_EQ(result[2].endpoint.address().to_string(), "10.3.0.1");  // closest honest next
}

// One responder cannot fill the frontier with contacts that never answer:
// at most max_unverified_per_source of its unanswered contacts count.
TEST_F(FrontierTest, OneSourceVouchesForAFewUnansweredPlaces) {
  LookupFrontier f(target_, 6, LookupLimits{2, 2});
  auto liar = net::SubnetOf(net::asio::ip::make_address("192.0.2.1"));
  for (int i = 0; i < 6; ++i) {
    f.Add(At(Near(target_, 100 + i, 0), "198.51." + std::to_string(i) + ".1"), liar);
  }
  for (int i = 0; i < 4; ++i) {
    f.Add(At(Near(target_, 20 + i, 0), "203.0." + std::to_string(i) + ".1"), std::nullopt);
  }
  auto asked = f.Next(16);
  ASSERT_EQ(asked.size(), 6u);
  int from_liar = 0;
  for (const auto& c : asked)
    from_liar += c.endpoint.address().to_string().rfind("198.51.", 0) == 0;
  EXPECT_EQ(from_liar, 2);
  // They fail: the source has spent its share, its other contacts stay out.
  for (const auto& c : asked) {
    if (c.endpoint.address().to_string().rfind("198.51.", 0) == 0) {
      f.Failed(c.id);
    } else {
      f.Answered(c.id);
    }
  }
  EXPECT_TRUE(f.Next(16).empty());
  EXPECT_TRUE(f.Done());
  EXPECT_EQ(f.Result(6).size(), 4u);
}

// A source whose contacts answer earns more places.
TEST_F(FrontierTest, AnsweredContactsNoLongerCountAgainstTheirSource) {
  LookupFrontier f(target_, 6, LookupLimits{2, 2});
  auto friendly = net::SubnetOf(net::asio::ip::make_address("192.0.2.1"));
  for (int i = 0; i < 6; ++i) {
    f.Add(At(Near(target_, 100 + i, 0), "198.51." + std::to_string(i) + ".1"), friendly);
  }
  std::size_t asked = 0;
  for (int round = 0; round < 4; ++round) {
    auto next = f.Next(16);
    EXPECT_LE(next.size(), 2u);
    asked += next.size();
    for (const auto& c : next) f.Answered(c.id);
  }
  EXPECT_EQ(asked, 6u);
  EXPECT_TRUE(f.Done());
}

TEST_F(FrontierTest, BoundedCandidateSet) {
  LookupFrontier f(target_, 2, LookupLimits{});
  std::mt19937_64 rng(3);
  std::size_t added = 0;
  for (int i = 0; i < 100; ++i) {
    core::NodeId id;
    for (auto& b : id.bytes) b = static_cast<uint8_t>(rng());
    added += f.Add(At(id, "203.0." + std::to_string(i) + ".1"), std::nullopt);
  }
  EXPECT_LE(f.size(), kMaxCandidatesPerResult * 2);
  EXPECT_GE(added, kMaxCandidatesPerResult * 2);
  EXPECT_TRUE(f.Add(At(core::NodeId{}, "203.0.200.1"), std::nullopt));   // closest: replaces
  EXPECT_FALSE(f.Add(At(core::NodeId{}, "203.0.200.1"), std::nullopt));  // known already
  EXPECT_LE(f.size(), kMaxCandidatesPerResult * 2);
}

TEST(SubtreeTest, FlipAndPrefix) {
  core::NodeId a{};
  EXPECT_EQ(CommonPrefixBits(a, a), 256);
  auto b = FlipBit(a, 0);
  EXPECT_EQ(b.bytes[0], 0x80);
  EXPECT_EQ(CommonPrefixBits(a, b), 0);
  auto c = FlipBit(a, 13);
  EXPECT_EQ(CommonPrefixBits(a, c), 13);
  EXPECT_EQ(FlipBit(c, 13), a);
}

}  // namespace
}  // namespace tesseras::dht
