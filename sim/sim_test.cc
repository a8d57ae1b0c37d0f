#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>

#include "sim/policy_sim.h"
#include "sim/scenario.h"
#include "sim/wire_costs.h"

namespace tesseras::sim {
namespace {

Scenario Small(std::vector<std::string> overrides = {}) {
  auto s = LoadScenario(std::string(TESSERAS_SIM_DIR) + "/testdata/small.toml", overrides);
  EXPECT_TRUE(s.ok()) << s.error().message;
  return *s;
}

const WireCosts& CostsFor(const Scenario& s) {
  static auto* costs = new WireCosts(*MeasureWireCosts(WorkloadSizes(s.workload), 2));
  return *costs;
}

RunReport Simulate(const Scenario& s, bool eager, bool verify = false) {
  RunOptions o;
  o.policy_name = eager ? "eager" : "configured";
  o.policy = eager ? EagerOf(s.policy) : s.policy;
  o.verify_cache = verify;
  o.daily_series = true;
  auto r = RunPolicySimulation(s, CostsFor(s), o);
  EXPECT_TRUE(r.ok()) << r.error().message;
  return *r;
}

TEST(WireCostsTest, SizesComeFromTheRealEncoders) {
  auto c = MeasureWireCosts({1 << 20, 16ull << 20, 256ull << 20}, 2);
  ASSERT_TRUE(c.ok()) << c.error().message;
  ASSERT_EQ(c->classes.size(), 3u);
  // A TLS 1.3 handshake with two Ed25519 certificates: about a kilobyte or two.
  EXPECT_GT(c->tls_handshake_bytes, 500u);
  EXPECT_LT(c->tls_handshake_bytes, 4000u);
  for (const auto& k : c->classes) {
    const uint64_t shard = k.plan.shard_size;
    // A push carries the fragment, its chunk frames and a Replicate with the plan.
    EXPECT_GT(k.push_bytes, shard);
    EXPECT_LT(k.push_bytes, shard + shard / 50 + 20000) << k.payload_bytes;
    EXPECT_GT(k.fetch_bytes, shard);
    EXPECT_LT(k.push_held_bytes, 20000u);
    // One proof with 2 samples is two 16 KiB leaves and their paths (at most
    // 33,608 bytes, docs/ATTESTATION.md); small fragments have shorter leaves.
    EXPECT_LE(k.attest_response_per_proof, 33608u);
    EXPECT_GT(k.attest_response_bytes, k.attest_response_per_proof);
    EXPECT_EQ(k.attest_batch, 31u);
    EXPECT_EQ(k.AuditBytes(31) < k.AuditBytes(32), true);  // a 32nd index takes a second batch
    EXPECT_LT(k.record_store_bytes, 17u * 1024 + 100);
  }
  EXPECT_EQ(c->classes[0].redundancy.units(), 7u);
  EXPECT_EQ(c->classes[1].redundancy.units(), 24u);
  EXPECT_EQ(c->classes[2].redundancy.units(), 72u);
  // Leaves are whole 16 KiB from 16 KiB fragments on: the per-proof cost is
  // then the same for every larger tier apart from longer paths.
  EXPECT_GT(c->classes[2].attest_response_per_proof, c->classes[1].attest_response_per_proof);
}

TEST(PolicySimTest, SameSeedSameReport) {
  const Scenario s = Small({"scenario.years=0.15"});
  const RunReport a = Simulate(s, false);
  const RunReport b = Simulate(s, false);
  EXPECT_EQ(ToJson(a, /*include_run_stats=*/false), ToJson(b, false));
  Scenario other = Small({"scenario.seed=8", "scenario.years=0.1"});
  EXPECT_NE(ToJson(Simulate(other, false), false), ToJson(a, false));
}

TEST(PolicySimTest, InvariantsHoldForBothPoliciesAndGraceSavesTraffic) {
  const Scenario s = Small();
  std::vector<RunReport> runs;
  for (bool eager : {true, false}) {
    runs.push_back(Simulate(s, eager));
    const RunReport& r = runs.back();
    // No fragment placed twice on one holder, no /24 above the cap, the
    // ledgers sum to zero, no tessera counted lost while k fragments exist,
    // the cache of assessments always agreed with a fresh one: every check
    // records a violation here when it fails.
    EXPECT_THAT(r.violations, ::testing::IsEmpty()) << r.policy;
    // Something happened: the churn reached the maintenance code.
    EXPECT_GT(r.departures, 20u);
    EXPECT_GT(r.owner_departures, 10u);
    EXPECT_GE(r.disk_failures, 3u);
    EXPECT_GT(r.outages, 5u);
    EXPECT_GT(r.repairs, 50u) << r.policy;
    // Every redundant copy has one cause and one maker.
    EXPECT_LE(r.copies_created_redundant, r.copies_created);
    auto sum = [](const std::array<uint64_t, 3>& a) { return a[0] + a[1] + a[2]; };
    EXPECT_EQ(sum(r.redundant_by_cause), r.copies_created_redundant) << r.policy;
    EXPECT_EQ(sum(r.redundant_by_maker), r.copies_created_redundant) << r.policy;
    EXPECT_GT(r.checks_owner, 1000u);
    EXPECT_GT(r.checks_watch, 100u);
    EXPECT_GT(r.checks_quiet, 100u);
    EXPECT_GT(r.oracle_repair_bytes, 0u);
    // Eager repair pays at least what the oracle pays. A batching policy can
    // pay less within a run (it may end it owing copies, and the oracle's
    // new copies can be lost again), so it is held to the lower bound, with
    // what it owes at the end.
    if (eager) {
      EXPECT_LE(r.oracle_repair_bytes, r.repair_bytes);
    }
    EXPECT_LE(r.bound_repair_bytes, r.repair_bytes + r.repair_debt_bytes) << r.policy;
    // The lower bound starts from the same placement and never loses a copy
    // it re-created: it pays for a subset of the oracle's losses.
    EXPECT_GT(r.bound_repair_bytes, 0u);
    EXPECT_LE(r.bound_repair_bytes, r.oracle_repair_bytes) << r.policy;
    EXPECT_LE(r.bound_copies, r.oracle_copies) << r.policy;
    EXPECT_GT(r.audit_bytes, 0u);
    if (eager) {
      EXPECT_EQ(r.probes, 0u);  // no grace: nothing is suspect
    }
    EXPECT_EQ(r.days.size(), static_cast<std::size_t>(s.years * 365));
    EXPECT_FALSE(r.calibration.empty());
  }
  // The configured policy's grace period saves traffic over eager repair.
  const RunReport& eager = runs[0];
  const RunReport& lazy = runs[1];
  EXPECT_LT(lazy.repair_bytes, eager.repair_bytes);
  EXPECT_LT(lazy.traffic_vs_oracle, eager.traffic_vs_oracle);
}

// Probes of suspect holders between checks (replication::NextProbeMs): the
// same churn with and without them. Desktops off for hours at a time are
// seen off at several checks in a row; probes find them on in between, so
// fewer copies are re-created while every wanted copy still exists.
TEST(PolicySimTest, ProbesSpareTheCopiesOfHoldersThatCameBack) {
  const RunReport without = Simulate(Small({"policy.suspect_probe_hours=0"}), false);
  const RunReport with = Simulate(Small({"policy.suspect_probe_hours=6"}), false);
  EXPECT_THAT(with.violations, ::testing::IsEmpty());
  EXPECT_EQ(without.probes, 0u);
  EXPECT_EQ(without.probe_bytes, 0u);
  EXPECT_GT(with.probes, 1000u);
  EXPECT_GT(with.probes_answered, 100u);
  EXPECT_LT(with.probes_answered, with.probes);  // some are still off when probed
  EXPECT_GT(with.probe_bytes, 0u);
  EXPECT_LT(with.probe_bytes, with.audit_bytes);
  // Same departures (the churn has its own random streams) ...
  EXPECT_EQ(with.departures, without.departures);
  // ... fewer copies made for holders that were only down.
  std::printf(
      "[ figures  ] redundant copies %llu -> %llu, copies created %llu -> %llu, "
      "repair bytes %llu -> %llu, audit bytes %llu -> %llu\n",
      static_cast<unsigned long long>(without.copies_created_redundant),
      static_cast<unsigned long long>(with.copies_created_redundant),
      static_cast<unsigned long long>(without.copies_created),
      static_cast<unsigned long long>(with.copies_created),
      static_cast<unsigned long long>(without.repair_bytes),
      static_cast<unsigned long long>(with.repair_bytes),
      static_cast<unsigned long long>(without.audit_bytes),
      static_cast<unsigned long long>(with.audit_bytes));
  EXPECT_LT(with.redundant_by_cause[1], without.redundant_by_cause[1]);  // holder_down
  EXPECT_LT(with.copies_created, without.copies_created);
}

TEST(PolicySimTest, TheOraclePaysAShareOfOneRebuildPerLostFragment) {
  // The oracle pays for each lost unit its push and, for a coded fragment
  // of an owner that has left, 1/(n - k) of a rebuild's k - 1 fetches: the
  // least any policy pays per lost unit in the long run, so that even a
  // policy that batches its rebuilds pays more.
  const Scenario s = Small();
  const WireCosts& costs = CostsFor(s);
  RunOptions batched;
  batched.policy = s.policy;
  batched.policy.coded_repair_at_threshold = true;
  batched.policy.repair_threshold = 0.75;
  auto r = RunPolicySimulation(s, costs, batched);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_THAT(r->violations, ::testing::IsEmpty());
  EXPECT_GT(r->owner_departures, 10u);
  // A tier's payload sizes differ: bound with its cheapest and dearest class.
  for (std::size_t tier = 0; tier < 3; ++tier) {
    uint64_t min_push = UINT64_MAX, max_push = 0, max_share = 0;
    for (const SizeClass& c : costs.classes) {
      if (static_cast<std::size_t>(c.plan.tier) != tier) continue;
      const auto& red = c.redundancy;
      min_push = std::min(min_push, c.push_bytes);
      max_push = std::max(max_push, c.push_bytes);
      if (red.copies == 1) {
        max_share = std::max(max_share,
                             uint64_t{red.data - 1} * c.fetch_bytes / (red.fragments - red.data));
      }
    }
    ASSERT_GT(max_push, 0u) << "the workload has no class of tier " << tier;
    const uint64_t copies = r->oracle_copies_by_tier[tier];
    const uint64_t bytes = r->oracle_bytes_by_tier[tier];
    const uint64_t share = r->oracle_share_bytes_by_tier[tier];
    EXPECT_GT(copies, 0u) << tier;
    // Each copy: one push, plus at most one rebuild share.
    EXPECT_GE(bytes, copies * min_push + share) << tier;
    EXPECT_LE(bytes, copies * max_push + share) << tier;
    EXPECT_LE(share, copies * max_share) << tier;
    if (tier > 0) {
      EXPECT_GT(share, 0u) << "no loss after an owner left, tier " << tier;
    } else {
      EXPECT_EQ(share, 0u);  // a small copy: any holder has the payload
    }
  }
  EXPECT_LE(r->oracle_repair_bytes, r->repair_bytes);
}

TEST(PolicySimTest, CopiesWhoseClaimEndedAreForgotten) {
#if defined(TESSERAS_SANITIZED)
  // Logic only, and the longest runs of the suite under the sanitizers
  // (about a minute each): the debug suite runs it; the sanitizer suite runs
  // the same simulation code through the other PolicySimTest cases.
  GTEST_SKIP() << "run by the debug suite";
#endif
  // Finish records a violation for every copy a record still lists longer
  // after its claim ended (the holder left or lost its disk) than the views
  // tracking it need to audit it, call it lost and forget it. A claim that
  // never answered used to stay "unverified" for ever, and a holder that lost
  // its disk kept a view it never checked again: the records grew from about
  // 10 to about 40 listed copies per tessera over a year while about 18
  // existed.
  const Scenario s = Small({"scenario.years=0.6"});
  for (bool eager : {true, false}) {
    const RunReport r = Simulate(s, eager);
    EXPECT_THAT(r.violations, ::testing::IsEmpty()) << r.policy;
    EXPECT_GT(r.forgotten, 0u) << r.policy;
    EXPECT_GT(r.existing_copies, 0u);
    EXPECT_GE(r.listed_copies, r.existing_copies) << r.policy;
  }
}

TEST(PolicySimTest, ShortcutsChangeNothing) {
#if defined(TESSERAS_SANITIZED)
  // Logic only, and the longest runs of the suite under the sanitizers
  // (about a minute each): the debug suite runs it; the sanitizer suite runs
  // the same simulation code through the other PolicySimTest cases.
  GTEST_SKIP() << "run by the debug suite";
#endif
  // The verify mode recomputes every rank, re-assesses at every check and
  // evaluates every holder at every pass, and records a violation when a
  // reused assessment differs from a fresh one; the fast mode must reach
  // exactly the same outcome.
  const Scenario s = Small({"scenario.years=0.12"});
  for (bool eager : {true, false}) {
    const RunReport fast = Simulate(s, eager, /*verify=*/false);
    const RunReport slow = Simulate(s, eager, /*verify=*/true);
    EXPECT_THAT(slow.violations, ::testing::IsEmpty());
    EXPECT_EQ(fast.repair_bytes, slow.repair_bytes);
    EXPECT_EQ(fast.audit_bytes, slow.audit_bytes);
    EXPECT_EQ(fast.checks_owner, slow.checks_owner);
    EXPECT_EQ(fast.checks_quiet, slow.checks_quiet);
    EXPECT_EQ(fast.checks_watch, slow.checks_watch);
    EXPECT_EQ(fast.repairs, slow.repairs);
    EXPECT_EQ(fast.copies_created, slow.copies_created);
    EXPECT_EQ(fast.forgotten, slow.forgotten);
    EXPECT_EQ(fast.lost.size(), slow.lost.size());
    EXPECT_LT(fast.rank_computations, slow.rank_computations);
    EXPECT_GT(fast.assessments_reused, 0u);
  }
}

TEST(PolicySimTest, ShippedScenariosRunAtASmallScale) {
  // The full scale (10,000 nodes, 100,000 tesseras, ten years) is a
  // benchmark (docs/SIMULATION.md); the suite runs every shipped scenario's
  // churn model on a small network for a few simulated months.
  for (const char* name : {"datacenter", "home", "laptops", "blackout"}) {
    auto s = LoadScenario(std::string(TESSERAS_SIM_DIR) + "/scenarios/" + name + ".toml",
                          {"scenario.nodes=100", "scenario.tesseras=200", "scenario.years=0.12",
                           "scenario.calibration_day=10"});
    ASSERT_TRUE(s.ok()) << name << ": " << s.error().message;
    const WireCosts costs = *MeasureWireCosts(WorkloadSizes(s->workload), s->pass.audit_samples);
    for (bool eager : {true, false}) {
      RunOptions o;
      o.policy_name = eager ? "eager" : "configured";
      o.policy = eager ? EagerOf(s->policy) : s->policy;
      auto r = RunPolicySimulation(*s, costs, o);
      ASSERT_TRUE(r.ok()) << name << ": " << r.error().message;
      EXPECT_THAT(r->violations, ::testing::IsEmpty()) << name << " " << o.policy_name;
      EXPECT_EQ(r->scenario, name);
      EXPECT_GT(r->audit_bytes, 0u) << name;
      EXPECT_GT(r->checks_owner, 0u) << name;
      // On a short run a lazy policy may still owe copies at the end.
      EXPECT_LE(r->bound_repair_bytes, r->repair_bytes + r->repair_debt_bytes)
          << name << " " << o.policy_name;
      EXPECT_GT(r->node_days, 100 * 0.12 * 365 * 0.9) << name;
      // Every tessera was placed at the start, even where the machines are
      // off at midnight (laptops), so the oracle has copies to lose and
      // re-create.
      EXPECT_GT(r->publish_bytes, 0u) << name;
      EXPECT_GT(r->departures, 0u) << name;
      EXPECT_GT(r->oracle_copies, 0u) << name << " " << o.policy_name;
    }
  }
}

}  // namespace
}  // namespace tesseras::sim
