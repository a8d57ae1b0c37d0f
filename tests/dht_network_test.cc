// A 30-node network on 127.0.N.1: bootstrap, exact lookups against a brute
// force, and a departed node dropped while healthy ones are kept.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <random>

#include "dht/node.h"
#include "dht/test_network.h"

namespace tesseras::dht {
namespace {

using core::Result;
using testing::TestConfig;
using testing::TestNetwork;

std::vector<core::NodeId> TrueClosest(const std::vector<std::shared_ptr<Node>>& nodes,
                                      const core::NodeId& target, const core::NodeId& exclude,
                                      std::size_t k) {
  std::vector<core::NodeId> ids;
  for (const auto& n : nodes) {
    if (n->id() != exclude) ids.push_back(n->id());
  }
  std::sort(ids.begin(), ids.end(), [&](const core::NodeId& a, const core::NodeId& b) {
    return core::XorDistance(target, a) < core::XorDistance(target, b);
  });
  ids.resize(std::min(k, ids.size()));
  return ids;
}

void BootstrapAll(TestNetwork& net) {
  auto seed = net.AddressOf(net.nodes()[0]);
  std::vector<std::future<Result<void>>> boots;
  for (std::size_t i = 1; i < net.nodes().size(); ++i) {
    auto n = net.nodes()[i];
    boots.push_back(net.Spawn<Result<void>>([n, seed]() { return n->Bootstrap({seed}); }));
  }
  for (auto& b : boots) {
    auto r = b.get();
    ASSERT_TRUE(r.ok()) << r.error().ToString();
  }
}

TEST(DhtNetworkTest, ThirtyNodesBootstrapAndLookupsAreExact) {
  TestNetwork net;
  for (int i = 0; i < 30; ++i) ASSERT_TRUE(net.Add());
  BootstrapAll(net);
  for (const auto& n : net.nodes()) {
    EXPECT_GE(net.Sync([n] { return n->routing().size(); }), 10u);
  }
  std::mt19937_64 rng(99);
  const std::size_t k = 20;
  for (int round = 0; round < 12; ++round) {
    auto querier = net.nodes()[rng() % net.nodes().size()];
    core::NodeId target;
    if (round % 3 == 0) {
      target = net.nodes()[rng() % net.nodes().size()]->id();
    } else {
      for (auto& b : target.bytes) b = static_cast<uint8_t>(rng());
    }
    auto found = net.Await<Result<std::vector<Contact>>>(
        [querier, target]() { return querier->Lookup(target); });
    ASSERT_TRUE(found.ok()) << found.error().ToString();
    std::vector<core::NodeId> got;
    for (const auto& c : *found) got.push_back(c.id);
    EXPECT_EQ(got, TrueClosest(net.nodes(), target, querier->id(), k)) << "round " << round;
  }
  // Lookups stay cheap: alpha-limited, converging.
  uint64_t lookups = 0, rpcs = 0;
  for (const auto& n : net.nodes()) {
    lookups += net.Sync([n] { return n->stats().lookups; });
    rpcs += net.Sync([n] { return n->stats().lookup_rpcs; });
  }
  EXPECT_GT(lookups, 0u);
  EXPECT_LT(rpcs / lookups, 30u);
}

TEST(DhtNetworkTest, DepartedNodeDroppedHealthyKept) {
  auto cfg = TestConfig();
  cfg.ping_interval = Millis(150);
  cfg.routing.max_failures = 2;
  TestNetwork net;
  for (int i = 0; i < 8; ++i) ASSERT_TRUE(net.Add(cfg));
  BootstrapAll(net);
  auto watcher = net.nodes()[0];
  auto departed = net.nodes()[5];
  auto healthy = net.nodes()[3];
  auto gone = departed->id();
  auto alive = healthy->id();
  ASSERT_TRUE(net.Sync([&] { return watcher->routing().Contains(gone); }));
  ASSERT_TRUE(net.Sync([&] { return watcher->routing().Contains(alive); }));
  net.Sync([&] { departed->Stop(); });
  EXPECT_TRUE(net.WaitUntil([&] { return !watcher->routing().Contains(gone); }, Millis(10000)));
  // Several liveness rounds have passed: the healthy node answered them all.
  EXPECT_TRUE(net.Sync([&] { return watcher->routing().Contains(alive); }));
  for (std::size_t i = 0; i < net.nodes().size(); ++i) {
    if (i == 5) continue;
    auto n = net.nodes()[i];
    EXPECT_TRUE(net.WaitUntil([&] { return !n->routing().Contains(gone); }, Millis(10000))) << i;
  }
  // Lookups no longer return it.
  auto found =
      net.Await<Result<std::vector<Contact>>>([watcher, gone]() { return watcher->Lookup(gone); });
  ASSERT_TRUE(found.ok());
  for (const auto& c : *found) EXPECT_NE(c.id, gone);
}

// A lookup for more than k nodes (docs/PROTOCOL.md section 7): with 60 nodes
// on 60 /24s, asking for 152 returns every other node (59), exactly the
// brute-force order, and asking for 40 returns the 40 closest.
TEST(DhtNetworkTest, LookupForMoreThanKReturnsEveryReachableNode) {
  TestNetwork net;
  for (int i = 0; i < 60; ++i) ASSERT_TRUE(net.Add());
  BootstrapAll(net);
  std::mt19937_64 rng(152);
  for (int round = 0; round < 3; ++round) {
    auto querier = net.nodes()[rng() % net.nodes().size()];
    core::NodeId target;
    for (auto& b : target.bytes) b = static_cast<uint8_t>(rng());
    uint64_t rpcs_before = net.Sync([querier] { return querier->stats().lookup_rpcs; });
    auto found = net.Await<Result<std::vector<Contact>>>(
        [querier, target]() { return querier->Lookup(target, 152); });
    ASSERT_TRUE(found.ok()) << found.error().ToString();
    std::vector<core::NodeId> got;
    for (const auto& c : *found) got.push_back(c.id);
    EXPECT_EQ(got.size(), 59u) << "round " << round;
    EXPECT_EQ(got, TrueClosest(net.nodes(), target, querier->id(), 152)) << "round " << round;
    uint64_t rpcs = net.Sync([querier] { return querier->stats().lookup_rpcs; }) - rpcs_before;
    std::printf("lookup for 152 of 60 nodes: %zu returned, %llu requests\n", got.size(),
                static_cast<unsigned long long>(rpcs));
    auto forty = net.Await<Result<std::vector<Contact>>>(
        [querier, target]() { return querier->Lookup(target, 40); });
    ASSERT_TRUE(forty.ok());
    std::vector<core::NodeId> got40;
    for (const auto& c : *forty) got40.push_back(c.id);
    EXPECT_EQ(got40, TrueClosest(net.nodes(), target, querier->id(), 40)) << "round " << round;
  }
}

}  // namespace
}  // namespace tesseras::dht
