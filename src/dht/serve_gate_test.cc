#include "dht/serve_gate.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "core/metrics.h"
#include "dht/refusals.h"

namespace tesseras::dht {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

Requester Who(uint8_t id, const char* ip) {
  Requester r;
  r.id.bytes.fill(id);
  r.ip = boost::asio::ip::make_address(ip);
  return r;
}

// A small request cannot buy a large read twice: once its read is charged,
// the requester (by id, by IP, by /24) waits debt / rate before it is served.
TEST(ReadBudgetTest, DebtBlocksTheRequesterNotOthers) {
  ServeLimits l;
  l.read_rate_per_peer = 1 << 20;  // 1 MiB/s
  l.read_burst_per_peer = 4 << 20;
  l.read_rate_per_subnet = 2 << 20;
  l.read_burst_per_subnet = 8 << 20;
  l.read_rate = 8 << 20;
  l.read_burst = 64 << 20;
  l.min_request_cost = 64 * 1024;
  ReadBudget b(l);
  auto t = Clock::now();
  auto mallory = Who(1, "203.0.113.5");
  EXPECT_FALSE(b.Admit(mallory, t));
  b.Charge(mallory, 10 << 20, t);  // the request made us read 10 MiB
  auto wait = b.Admit(mallory, t);
  ASSERT_TRUE(wait);
  EXPECT_NEAR(static_cast<double>(wait->count()), 6.0 * 1000 + 62.5,
              2.0);  // 6 MiB + 64 KiB at 1 MiB/s
  // Another id on the same IP is in the same debt; an honest peer elsewhere is not.
  EXPECT_TRUE(b.Admit(Who(2, "203.0.113.5"), t));
  EXPECT_FALSE(b.Admit(Who(3, "198.51.100.9"), t));
  // Paid back with time.
  EXPECT_FALSE(b.Admit(mallory, t + milliseconds(6100)));
}

TEST(ReadBudgetTest, GlobalBucketBoundsManyRequesters) {
  ServeLimits l;
  l.read_rate = 1 << 20;
  l.read_burst = 1 << 20;
  l.min_request_cost = 1;
  ReadBudget b(l);
  auto t = Clock::now();
  for (int i = 0; i < 2; ++i) {  // two requesters, each well within its own budget
    auto r = Who(static_cast<uint8_t>(i), ("198.51." + std::to_string(i) + ".1").c_str());
    ASSERT_FALSE(b.Admit(r, t));
    b.Charge(r, 1 << 19, t);
  }
  EXPECT_TRUE(b.Admit(Who(9, "192.0.2.1"), t));  // a third's bucket is fine, the node's is not
}

TEST(SlotsTest, PerKeyAndGlobalCapsAndWaiting) {
  boost::asio::io_context io;
  Slots slots(io.get_executor(), 3);
  auto a = SlotKeys(Who(1, "10.0.0.1"), 2, 3);
  auto b = SlotKeys(Who(2, "10.0.1.2"), 2, 3);
  auto c = SlotKeys(Who(3, "10.0.0.1"), 2, 3);  // another id on a's IP
  EXPECT_TRUE(slots.TryTake(a));
  EXPECT_TRUE(slots.TryTake(a));
  EXPECT_FALSE(slots.TryTake(a));  // per id
  EXPECT_FALSE(slots.TryTake(c));  // per IP: cheap ids on one host share its share
  EXPECT_FALSE(slots.TryTake(SlotKeys(Who(5, "10.0.0.9"), 2, 3)));  // per /24: 2 of 3
  EXPECT_TRUE(slots.TryTake(b));
  EXPECT_FALSE(slots.TryTake(SlotKeys(Who(4, "10.0.4.4"), 2, 3)));  // global 3
  // A waiter gets the slot given back while it waits.
  bool got = false;
  boost::asio::co_spawn(
      io,
      [&]() -> boost::asio::awaitable<void> {
        got = co_await slots.Take(b, Clock::now() + milliseconds(5000));
      },
      boost::asio::detached);
  boost::asio::post(io, [&] { slots.Give(a); });
  io.run();
  EXPECT_TRUE(got);
  EXPECT_EQ(slots.used(), 3u);
  // No slot within the wait: refused.
  io.restart();
  bool late = true;
  boost::asio::co_spawn(
      io,
      [&]() -> boost::asio::awaitable<void> {
        late = co_await slots.Take(b, Clock::now() + milliseconds(20));
      },
      boost::asio::detached);
  io.run();
  EXPECT_FALSE(late);
}

TEST(RefusalsTest, CountedEveryTimeLoggedOncePerInterval) {
  core::MetricsRegistry metrics;
  Refusals r(metrics, milliseconds(60000));
  auto t = Clock::now();
  int logged = 0;
  for (int i = 0; i < 1000; ++i) logged += r.Note("read_budget", "203.0.113.5", "spent", t);
  logged += r.Note("read_budget", "198.51.100.1", "spent", t);
  logged += r.Note("disk_requests", "203.0.113.5", "busy", t);
  EXPECT_EQ(logged, 3);
  EXPECT_EQ(r.count("read_budget"), 1001u);
  EXPECT_EQ(r.count("disk_requests"), 1u);
  EXPECT_TRUE(r.Note("read_budget", "203.0.113.5", "spent", t + milliseconds(60000)));
  EXPECT_NE(metrics.Render().find("tesseras_refusals_total{reason=\"read_budget\"} 1002"),
            std::string::npos);
}

}  // namespace
}  // namespace tesseras::dht
