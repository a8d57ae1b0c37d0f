#include "daemon/node_activity.h"

#include <gtest/gtest.h>

#include <string>

namespace tesseras::daemon {
namespace {

NodeActivity::Event Ev(int64_t at, std::string peer, std::string message) {
  return {at,
          0,
          1,
          "audit_failed",
          std::string(64, 'a'),
          std::move(peer),
          "127.0.0.1:7700",
          std::move(message)};
}

TEST(NodeActivityTest, EventsAreNewestFirstAndRepeatsAreCounted) {
  NodeActivity a;
  a.Record(Ev(100, "p1", "timeout"));
  a.Record(Ev(200, "p2", "refused"));
  a.Record(Ev(300, "p1", "timeout"));  // the same problem again
  auto events = a.Events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].peer, "p1");
  EXPECT_EQ(events[0].count, 2u);
  EXPECT_EQ(events[0].first_at_ms, 100);
  EXPECT_EQ(events[0].at_ms, 300);
  EXPECT_EQ(events[1].peer, "p2");
  EXPECT_EQ(events[1].count, 1u);
  EXPECT_EQ(events[1].first_at_ms, 200);
}

TEST(NodeActivityTest, AtMostMaxEventsAreKeptOldestDropped) {
  NodeActivity a;
  for (std::size_t i = 0; i < NodeActivity::kMaxEvents + 10; ++i) {
    a.Record(Ev(static_cast<int64_t>(i), "p", "problem " + std::to_string(i)));
  }
  auto events = a.Events();
  ASSERT_EQ(events.size(), NodeActivity::kMaxEvents);
  EXPECT_EQ(events.front().message, "problem " + std::to_string(NodeActivity::kMaxEvents + 9));
  EXPECT_EQ(events.back().message, "problem 10");
}

TEST(NodeActivityTest, PassesRunAndFinishAndAreBounded) {
  NodeActivity a;
  uint64_t id = a.PassStarted(1000, "api", "all");
  ASSERT_EQ(a.Passes().size(), 1u);
  EXPECT_FALSE(a.Passes()[0].finished_at_ms.has_value());
  NodeActivity::Pass done;
  done.finished_at_ms = 2500;
  done.tesseras = 3;
  done.regenerated = 4;
  a.PassFinished(id, done);
  auto passes = a.Passes();
  ASSERT_EQ(passes.size(), 1u);
  EXPECT_EQ(passes[0].started_at_ms, 1000);
  EXPECT_EQ(passes[0].finished_at_ms, 2500);
  EXPECT_EQ(passes[0].trigger, "api");
  EXPECT_EQ(passes[0].scope, "all");
  EXPECT_EQ(passes[0].regenerated, 4u);
  for (std::size_t i = 0; i < NodeActivity::kMaxPasses + 5; ++i) a.PassStarted(3000, "api", "x");
  EXPECT_EQ(a.Passes().size(), NodeActivity::kMaxPasses);
  a.PassFinished(id, done);  // dropped already: nothing happens
  EXPECT_EQ(a.Passes().size(), NodeActivity::kMaxPasses);
}

TEST(NodeActivityTest, HealthKeepsTheLastSummaryPerTessera) {
  NodeActivity a;
  core::ContentHash h{};
  EXPECT_FALSE(a.Health(h).has_value());
  a.RecordHealth(h, {{"state", "healthy"}});
  a.RecordHealth(h, {{"state", "degraded"}});
  ASSERT_TRUE(a.Health(h).has_value());
  EXPECT_EQ(a.Health(h)->at("state"), "degraded");
  EXPECT_EQ(a.AllHealth().size(), 1u);
}

}  // namespace
}  // namespace tesseras::daemon
