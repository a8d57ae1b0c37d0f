#include "replication/maintenance_policy.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <limits>
#include <map>
#include <set>

#include "core/ports/clock.h"
#include "replication/placement.h"

namespace tesseras::replication {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr int64_t kHour = 3600 * 1000;

core::NodeId Id(uint8_t b) {
  core::NodeId id;
  id.bytes.fill(0);
  id.bytes[0] = b;
  return id;
}

Redundancy Medium() {
  core::FragmentPlan p = *core::PlanForSize(5 * core::kMiB);
  return RedundancyOf(p);
}

Redundancy Small() { return RedundancyOf(*core::PlanForSize(100'000)); }

// One holder per fragment, every copy proven at `when`.
std::vector<HolderView> OnePerFragment(const Redundancy& r, int64_t when, uint8_t first_id = 1) {
  std::vector<HolderView> out;
  for (uint32_t i = 0; i < r.units(); ++i) {
    HolderView h;
    h.holder = Id(static_cast<uint8_t>(first_id + i));
    h.address = "127.0." + std::to_string(first_id + i) + ".1:7700";
    h.copies.push_back(AfterPush(r.copies > 1 ? 0 : i, when));
    out.push_back(h);
  }
  return out;
}

void Miss(HolderView& h, int64_t when) {
  for (auto& c : h.copies) c = AfterAudit(c, CopyObservation::kUnanswered, when);
}

class PolicyTest : public ::testing::Test {
 protected:
  // Lost copies re-created at once, batches below 20 of 24: the rules these
  // tests spell out one at a time (the defaults batch the coded tiers).
  void UnbatchedAtHalf() {
    cfg_.coded_repair_at_threshold = false;
    cfg_.repair_threshold = 0.5;
  }
  MaintenancePolicyConfig cfg_;
  core::ManualClock clock_;
  int64_t now() const { return clock_.NowUnixMs(); }
};

// What the durability estimate reads: audits asked, answered, first seen.
TEST(CopyObservationsTest, AuditsAndAnswersAreCounted) {
  CopyHistory h = AfterPush(4, 1000);
  EXPECT_EQ(h.first_seen_ms, 1000);
  EXPECT_EQ(h.audits, 0u);
  h = AfterAudit(h, CopyObservation::kProven, 2000);
  h = AfterAudit(h, CopyObservation::kUnanswered, 3000);
  h = AfterAudit(h, CopyObservation::kDenied, 4000);
  EXPECT_EQ(h.audits, 3u);
  EXPECT_EQ(h.answered, 2u);  // a denial is an answer
  EXPECT_EQ(h.first_seen_ms, 1000);
  CopyHistory learned;  // from a claim: first seen at its first audit
  learned = AfterAudit(learned, CopyObservation::kUnanswered, 5000);
  EXPECT_EQ(learned.first_seen_ms, 5000);
  EXPECT_EQ(learned.answered, 0u);
}

TEST_F(PolicyTest, RedundancyOfTheThreeTiers) {
  EXPECT_EQ(Medium().units(), 24u);
  EXPECT_EQ(Medium().data, 16u);
  EXPECT_EQ(Medium().RepairThreshold(cfg_), 21u);  // the default, 0.62
  EXPECT_EQ(Medium().MaxCopies(cfg_), 2u);
  auto large = RedundancyOf(*core::PlanForSize(300 * core::kMiB));
  EXPECT_EQ(large.units(), 72u);
  EXPECT_EQ(large.RepairThreshold(cfg_), 63u);
  EXPECT_EQ(Small().units(), 7u);
  EXPECT_EQ(Small().copies, 7u);
  EXPECT_EQ(Small().RepairThreshold(cfg_), 5u);
  EXPECT_EQ(Small().MaxCopies(cfg_), 11u);
  // 0.62 and 0.625 (5 of the 8 spare fragments) give the same counts.
  cfg_.repair_threshold = 0.625;
  EXPECT_EQ(Medium().RepairThreshold(cfg_), 21u);
  EXPECT_EQ(large.RepairThreshold(cfg_), 63u);
  EXPECT_EQ(Small().RepairThreshold(cfg_), 5u);
  cfg_.repair_threshold = 0.5;
  EXPECT_EQ(Medium().RepairThreshold(cfg_), 20u);
  EXPECT_EQ(large.RepairThreshold(cfg_), 60u);
  EXPECT_EQ(Small().RepairThreshold(cfg_), 4u);
}

TEST_F(PolicyTest, HealthyWhenEveryCopyIsProven) {
  auto r = Medium();
  auto holders = OnePerFragment(r, now());
  Assessment a = Assess(r, holders, {}, now(), cfg_);
  EXPECT_EQ(a.state, Recoverability::kHealthy);
  EXPECT_EQ(a.proven_fragments, 24u);
  EXPECT_EQ(a.margin, 8);
  EXPECT_FALSE(a.needs_repair());
  EXPECT_THAT(a.rebuild, IsEmpty());
  EXPECT_FALSE(a.next_change_ms.has_value());
}

TEST_F(PolicyTest, SilentHolderIsSuspectWithinGraceAndLostAfter) {
  UnbatchedAtHalf();
  auto r = Medium();
  auto holders = OnePerFragment(r, now());
  clock_.Advance(24 * kHour);
  const int64_t failed_at = now();
  Miss(holders[3], failed_at);
  EXPECT_EQ(StandingOf(holders[3].copies[0], now(), cfg_), CopyStanding::kSuspect);
  EXPECT_EQ(SuspectSince(holders[3], now(), cfg_), failed_at);

  Assessment within = Assess(r, holders, {}, now(), cfg_);
  EXPECT_EQ(within.state, Recoverability::kDegraded);  // not proven now
  EXPECT_EQ(within.proven_fragments, 23u);
  EXPECT_EQ(within.counted_fragments, 24u);  // ... but still counted
  EXPECT_FALSE(within.needs_repair());
  EXPECT_EQ(within.next_change_ms, failed_at + cfg_.holder_grace_ms);

  // One millisecond before the grace ends it is still counted; at the end it is lost.
  clock_.Advance(cfg_.holder_grace_ms - 1);
  Miss(holders[3], now());
  EXPECT_FALSE(Assess(r, holders, {}, now(), cfg_).needs_repair());
  clock_.Advance(1);
  EXPECT_EQ(StandingOf(holders[3].copies[0], now(), cfg_), CopyStanding::kLost);
  Assessment after = Assess(r, holders, {}, now(), cfg_);
  EXPECT_EQ(after.counted_fragments, 23u);
  EXPECT_EQ(after.trigger, RepairTrigger::kLostCopies);
  EXPECT_THAT(after.rebuild, ElementsAre(3u));
}

TEST_F(PolicyTest, SuspectHoldersAreProbedEveryIntervalUntilTheGraceEnds) {
  auto r = Medium();
  auto holders = OnePerFragment(r, now());
  const int64_t every = cfg_.suspect_probe_interval_ms;
  HolderView& h = holders[2];
  EXPECT_EQ(NextProbeMs(h, now(), cfg_), std::nullopt);  // proven: nothing to probe
  clock_.Advance(24 * kHour);
  const int64_t t0 = now();
  Miss(h, t0);
  EXPECT_EQ(NextProbeMs(h, t0, cfg_), t0 + every);
  // Each failed probe moves the next one an interval on; the last falls
  // before the end of the grace, and none at or after it.
  std::vector<int64_t> probes;
  int64_t asked = t0;
  while (const auto at = NextProbeMs(h, asked, cfg_)) {
    probes.push_back(*at);
    Miss(h, *at);
    asked = *at;
    ASSERT_LT(probes.size(), 100u);
  }
  EXPECT_EQ(probes.size(), static_cast<std::size_t>(cfg_.holder_grace_ms / every) - 1);
  EXPECT_EQ(probes.front(), t0 + every);
  EXPECT_EQ(probes.back(), t0 + cfg_.holder_grace_ms - every);  // 66 h
  EXPECT_EQ(StandingOf(h.copies[0], probes.back(), cfg_), CopyStanding::kSuspect);

  // A schedule that fell behind (a daily check saw the holder off again, no
  // probe in between: a restart) resumes an interval after the last ask,
  // never at once and never in the past.
  HolderView back = holders[3];
  Miss(back, t0);
  Miss(back, t0 + 24 * kHour);
  EXPECT_EQ(NextProbeMs(back, t0 + 24 * kHour, cfg_), t0 + 24 * kHour + every);
  // A probe answered ends the run: nothing more to probe, and the copy is
  // proven where the check at the end of the grace would have lost it.
  const int64_t answered_at = t0 + 24 * kHour + every;
  const uint32_t audits = back.copies[0].audits, answered = back.copies[0].answered;
  for (auto& c : back.copies) c = AfterProbe(c, CopyObservation::kProven, answered_at);
  EXPECT_EQ(NextProbeMs(back, answered_at, cfg_), std::nullopt);
  EXPECT_EQ(back.copies[0].last_proven_ms, answered_at);
  // Not counted as audits: the durability estimate's sample stays unbiased.
  EXPECT_EQ(back.copies[0].audits, audits);
  EXPECT_EQ(back.copies[0].answered, answered);
  Miss(back, t0 + cfg_.holder_grace_ms);
  EXPECT_EQ(StandingOf(back.copies[0], t0 + cfg_.holder_grace_ms, cfg_), CopyStanding::kSuspect);

  // Past the grace: no probe, however late the ask.
  HolderView late = holders[6];
  Miss(late, t0);
  EXPECT_EQ(NextProbeMs(late, t0 + cfg_.holder_grace_ms, cfg_), std::nullopt);

  // A denial is an answer: no probe. A copy never proven (learnt from a
  // claim, its holder off at the first check) is probed like the others.
  HolderView denied = holders[4];
  for (auto& c : denied.copies) c = AfterAudit(c, CopyObservation::kDenied, t0);
  EXPECT_EQ(NextProbeMs(denied, t0, cfg_), std::nullopt);
  HolderView claimed;
  claimed.holder = Id(200);
  claimed.copies.push_back(AfterAudit(CopyHistory{}, CopyObservation::kUnanswered, t0));
  EXPECT_EQ(NextProbeMs(claimed, t0, cfg_), t0 + every);
  // Probes off: none.
  cfg_.suspect_probe_interval_ms = 0;
  EXPECT_EQ(NextProbeMs(holders[2], t0, cfg_), std::nullopt);
  // An interval as long as the grace never probes.
  cfg_.suspect_probe_interval_ms = cfg_.holder_grace_ms;
  HolderView once = holders[5];
  Miss(once, t0);
  EXPECT_EQ(NextProbeMs(once, t0, cfg_), std::nullopt);
  // Counts and times near the limits saturate instead of wrapping.
  cfg_.holder_grace_ms = std::numeric_limits<int64_t>::max();
  cfg_.suspect_probe_interval_ms = 365 * 24 * kHour;
  once.copies[0].consecutive_failures = std::numeric_limits<uint32_t>::max();
  EXPECT_EQ(NextProbeMs(once, t0, cfg_), std::nullopt);
  once.copies[0].consecutive_failures = 1;
  EXPECT_EQ(NextProbeMs(once, std::numeric_limits<int64_t>::max() - 1, cfg_), std::nullopt);
  EXPECT_EQ(NextProbeMs(once, t0, cfg_), t0 + cfg_.suspect_probe_interval_ms);
}

TEST_F(PolicyTest, ZeroGraceIsTheEagerPolicy) {
  UnbatchedAtHalf();
  cfg_.holder_grace_ms = 0;
  auto r = Medium();
  auto holders = OnePerFragment(r, now());
  Miss(holders[5], now());
  EXPECT_EQ(StandingOf(holders[5].copies[0], now(), cfg_), CopyStanding::kLost);
  Assessment a = Assess(r, holders, {}, now(), cfg_);
  EXPECT_THAT(a.rebuild, ElementsAre(5u));
}

TEST_F(PolicyTest, DeniedCopyIsLostAtOnceAndForgotten) {
  UnbatchedAtHalf();
  auto r = Medium();
  auto holders = OnePerFragment(r, now());
  holders[7].copies[0] = AfterAudit(holders[7].copies[0], CopyObservation::kDenied, now());
  Assessment a = Assess(r, holders, {}, now(), cfg_);
  EXPECT_EQ(a.counted_fragments, 23u);
  EXPECT_EQ(a.trigger, RepairTrigger::kLostCopies);
  EXPECT_THAT(a.rebuild, ElementsAre(7u));
  EXPECT_THAT(a.forget, ElementsAre(std::make_pair(holders[7].holder, 7u)));
}

TEST_F(PolicyTest, BelowTheThresholdEverythingNotProvenIsRebuiltInOneBatch) {
  UnbatchedAtHalf();
  auto r = Medium();
  auto holders = OnePerFragment(r, now());
  // Four suspects (still counted) and one lost: 23 counted, no batch yet, only the lost one.
  for (int i = 0; i < 4; ++i) Miss(holders[i], now());
  holders[4].copies[0] = AfterAudit(holders[4].copies[0], CopyObservation::kDenied, now());
  Assessment a = Assess(r, holders, {}, now(), cfg_);
  EXPECT_EQ(a.counted_fragments, 23u);
  EXPECT_EQ(a.trigger, RepairTrigger::kLostCopies);
  EXPECT_THAT(a.rebuild, ElementsAre(4u));
  // Four more lost (past grace): 19 counted < 20 → rebuild all 9 not proven,
  // the four suspects' fragments included, in one batch.
  clock_.Advance(kHour);
  for (int i = 5; i < 9; ++i) {
    holders[i].copies[0] = AfterAudit(holders[i].copies[0], CopyObservation::kDenied, now());
  }
  Assessment b = Assess(r, holders, {}, now(), cfg_);
  EXPECT_EQ(b.counted_fragments, 19u);
  EXPECT_EQ(b.trigger, RepairTrigger::kBelowThreshold);
  EXPECT_THAT(b.rebuild, ElementsAre(0u, 1u, 2u, 3u, 4u, 5u, 6u, 7u, 8u));
  EXPECT_EQ(b.margin, 3);
}

TEST_F(PolicyTest, CodedRepairAtThresholdWaitsForTheBatch) {
  cfg_.coded_repair_at_threshold = true;
  auto r = Medium();
  auto holders = OnePerFragment(r, now());
  // One fragment lost, 23 counted: above the threshold (20), nothing yet.
  holders[4].copies[0] = AfterAudit(holders[4].copies[0], CopyObservation::kDenied, now());
  Assessment a = Assess(r, holders, {}, now(), cfg_);
  EXPECT_EQ(a.counted_fragments, 23u);
  EXPECT_EQ(a.trigger, RepairTrigger::kNone);
  EXPECT_THAT(a.rebuild, IsEmpty());
  EXPECT_EQ(a.state, Recoverability::kDegraded);
  // Four more lost, 19 counted: every fragment not proven in one batch.
  for (int i = 5; i < 9; ++i) {
    holders[i].copies[0] = AfterAudit(holders[i].copies[0], CopyObservation::kDenied, now());
  }
  Assessment b = Assess(r, holders, {}, now(), cfg_);
  EXPECT_EQ(b.trigger, RepairTrigger::kBelowThreshold);
  EXPECT_THAT(b.rebuild, ElementsAre(4u, 5u, 6u, 7u, 8u));
  // Small copies are still re-created at once: any holder has the payload.
  auto s = Small();
  auto small = OnePerFragment(s, now());
  small[0].copies[0] = AfterAudit(small[0].copies[0], CopyObservation::kDenied, now());
  Assessment c = Assess(s, small, {}, now(), cfg_);
  EXPECT_EQ(c.trigger, RepairTrigger::kLostCopies);
  EXPECT_THAT(c.rebuild, ElementsAre(0u));
}

// The payload at hand means nothing to fetch and nothing to batch: a lost
// fragment is re-created at once, and a repair below the threshold rebuilds
// what is not counted, never a suspect's fragment.
TEST_F(PolicyTest, AMaintainerWithThePayloadDoesNotBatch) {
  cfg_.coded_repair_at_threshold = true;
  auto r = Medium();
  auto holders = OnePerFragment(r, now());
  holders[4].copies[0] = AfterAudit(holders[4].copies[0], CopyObservation::kDenied, now());
  EXPECT_EQ(Assess(r, holders, {}, now(), cfg_, Payload::kFetched).trigger, RepairTrigger::kNone);
  Assessment a = Assess(r, holders, {}, now(), cfg_, Payload::kLocal);
  EXPECT_EQ(a.trigger, RepairTrigger::kLostCopies);
  EXPECT_THAT(a.rebuild, ElementsAre(4u));
  // Two suspects and four more lost: 19 counted, below the threshold (21).
  Miss(holders[0], now());
  Miss(holders[1], now());
  for (int i = 5; i < 9; ++i) {
    holders[i].copies[0] = AfterAudit(holders[i].copies[0], CopyObservation::kDenied, now());
  }
  Assessment fetched = Assess(r, holders, {}, now(), cfg_, Payload::kFetched);
  EXPECT_EQ(fetched.trigger, RepairTrigger::kBelowThreshold);
  EXPECT_THAT(fetched.rebuild, ElementsAre(0u, 1u, 4u, 5u, 6u, 7u, 8u));
  Assessment local = Assess(r, holders, {}, now(), cfg_, Payload::kLocal);
  EXPECT_EQ(local.trigger, RepairTrigger::kBelowThreshold);
  EXPECT_THAT(local.rebuild, ElementsAre(4u, 5u, 6u, 7u, 8u));
  // A small tessera's holder keeps the payload: its own copy is enough.
  auto sm = Small();
  auto small = OnePerFragment(sm, now());
  small.resize(4);  // 4 other copies + ours = 5 counted
  Miss(small[0], now());
  for (int i = 1; i < 3; ++i) {
    small[i].copies[0] = AfterAudit(small[i].copies[0], CopyObservation::kDenied, now());
  }
  // Counted: ours, the suspect and small[3] = 3 < the threshold (5 of 7).
  const std::vector<uint32_t> ours = {0};
  Assessment s = Assess(sm, small, ours, now(), cfg_, Payload::kFetched);
  EXPECT_EQ(s.trigger, RepairTrigger::kBelowThreshold);
  EXPECT_EQ(s.rebuild.size(), 4u);  // 7 wanted − 3 counted
  Assessment none = Assess(sm, small, {}, now(), cfg_, Payload::kFetched);
  EXPECT_EQ(none.rebuild.size(), 6u);  // without a copy of its own: 7 − 1 proven
}

// batch_rebuilds_suspects = false: a batch re-creates only what is not
// counted; a suspect holder that comes back costs nothing, one that does not
// is lost at the end of its grace and waits for the next batch.
TEST_F(PolicyTest, ABatchCanLeaveSuspectsToTheirGrace) {
  cfg_.coded_repair_at_threshold = true;
  cfg_.batch_rebuilds_suspects = false;
  cfg_.holder_grace_ms = 10 * kHour;
  auto r = Medium();
  auto holders = OnePerFragment(r, now());
  Miss(holders[0], now());
  for (int i = 4; i < 9; ++i) {
    holders[i].copies[0] = AfterAudit(holders[i].copies[0], CopyObservation::kDenied, now());
  }
  Assessment a = Assess(r, holders, {}, now(), cfg_);
  EXPECT_EQ(a.counted_fragments, 19u);
  EXPECT_EQ(a.trigger, RepairTrigger::kBelowThreshold);
  EXPECT_THAT(a.rebuild, ElementsAre(4u, 5u, 6u, 7u, 8u));
  // Rebuilt: the suspect alone is not a trigger; past its grace it is lost
  // but waits, above the threshold, for the next batch.
  for (uint32_t i = 4; i < 9; ++i) {
    holders.push_back(HolderView{Id(static_cast<uint8_t>(100 + i)),
                                 "127.0." + std::to_string(100 + i) + ".1:7700",
                                 {AfterPush(i, now())}});
  }
  EXPECT_EQ(Assess(r, holders, {}, now(), cfg_).trigger, RepairTrigger::kNone);
  clock_.Advance(11 * kHour);
  Miss(holders[0], now());
  Assessment b = Assess(r, holders, {}, now(), cfg_);
  EXPECT_EQ(b.counted_fragments, 23u);
  EXPECT_EQ(b.trigger, RepairTrigger::kNone);
}

TEST_F(PolicyTest, ReturningHolderCountsAgainUpToTheCap) {
  cfg_.holder_grace_ms = kHour;
  auto r = Medium();
  auto holders = OnePerFragment(r, now());
  Miss(holders[2], now());
  clock_.Advance(2 * kHour);
  Miss(holders[2], now());
  ASSERT_EQ(StandingOf(holders[2].copies[0], now(), cfg_), CopyStanding::kLost);
  // Repair placed fragment 2 on a new holder.
  HolderView fresh{Id(200), "127.0.200.1:7700", {AfterPush(2, now())}};
  holders.push_back(fresh);
  EXPECT_FALSE(Assess(r, holders, {}, now(), cfg_).needs_repair());
  // The old holder comes back and proves it: reintegrated, two copies of 2 (cap 2).
  clock_.Advance(kHour);
  holders[2].copies[0] = AfterAudit(holders[2].copies[0], CopyObservation::kProven, now());
  EXPECT_EQ(StandingOf(holders[2].copies[0], now(), cfg_), CopyStanding::kProven);
  Assessment a = Assess(r, holders, {}, now(), cfg_);
  EXPECT_EQ(a.state, Recoverability::kHealthy);
  EXPECT_THAT(a.surplus, IsEmpty());
  // A third copy of 2 is over the cap: the last listed is the surplus.
  holders.push_back(HolderView{Id(201), "127.0.201.1:7700", {AfterPush(2, now())}});
  Assessment b = Assess(r, holders, {}, now(), cfg_);
  EXPECT_THAT(b.surplus, ElementsAre(std::make_pair(Id(201), 2u)));
}

TEST_F(PolicyTest, SmallTierCountsCopies) {
  auto r = Small();
  auto holders = OnePerFragment(r, now());
  EXPECT_EQ(Assess(r, holders, {}, now(), cfg_).state, Recoverability::kHealthy);
  for (int i = 0; i < 2; ++i) {
    holders[i].copies[0] = AfterAudit(holders[i].copies[0], CopyObservation::kDenied, now());
  }
  Assessment a = Assess(r, holders, {}, now(), cfg_);
  EXPECT_EQ(a.counted_units, 5u);
  EXPECT_EQ(a.margin, 4);
  EXPECT_EQ(a.trigger, RepairTrigger::kLostCopies);
  EXPECT_THAT(a.rebuild, ElementsAre(0u, 0u));
  for (int i = 2; i < 7; ++i) Miss(holders[i], now());  // all others suspect
  Assessment b = Assess(r, holders, {}, now(), cfg_);
  EXPECT_EQ(b.state, Recoverability::kDegraded);
  EXPECT_EQ(b.trigger, RepairTrigger::kLostCopies);  // 5 counted ≥ 4
  for (int i = 2; i < 7; ++i) {
    holders[i].copies[0] = AfterAudit(holders[i].copies[0], CopyObservation::kDenied, now());
  }
  Assessment c = Assess(r, holders, {}, now(), cfg_);
  EXPECT_EQ(c.state, Recoverability::kLost);
  EXPECT_EQ(c.margin, -1);
}

TEST_F(PolicyTest, LocalCopiesCountAsProven) {
  auto r = Medium();
  auto holders = OnePerFragment(r, now());
  holders.erase(holders.begin());  // fragment 0 is ours
  std::vector<uint32_t> local = {0};
  EXPECT_EQ(Assess(r, holders, local, now(), cfg_).state, Recoverability::kHealthy);
  EXPECT_EQ(Assess(r, holders, {}, now(), cfg_).counted_fragments, 23u);
}

TEST_F(PolicyTest, UnverifiedClaimsAreNotCounted) {
  auto r = Medium();
  auto holders = OnePerFragment(r, now());
  holders[0].copies[0] = CopyHistory{0, std::nullopt, std::nullopt, 0, false, 0, 0, std::nullopt};
  EXPECT_EQ(StandingOf(holders[0].copies[0], now(), cfg_), CopyStanding::kUnverified);
  EXPECT_EQ(Assess(r, holders, {}, now(), cfg_).counted_fragments, 23u);
  // A claim that never answers never becomes "suspect": there is nothing to wait for.
  Miss(holders[0], now());
  EXPECT_EQ(StandingOf(holders[0].copies[0], now(), cfg_), CopyStanding::kUnverified);
}

// A claim of a machine that left is audited, never answers and was never
// proven: once its holder has been silent for the grace it is lost like any
// other copy (no longer ranked as a holder) and forgotten after
// forget_lost_after, instead of staying tracked for ever.
TEST_F(PolicyTest, AClaimThatNeverAnswersIsLostAfterTheGraceThenForgotten) {
  cfg_.holder_grace_ms = kHour;
  auto r = Medium();
  auto holders = OnePerFragment(r, now());
  HolderView ghost;
  ghost.holder = Id(0);
  ghost.address = "127.0.200.1:7700";
  ghost.copies.push_back(CopyHistory{0, std::nullopt, std::nullopt, 0, false, 0, 0, std::nullopt});
  Miss(ghost, now());
  holders.push_back(ghost);
  const core::NodeId owner = Id(250);
  const core::NodeId key = Id(0);  // the ghost is the closest holder to the key, then Id(1)
  const int64_t first_failure = now();
  // Within the grace: unverified, still ranked before the real holders.
  const Assessment early = Assess(r, holders, {}, now(), cfg_);
  EXPECT_EQ(StandingOf(holders.back().copies[0], now(), cfg_), CopyStanding::kUnverified);
  EXPECT_EQ(early.next_change_ms, std::optional<int64_t>(first_failure + kHour));
  EXPECT_EQ(MaintainerRank(Id(1), owner, key, holders, now(), cfg_), std::optional<uint32_t>(2));
  clock_.Advance(kHour);
  Miss(holders.back(), now());
  EXPECT_EQ(StandingOf(holders.back().copies[0], now(), cfg_), CopyStanding::kLost);
  EXPECT_EQ(MaintainerRank(Id(1), owner, key, holders, now(), cfg_), std::optional<uint32_t>(1));
  const Assessment lost = Assess(r, holders, {}, now(), cfg_);
  EXPECT_THAT(lost.forget, IsEmpty());
  EXPECT_EQ(lost.next_forget_ms, std::optional<int64_t>(first_failure + cfg_.forget_lost_after_ms));
  EXPECT_EQ(lost.counted_fragments, 24u);
  EXPECT_FALSE(lost.needs_repair());
  clock_.Advance(cfg_.forget_lost_after_ms);
  Miss(holders.back(), now());
  EXPECT_THAT(Assess(r, holders, {}, now(), cfg_).forget,
              ElementsAre(std::make_pair(ghost.holder, 0u)));
}

TEST_F(PolicyTest, LostCopiesAreForgottenAfterAWhile) {
  cfg_.holder_grace_ms = kHour;
  auto r = Medium();
  auto holders = OnePerFragment(r, now());
  Miss(holders[1], now());
  clock_.Advance(2 * kHour);
  EXPECT_THAT(Assess(r, holders, {}, now(), cfg_).forget, IsEmpty());
  clock_.Advance(cfg_.forget_lost_after_ms);
  EXPECT_THAT(Assess(r, holders, {}, now(), cfg_).forget,
              ElementsAre(std::make_pair(holders[1].holder, 1u)));
}

TEST_F(PolicyTest, NextForgetIsWhenTheEarliestLostCopyWillBeForgotten) {
  cfg_.holder_grace_ms = kHour;
  auto r = Medium();
  auto holders = OnePerFragment(r, now());
  EXPECT_FALSE(Assess(r, holders, {}, now(), cfg_).next_forget_ms.has_value());
  const int64_t first = now();
  Miss(holders[1], first);
  clock_.Advance(kHour / 2);
  Miss(holders[2], now());
  // Suspect copies are not lost yet: nothing to forget.
  EXPECT_FALSE(Assess(r, holders, {}, now(), cfg_).next_forget_ms.has_value());
  clock_.Advance(2 * kHour);
  Assessment a = Assess(r, holders, {}, now(), cfg_);
  ASSERT_TRUE(a.next_forget_ms.has_value());
  EXPECT_EQ(*a.next_forget_ms, first + cfg_.forget_lost_after_ms);
  // Exactly then the first one is forgotten and the second one is next.
  clock_.Advance(*a.next_forget_ms - now() - 1);
  EXPECT_THAT(Assess(r, holders, {}, now(), cfg_).forget, IsEmpty());
  clock_.Advance(1);
  Assessment b = Assess(r, holders, {}, now(), cfg_);
  EXPECT_THAT(b.forget, ElementsAre(std::make_pair(holders[1].holder, 1u)));
  EXPECT_EQ(b.next_forget_ms, first + kHour / 2 + cfg_.forget_lost_after_ms);
  // A denied copy is forgotten at once and never waits.
  holders[3].copies[0] = AfterAudit(holders[3].copies[0], CopyObservation::kDenied, now());
  EXPECT_EQ(Assess(r, holders, {}, now(), cfg_).next_forget_ms, b.next_forget_ms);
}

// ---- placement ----------------------------------------------------------------

std::vector<PlacementCandidate> Peers(int count, int per_subnet, uint8_t first = 100) {
  std::vector<PlacementCandidate> out;
  core::NodeId key = Id(0);
  for (int i = 0; i < count; ++i) {
    core::PeerInfo p{Id(static_cast<uint8_t>(first + i)),
                     "127.0." + std::to_string(first + i / per_subnet) + "." +
                         std::to_string(i % per_subnet + 1) + ":7700"};
    out.push_back({p, 0, core::XorDistance(p.id, key)});
  }
  return out;
}

TEST_F(PolicyTest, APeerOfferedTwiceCountsOnceWithItsFirstOffer) {
  auto r = Medium();
  auto cands = Peers(6, 1);
  auto again = cands[5];      // the farthest peer...
  again.balance = 1'000'000;  // ...offered again with a balance that would rank it first
  cands.push_back(again);
  cands.insert(cands.begin() + 2, cands[1]);
  std::vector<uint32_t> rebuild = {0, 1, 2, 3, 4, 5, 6};
  auto choice = ChoosePlacement(r, rebuild, cands, {}, {}, 2, now(), cfg_);
  EXPECT_EQ(choice.distinct_new_holders, 6u);
  std::set<core::NodeId> targets;
  for (const auto& [peer, idx] : choice.work) targets.insert(peer.id);
  EXPECT_EQ(targets.size(), 6u);
  EXPECT_EQ(choice.work.front().first.id, Id(100));  // its first offer (balance 0) counts
}

TEST_F(PolicyTest, FirstPlacementReachesOneHolderPerFragment) {
  auto r = RedundancyOf(*core::PlanForSize(300 * core::kMiB));  // 72 fragments
  std::vector<uint32_t> all;
  for (uint32_t i = 0; i < 72; ++i) all.push_back(i);
  auto choice = ChoosePlacement(r, all, Peers(100, 1), {}, {}, 2, now(), cfg_);
  EXPECT_EQ(choice.distinct_new_holders, 72u);
  EXPECT_EQ(choice.work.size(), 72u);
  for (const auto& [peer, idx] : choice.work) EXPECT_EQ(idx.size(), 1u);
  EXPECT_EQ(choice.spares.size(), 28u);
}

TEST_F(PolicyTest, FewerPeersThanFragmentsSpreadsEvenlyOverAllOfThem) {
  auto r = RedundancyOf(*core::PlanForSize(300 * core::kMiB));
  std::vector<uint32_t> all;
  for (uint32_t i = 0; i < 72; ++i) all.push_back(i);
  auto choice = ChoosePlacement(r, all, Peers(59, 1), {}, {}, 2, now(), cfg_);
  EXPECT_EQ(choice.distinct_new_holders, 59u);  // min(fragments, eligible peers)
  ASSERT_EQ(choice.work.size(), 59u);
  std::size_t lo = 99, hi = 0, total = 0;
  for (const auto& [peer, idx] : choice.work) {
    lo = std::min(lo, idx.size());
    hi = std::max(hi, idx.size());
    total += idx.size();
  }
  EXPECT_EQ(total, 72u);
  EXPECT_LE(hi - lo, 1u);
}

TEST_F(PolicyTest, SubnetCapCountsCurrentHoldersAndExcludedAreNeverChosen) {
  auto r = Medium();
  // Current holders: two in 127.0.100.x, proven.
  std::vector<HolderView> current = {
      {Id(100), "127.0.100.1:7700", {AfterPush(0, now())}},
      {Id(101), "127.0.100.2:7700", {AfterPush(1, now())}},
  };
  std::vector<uint32_t> rebuild = {2, 3, 4};
  auto cands = Peers(12, 4);  // 127.0.100-102.x, 4 each
  std::vector<core::NodeId> excluded = {Id(104)};
  auto choice = ChoosePlacement(r, rebuild, cands, current, excluded, 2, now(), cfg_);
  std::map<std::string, int> per;
  for (const auto& h : current) ++per[SubnetKey(h.address)];
  for (const auto& [peer, idx] : choice.work) {
    EXPECT_NE(peer.id, Id(104));
    EXPECT_NE(peer.id, Id(100));
    ++per[SubnetKey(peer.address)];
  }
  for (const auto& [s, n] : per) EXPECT_LE(n, 2) << s;
  EXPECT_EQ(choice.distinct_new_holders, 3u);
}

TEST_F(PolicyTest, SmallNetworkFallsBackToCurrentHoldersWithFewestCopies) {
  auto r = Medium();
  std::vector<HolderView> current;
  for (uint8_t h = 0; h < 4; ++h) {
    HolderView v{
        Id(static_cast<uint8_t>(10 + h)), "127.0." + std::to_string(10 + h) + ".1:7700", {}};
    for (uint32_t i = h; i < 20; i += 4) v.copies.push_back(AfterPush(i, now()));
    current.push_back(v);
  }
  current[0].copies.pop_back();  // holder 10 keeps one fewer
  std::vector<uint32_t> rebuild = {16, 20, 21, 22, 23};
  auto choice = ChoosePlacement(r, rebuild, Peers(1, 1), current, {}, 2, now(), cfg_);
  std::map<core::NodeId, std::vector<uint32_t>> got;
  for (const auto& [peer, idx] : choice.work) got[peer.id] = idx;
  EXPECT_EQ(choice.distinct_new_holders, 1u);
  ASSERT_FALSE(got[Id(100)].empty());
  EXPECT_EQ(got[Id(100)].front(), 16u);  // the new holder takes the first
  std::size_t total = 0;
  for (const auto& [id, idx] : got) {
    total += idx.size();
    for (const auto& h : current) {
      if (h.holder != id) continue;
      for (uint32_t i : idx) {
        for (const auto& c : h.copies) EXPECT_NE(c.index, i) << "two copies on one holder";
      }
    }
  }
  EXPECT_EQ(total, 5u);
  // Fewest copies first keeps the load even: nobody ends above the heaviest (5).
  std::map<core::NodeId, std::size_t> load;
  for (const auto& h : current) load[h.holder] = h.copies.size();
  for (const auto& [id, idx] : got) load[id] += idx.size();
  for (const auto& [id, n] : load) EXPECT_LE(n, 5u);
}

TEST_F(PolicyTest, PlacementIsDeterministic) {
  auto r = Medium();
  std::vector<uint32_t> rebuild = {1, 5, 9};
  auto a = ChoosePlacement(r, rebuild, Peers(30, 2), {}, {}, 2, now(), cfg_);
  auto cands = Peers(30, 2);
  std::reverse(cands.begin(), cands.end());
  auto b = ChoosePlacement(r, rebuild, cands, {}, {}, 2, now(), cfg_);
  EXPECT_EQ(a.work, b.work);
}

TEST_F(PolicyTest, SmallTierNeverPutsTwoCopiesOnOneHolder) {
  auto r = Small();
  std::vector<HolderView> current = {{Id(1), "127.0.1.1:7700", {AfterPush(0, now())}}};
  std::vector<uint32_t> rebuild = {0, 0, 0};
  auto choice = ChoosePlacement(r, rebuild, Peers(2, 1), current, {}, 2, now(), cfg_);
  EXPECT_EQ(choice.work.size(), 2u);  // only two new holders exist; the third copy has no place
  for (const auto& [peer, idx] : choice.work) EXPECT_NE(peer.id, Id(1));
}

// ---- who maintains ----------------------------------------------------------------

TEST_F(PolicyTest, OwnerRanksFirstThenHoldersByDistanceToTheKey) {
  auto r = Medium();
  auto holders = OnePerFragment(r, now(), 1);  // ids 1..24
  core::NodeId key = Id(0);
  EXPECT_EQ(MaintainerRank(Id(250), Id(250), key, holders, now(), cfg_), 0u);
  EXPECT_EQ(MaintainerRank(Id(1), Id(250), key, holders, now(), cfg_), 1u);
  EXPECT_EQ(MaintainerRank(Id(3), Id(250), key, holders, now(), cfg_), 3u);
  EXPECT_FALSE(MaintainerRank(Id(99), Id(250), key, holders, now(), cfg_).has_value());
  // A holder known to have lost everything does not maintain, and moves the others up.
  holders[0].copies[0] = AfterAudit(holders[0].copies[0], CopyObservation::kDenied, now());
  EXPECT_FALSE(MaintainerRank(Id(1), Id(250), key, holders, now(), cfg_).has_value());
  EXPECT_EQ(MaintainerRank(Id(3), Id(250), key, holders, now(), cfg_), 2u);
}

// The ranking as first written (sort every keeper by distance, find
// ourselves), kept as the reference for the one-pass version.
std::optional<uint32_t> ReferenceRank(const core::NodeId& self, const core::NodeId& owner,
                                      const core::NodeId& key, std::span<const HolderView> holders,
                                      int64_t now_ms, const MaintenancePolicyConfig& c) {
  if (self == owner) return 0;
  std::vector<core::NodeId> ids;
  for (const auto& h : holders) {
    if (h.holder == owner) continue;
    const bool keeps = std::any_of(h.copies.begin(), h.copies.end(), [&](const CopyHistory& x) {
      return StandingOf(x, now_ms, c) != CopyStanding::kLost;
    });
    if (keeps && std::find(ids.begin(), ids.end(), h.holder) == ids.end()) ids.push_back(h.holder);
  }
  if (std::find(ids.begin(), ids.end(), self) == ids.end()) return std::nullopt;
  std::sort(ids.begin(), ids.end(), [&](const core::NodeId& a, const core::NodeId& b) {
    return core::XorDistance(a, key) < core::XorDistance(b, key);
  });
  return static_cast<uint32_t>(std::find(ids.begin(), ids.end(), self) - ids.begin()) + 1;
}

TEST_F(PolicyTest, RankMatchesTheSortedReferenceOnRandomHolderLists) {
  uint64_t x = 12345;
  auto next = [&x] {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  };
  for (int round = 0; round < 80; ++round) {
    std::vector<HolderView> holders;
    const int n = 1 + static_cast<int>(next() % 40);
    for (int i = 0; i < n; ++i) {
      HolderView h;
      h.holder = Id(static_cast<uint8_t>(next() % 60));  // repeats on purpose
      h.holder.bytes[1] = static_cast<uint8_t>(next() % 3);
      CopyHistory copy = AfterPush(static_cast<uint32_t>(i), now());
      if (next() % 4 == 0) copy = AfterAudit(copy, CopyObservation::kDenied, now());
      h.copies.push_back(copy);
      holders.push_back(h);
    }
    core::NodeId key = Id(static_cast<uint8_t>(next()));
    key.bytes[1] = static_cast<uint8_t>(next());
    const core::NodeId owner = holders[next() % holders.size()].holder;
    for (const auto& self : holders) {
      EXPECT_EQ(MaintainerRank(self.holder, owner, key, holders, now(), cfg_),
                ReferenceRank(self.holder, owner, key, holders, now(), cfg_));
    }
    EXPECT_EQ(MaintainerRank(Id(200), owner, key, holders, now(), cfg_), std::nullopt);
  }
}

// Assess as first written (a vector of counted copies per index, a stable
// sort for the cap), kept as the reference for the allocation-free version.
Assessment ReferenceAssess(const Redundancy& r, std::span<const HolderView> holders,
                           std::span<const uint32_t> local, int64_t now_ms,
                           const MaintenancePolicyConfig& c, Payload payload) {
  Assessment a;
  const uint32_t n = r.fragments;
  const uint32_t max_copies = r.MaxCopies(c);
  // Counted copies per index, to pick the surplus from.
  struct Counted {
    bool suspect;
    std::size_t holder;
  };
  std::vector<std::vector<Counted>> counted(n);
  std::vector<uint32_t> proven(n, 0);
  for (uint32_t i : local) {
    if (i < n) ++proven[i];
  }
  for (std::size_t h = 0; h < holders.size(); ++h) {
    for (const auto& copy : holders[h].copies) {
      if (copy.index >= n) continue;
      const CopyStanding s = StandingOf(copy, now_ms, c);
      if (s == CopyStanding::kLost) {
        const int64_t since = copy.first_failure_ms.value_or(copy.last_proven_ms.value_or(0));
        if (copy.denied || now_ms - since >= c.forget_lost_after_ms) {
          a.forget.push_back({holders[h].holder, copy.index});
        } else {
          const int64_t forget_at = since + c.forget_lost_after_ms;
          if (!a.next_forget_ms || forget_at < *a.next_forget_ms) a.next_forget_ms = forget_at;
        }
        continue;
      }
      if (!(s == CopyStanding::kProven || s == CopyStanding::kSuspect)) continue;
      if (s == CopyStanding::kSuspect) {
        const int64_t lost_at = *copy.first_failure_ms + c.holder_grace_ms;
        if (!a.next_change_ms || lost_at < *a.next_change_ms) a.next_change_ms = lost_at;
      }
      counted[copy.index].push_back({s == CopyStanding::kSuspect, h});
    }
  }
  // Over the cap: proven copies are kept before suspect ones, and among equals
  // the holders listed first (the earlier placements).
  std::vector<uint32_t> counted_n(n, 0);
  for (uint32_t i = 0; i < n; ++i) {
    auto& list = counted[i];
    const uint32_t room = max_copies > proven[i] ? max_copies - proven[i] : 0;
    if (list.size() > room) {
      std::stable_sort(list.begin(), list.end(),
                       [](const Counted& x, const Counted& y) { return x.suspect < y.suspect; });
      for (std::size_t j = room; j < list.size(); ++j) {
        a.surplus.push_back({holders[list[j].holder].holder, i});
      }
      list.resize(room);
    }
    for (const auto& cc : list) {
      if (!cc.suspect) ++proven[i];
    }
    counted_n[i] =
        proven[i] + static_cast<uint32_t>(std::count_if(
                        list.begin(), list.end(), [](const Counted& x) { return x.suspect; }));
  }
  for (uint32_t i = 0; i < n; ++i) {
    a.proven_fragments += proven[i] > 0;
    a.counted_fragments += counted_n[i] > 0;
    a.proven_units += std::min(proven[i], r.copies);
    a.counted_units += std::min(counted_n[i], r.copies);
  }
  const bool small = r.copies > 1;
  a.margin = small ? static_cast<int32_t>(counted_n.empty() ? 0 : counted_n[0]) - 1
                   : static_cast<int32_t>(a.counted_fragments) - static_cast<int32_t>(r.data);
  a.state = a.margin < 0                  ? Recoverability::kLost
            : a.proven_units == r.units() ? Recoverability::kHealthy
                                          : Recoverability::kDegraded;
  const uint32_t threshold = r.RepairThreshold(c);
  const uint32_t measure = small ? a.counted_units : a.counted_fragments;
  // Rebuilding needs a fetch unless the payload is here (a small copy is one).
  const bool keeps_small_copy =
      small && std::any_of(local.begin(), local.end(), [&](uint32_t i) { return i < n; });
  const bool must_fetch = payload == Payload::kFetched && !keeps_small_copy;
  auto rebuild_to_full = [&](const std::vector<uint32_t>& have) {
    for (uint32_t i = 0; i < n; ++i) {
      for (uint32_t k = std::min(have[i], r.copies); k < r.copies; ++k) a.rebuild.push_back(i);
    }
  };
  if (measure < threshold) {
    a.trigger = RepairTrigger::kBelowThreshold;
    rebuild_to_full(must_fetch && c.batch_rebuilds_suspects ? proven : counted_n);
  } else if (!(must_fetch && !small && c.coded_repair_at_threshold)) {
    rebuild_to_full(counted_n);
    if (!a.rebuild.empty()) a.trigger = RepairTrigger::kLostCopies;
  }
  std::sort(a.surplus.begin(), a.surplus.end());
  std::sort(a.forget.begin(), a.forget.end());
  return a;
}

TEST_F(PolicyTest, AssessMatchesTheReferenceOnRandomViews) {
  uint64_t x = 987654321;
  auto next = [&x] {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  };
  const Redundancy tiers[] = {Small(), Medium(), RedundancyOf(*core::PlanForSize(300 * core::kMiB)),
                              RedundancyOf(*core::MakePlan(core::Tier::kMedium, 5 << 20, 4, 2))};
  AssessScratch scratch;
  Assessment reused;
  cfg_.holder_grace_ms = 10 * kHour;
  cfg_.forget_lost_after_ms = 40 * kHour;
  int with_surplus = 0, with_forget = 0, below = 0;
  for (int round = 0; round < 400; ++round) {
    const Redundancy& r = tiers[round % 4];
    std::vector<HolderView> holders;
    const int n = static_cast<int>(next() % (r.units() + 12));
    for (int h = 0; h < n; ++h) {
      HolderView v;
      v.holder = Id(static_cast<uint8_t>(h + 1));
      const int copies = 1 + static_cast<int>(next() % 3);
      for (int c = 0; c < copies; ++c) {
        CopyHistory copy;
        copy.index = static_cast<uint32_t>(next() % (r.fragments + 1));  // sometimes out of range
        switch (next() % 6) {
          case 0:  // unverified
            break;
          case 1:  // proven
            copy = AfterPush(copy.index, now() - static_cast<int64_t>(next() % 100) * kHour);
            break;
          case 2:  // denied
            copy = AfterAudit(AfterPush(copy.index, now() - 50 * kHour), CopyObservation::kDenied,
                              now() - static_cast<int64_t>(next() % 3) * kHour);
            break;
          default:  // failing for some hours: suspect, lost or to be forgotten
            copy =
                AfterAudit(AfterPush(copy.index, now() - 200 * kHour), CopyObservation::kUnanswered,
                           now() - static_cast<int64_t>(next() % 60) * kHour);
            break;
        }
        v.copies.push_back(copy);
      }
      std::sort(v.copies.begin(), v.copies.end(),
                [](const auto& a, const auto& b) { return a.index < b.index; });
      holders.push_back(v);
    }
    std::vector<uint32_t> local;
    if (next() % 3 == 0) local.push_back(static_cast<uint32_t>(next() % r.fragments));
    cfg_.coded_repair_at_threshold = next() % 2 == 0;
    cfg_.batch_rebuilds_suspects = next() % 2 == 0;
    const Payload payload = next() % 2 == 0 ? Payload::kLocal : Payload::kFetched;
    const Assessment want = ReferenceAssess(r, holders, local, now(), cfg_, payload);
    Assess(r, holders, local, now(), cfg_, scratch, reused, payload);
    for (const Assessment* got : {&reused}) {
      EXPECT_EQ(got->proven_fragments, want.proven_fragments);
      EXPECT_EQ(got->counted_fragments, want.counted_fragments);
      EXPECT_EQ(got->proven_units, want.proven_units);
      EXPECT_EQ(got->counted_units, want.counted_units);
      EXPECT_EQ(got->margin, want.margin);
      EXPECT_EQ(got->state, want.state);
      EXPECT_EQ(got->trigger, want.trigger);
      EXPECT_EQ(got->rebuild, want.rebuild);
      EXPECT_EQ(got->surplus, want.surplus);
      EXPECT_EQ(got->forget, want.forget);
      EXPECT_EQ(got->next_change_ms, want.next_change_ms);
      EXPECT_EQ(got->next_forget_ms, want.next_forget_ms);
    }
    EXPECT_EQ(Assess(r, holders, local, now(), cfg_, payload).rebuild, want.rebuild);
    with_surplus += !want.surplus.empty();
    with_forget += !want.forget.empty();
    below += want.trigger == RepairTrigger::kBelowThreshold;
  }
  // The random views reach every branch.
  EXPECT_GT(with_surplus, 20);
  EXPECT_GT(with_forget, 20);
  EXPECT_GT(below, 20);
}

TEST_F(PolicyTest, HoldersStepInWhenTheMaintainersBeforeThemGoQuiet) {
  MaintenanceClock m;
  m.last_checked_ms = now();
  m.last_audited_by_peer_ms = now();
  EXPECT_TRUE(ShouldCheck(0, m, now(), false, cfg_));  // the owner always checks
  EXPECT_FALSE(ShouldCheck(1, m, now(), false, cfg_));
  EXPECT_TRUE(ShouldCheck(1, m, now(), /*forced=*/true, cfg_));
  clock_.Advance(cfg_.takeover_delay_ms);
  EXPECT_TRUE(ShouldCheck(1, m, now(), false, cfg_));   // rank 1 steps in after one delay
  EXPECT_FALSE(ShouldCheck(2, m, now(), false, cfg_));  // rank 2 waits for two
  clock_.Advance(cfg_.takeover_delay_ms);
  EXPECT_TRUE(ShouldCheck(2, m, now(), false, cfg_));

  // Someone keeps auditing but never repairs: the watch interval still checks.
  MaintenanceClock w;
  w.last_checked_ms = now();
  clock_.Advance(cfg_.watch_interval_ms);
  w.last_audited_by_peer_ms = now();
  EXPECT_TRUE(ShouldCheck(3, w, now(), false, cfg_));
}

TEST_F(PolicyTest, NextCheckDueIsTheFirstTimeShouldCheckHolds) {
  EXPECT_EQ(NextCheckDueMs(0, {}, cfg_), std::numeric_limits<int64_t>::min());
  MaintenanceClock fresh;  // never checked: due at once
  fresh.last_audited_by_peer_ms = now();
  EXPECT_EQ(NextCheckDueMs(2, fresh, cfg_), std::numeric_limits<int64_t>::min());
  EXPECT_TRUE(ShouldCheck(2, fresh, now(), false, cfg_));
  for (uint32_t rank : {1u, 2u, 5u, 40u}) {
    for (int64_t audited_ago : {int64_t{0}, 3 * kHour, 100 * kHour, 900 * kHour}) {
      MaintenanceClock m;
      m.last_checked_ms = now() - 10 * kHour;
      m.last_audited_by_peer_ms = now() - audited_ago;
      const int64_t due = NextCheckDueMs(rank, m, cfg_);
      if (due > now()) {
        EXPECT_FALSE(ShouldCheck(rank, m, due - 1, false, cfg_));
      }
      EXPECT_TRUE(ShouldCheck(rank, m, due, false, cfg_)) << rank << " " << audited_ago;
      EXPECT_TRUE(ShouldCheck(rank, m, due + 7 * kHour, false, cfg_));
      // A lower rank is never due later.
      if (rank > 1) {
        EXPECT_LE(NextCheckDueMs(rank - 1, m, cfg_), due);
      }
    }
  }
}

TEST_F(PolicyTest, HoldersActOnANeedThatLasted) {
  MaintenanceClock m;
  EXPECT_TRUE(ShouldAct(0, m, now(), cfg_));
  EXPECT_FALSE(ShouldAct(1, m, now(), cfg_));
  m.need_since_ms = now();
  EXPECT_FALSE(ShouldAct(1, m, now(), cfg_));
  clock_.Advance(cfg_.takeover_delay_ms);
  EXPECT_TRUE(ShouldAct(1, m, now(), cfg_));
  EXPECT_FALSE(ShouldAct(2, m, now(), cfg_));
  cfg_.takeover_delay_ms = 0;
  EXPECT_TRUE(ShouldAct(5, m, now(), cfg_));
}

// A holder whose predecessors have been quiet for its whole takeover delay
// acts on a need at once: nobody before it is looking after the tessera.
TEST_F(PolicyTest, HoldersActAtOnceBelowTheThresholdWhenTheOnesBeforeThemAreQuiet) {
  const auto below = RepairTrigger::kBelowThreshold;
  MaintenanceClock m;
  m.need_since_ms = now();
  m.last_audited_by_peer_ms = now() - 2 * cfg_.takeover_delay_ms;
  EXPECT_TRUE(ShouldAct(1, m, now(), cfg_, below));
  EXPECT_TRUE(ShouldAct(2, m, now(), cfg_, below));
  EXPECT_FALSE(ShouldAct(3, m, now(), cfg_, below));  // rank 3 waits 3 delays
  // Copies known lost above the threshold wait for the delay all the same.
  EXPECT_FALSE(ShouldAct(1, m, now(), cfg_, RepairTrigger::kLostCopies));
  // Audited a moment ago: the need must last the delay, as before.
  m.last_audited_by_peer_ms = now() - 1;
  EXPECT_FALSE(ShouldAct(1, m, now(), cfg_, below));
  // Never audited by one before it (a holder new to the tessera): it waits.
  m.last_audited_by_peer_ms.reset();
  EXPECT_FALSE(ShouldAct(1, m, now(), cfg_, below));
}

// ---- the pass -----------------------------------------------------------------

TEST_F(PolicyTest, QueueLeastMarginFirstDeficitLast) {
  std::vector<QueueItem> q;
  auto hash = [](uint8_t b) {
    core::ContentHash h;
    h.bytes.fill(b);
    return h;
  };
  q.push_back({hash(1), 5, false, false});
  q.push_back({hash(2), 1, true, false});
  q.push_back({hash(3), 2, false, false});
  q.push_back({hash(4), 2, false, true});
  OrderRepairQueue(q);
  std::vector<uint8_t> order;
  for (const auto& i : q) order.push_back(i.tessera.bytes[0]);
  EXPECT_THAT(order, ElementsAre(4, 3, 1, 2));
}

TEST_F(PolicyTest, BudgetRefillsOverADayAndNeverHoldsMore) {
  cfg_.repair_bytes_per_day = 24 * 1000;  // 1000 bytes per hour
  RepairBudget b(cfg_, now());
  EXPECT_EQ(b.available(now()), 24'000u);
  EXPECT_TRUE(b.TrySpend(20'000, now()));
  EXPECT_FALSE(b.TrySpend(5'000, now()));
  clock_.Advance(kHour);
  EXPECT_EQ(b.available(now()), 5'000u);
  EXPECT_TRUE(b.TrySpend(5'000, now()));
  clock_.Advance(1000 * kHour);
  EXPECT_EQ(b.available(now()), 24'000u);
  // Too big for any day: allowed once the bucket is full, leaving it in debt.
  EXPECT_TRUE(b.TrySpend(50'000, now()));
  EXPECT_EQ(b.available(now()), 0u);
  clock_.Advance(24 * kHour);
  EXPECT_EQ(b.available(now()), 0u);  // still paying it off
  b.Charge(1, now());
  EXPECT_FALSE(b.TrySpend(1, now()));
}

TEST_F(PolicyTest, RepairCostCountsFetchesAndPushes) {
  auto r = Medium();
  EXPECT_EQ(RepairCost(r, 3, /*payload_local=*/true), 3 * r.fragment_bytes);
  EXPECT_EQ(RepairCost(r, 3, /*payload_local=*/false), 19 * r.fragment_bytes);
}

}  // namespace
}  // namespace tesseras::replication
