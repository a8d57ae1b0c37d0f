// The maintenance policy as the whole service runs it: many ReplicationServices
// over the in-process network (testing/sim_network.h) on one manual clock.
// Sleepers, returning holders, batch repair, owners who leave for good, two
// maintainers at once, refusals, the repair budget.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "core/metrics.h"
#include "crypto/blake3_hasher.h"
#include "replication/file_io.h"
#include "replication/placement.h"
#include "replication/replication_service.h"
#include "replication/testing/random_bytes.h"
#include "replication/testing/sim_network.h"
#include "storage/test_util.h"

namespace tesseras::replication {
namespace {

using ::testing::IsEmpty;
using testing::SimNetwork;
using testing::SimNode;

constexpr int64_t kHour = 3600 * 1000;

using testing::RandomBytes;

// A plan store whose writes of holder histories fail on demand, as a full
// disk makes SQLite fail them; everything else goes to `inner`.
class FillablePlanStore final : public core::PlanStore {
 public:
  explicit FillablePlanStore(core::PlanStore& inner) : inner_(inner) {}
  bool full = false;
  core::Result<void> PutPlan(const core::ContentHash& t, const core::NodeId& o,
                             std::span<const uint8_t> e) override {
    return inner_.PutPlan(t, o, e);
  }
  core::Result<void> PutPlanOf(const core::ContentHash& k, const core::ContentHash& t,
                               const core::NodeId& o, std::span<const uint8_t> e) override {
    return inner_.PutPlanOf(k, t, o, e);
  }
  core::Result<std::size_t> CountPlansOf(const core::ContentHash& t) override {
    return inner_.CountPlansOf(t);
  }
  core::Result<void> DeletePlan(const core::ContentHash& t) override {
    return inner_.DeletePlan(t);
  }
  core::Result<std::optional<std::vector<uint8_t>>> GetPlan(const core::ContentHash& t) override {
    return inner_.GetPlan(t);
  }
  core::Result<std::vector<core::PlanInfo>> ListPlans() override { return inner_.ListPlans(); }
  core::Result<std::vector<core::HolderView>> GetHolders(const core::ContentHash& t) override {
    return inner_.GetHolders(t);
  }
  core::Result<void> SetHolders(const core::ContentHash& t,
                                const std::vector<core::HolderView>& h) override {
    if (full)
      return core::MakeError(core::ErrorCode::kResourceExhausted, "database or disk is full");
    return inner_.SetHolders(t, h);
  }
  core::Result<core::MaintenanceClock> GetMaintenance(const core::ContentHash& t) override {
    return inner_.GetMaintenance(t);
  }
  core::Result<void> SetMaintenance(const core::ContentHash& t,
                                    const core::MaintenanceClock& c) override {
    return inner_.SetMaintenance(t, c);
  }

 private:
  core::PlanStore& inner_;
};

class MaintenanceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    scratch_ = std::filesystem::temp_directory_path() /
               ("tesseras-maint-" + std::to_string(::getpid()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(scratch_);
    config_.scratch_dir = scratch_;
  }
  void TearDown() override { std::filesystem::remove_all(scratch_); }

  std::vector<SimNode*> MakeNodes(std::size_t count, uint64_t capacity = UINT64_MAX) {
    std::vector<SimNode*> out;
    for (std::size_t i = 0; i < count; ++i) {
      out.push_back(
          &net_.AddNode("127.0." + std::to_string(next_subnet_++) + ".1:7700", config_, capacity));
    }
    return out;
  }

  core::ContentHash AddPayload(SimNode& owner, const std::vector<uint8_t>& payload) {
    auto hash = crypto::Blake3(payload);
    core::MemorySource src(payload);
    EXPECT_TRUE(owner.blobs.Put(hash, payload.size(), src).ok());
    return hash;
  }

  // Online nodes that hold fragment `index` of `hash` with the right bytes.
  std::vector<SimNode*> HoldersOf(const core::ContentHash& hash, uint32_t index) {
    std::vector<SimNode*> out;
    for (auto& n : net_.nodes()) {
      if (!n->online) continue;
      auto f = n->fragments.Get(hash, index);
      if (f.ok() && n->fragments.Verify(hash, index).ok()) out.push_back(n.get());
    }
    return out;
  }

  uint64_t TheyStoreForUs(SimNode& owner) {
    uint64_t total = 0;
    const auto entries = owner.ledger.All();  // the range must outlive the loop
    for (const auto& e : *entries) total += e.bytes_they_store_for_us;
    return total;
  }

  std::vector<SimNode*> HolderNodes(const ReplicationReport& report) {
    std::vector<SimNode*> out;
    for (const auto& h : report.holders) out.push_back(net_.Find(h.holder));
    return out;
  }

  std::size_t Regenerated(const std::vector<RepairReport>& pass) {
    std::size_t n = 0;
    for (const auto& r : pass) n += r.regenerated.size();
    return n;
  }

  std::filesystem::path scratch_;
  ReplicationConfig config_;
  core::ManualClock clock_;
  SimNetwork net_{clock_};
  int next_subnet_ = 1;
};

// A third of the holders sleep through a pass: within the grace nothing is
// re-created, nothing is sent, the ledger does not move; awake again, they
// prove on the next pass.
TEST_F(MaintenanceTest, SleepersWithinTheGraceCostNothing) {
  config_.policy.holder_grace_ms = 72 * kHour;
  auto nodes = MakeNodes(30);
  auto hash = AddPayload(*nodes[0], RandomBytes(5 * core::kMiB, 1));
  auto report = *nodes[0]->service->ReplicateTessera(hash);
  ASSERT_EQ(report.holders.size(), 24u);
  const uint64_t credit = TheyStoreForUs(*nodes[0]);
  auto holders = HolderNodes(report);
  for (int i = 0; i < 8; ++i) holders[i]->online = false;

  clock_.Advance(24 * kHour);
  auto pass = *nodes[0]->service->RunRepairPass();
  ASSERT_EQ(pass.size(), 1u);
  EXPECT_EQ(pass[0].action, "none");
  EXPECT_EQ(Regenerated(pass), 0u);
  EXPECT_EQ(pass[0].bytes_sent + pass[0].bytes_fetched, 0u);
  EXPECT_EQ(pass[0].before.fragments_verified, 16u);
  EXPECT_EQ(pass[0].before.fragments_counted, 24u);
  EXPECT_EQ(pass[0].before.state, HealthState::kDegraded);
  int suspects = 0;
  for (const auto& h : pass[0].before.holders) suspects += h.suspect_since.has_value();
  EXPECT_EQ(suspects, 8);
  EXPECT_EQ(TheyStoreForUs(*nodes[0]), credit);

  for (int i = 0; i < 8; ++i) holders[i]->online = true;
  clock_.Advance(24 * kHour);
  auto health = *nodes[0]->service->CheckTesseraHealth(hash);
  EXPECT_EQ(health.state, HealthState::kHealthy);
  EXPECT_EQ(health.fragments_verified, 24u);
  for (const auto& h : health.holders) EXPECT_FALSE(h.suspect_since.has_value());
  EXPECT_EQ(TheyStoreForUs(*nodes[0]), credit);
}

// A desktop that is off at every daily check but on in between: each check
// starts a failure run and the probe six hours later ends it, so at the
// fourth check, 72 h after the first, it is still only suspect. With probes
// off (the next test) the same sleeper's copy is called lost and re-created.
TEST_F(MaintenanceTest, AProbeBetweenChecksKeepsASleeperFromBeingCalledLost) {
  config_.policy.holder_grace_ms = 72 * kHour;
  config_.policy.suspect_probe_interval_ms = 6 * kHour;
  auto nodes = MakeNodes(30);
  auto hash = AddPayload(*nodes[0], RandomBytes(5 * core::kMiB, 21));
  auto report = *nodes[0]->service->ReplicateTessera(hash);
  ASSERT_EQ(report.holders.size(), 24u);
  SimNode* sleeper = HolderNodes(report)[0];
  const core::NodeId sleeper_id = sleeper->identity.node_id();
  auto& service = *nodes[0]->service;
  EXPECT_EQ(service.NextProbeDueMs(), std::nullopt);  // nobody suspect yet
  std::size_t answered = 0;
  for (int day = 0; day < 4; ++day) {
    clock_.Advance(day == 0 ? 24 * kHour : 18 * kHour);  // daily checks
    sleeper->online = false;
    const int64_t checked_at = clock_.NowUnixMs();
    auto pass = *service.RunRepairPass(/*forced=*/false);
    ASSERT_EQ(pass.size(), 1u);
    EXPECT_EQ(pass[0].action, "none") << "day " << day;
    EXPECT_EQ(Regenerated(pass), 0u) << "day " << day;
    for (const auto& h : pass[0].before.holders) {
      if (h.entry.holder == sleeper_id) {
        EXPECT_EQ(h.suspect_since, checked_at) << "day " << day;
      }
    }
    if (day == 3) break;
    EXPECT_EQ(service.NextProbeDueMs(), checked_at + 6 * kHour);
    clock_.Advance(6 * kHour);
    sleeper->online = true;
    auto probed = service.ProbeSuspects();
    ASSERT_OK(probed);
    EXPECT_EQ(probed->holders, 1u);  // the sleeper alone, not its 23 peers
    answered += probed->answered;
    EXPECT_EQ(service.NextProbeDueMs(), std::nullopt);  // the run ended
  }
  EXPECT_EQ(answered, 3u);
}

TEST_F(MaintenanceTest, WithoutProbesTheSameSleeperIsCalledLostAfterTheGrace) {
  config_.policy.holder_grace_ms = 72 * kHour;
  config_.policy.suspect_probe_interval_ms = 0;
  auto nodes = MakeNodes(30);
  auto hash = AddPayload(*nodes[0], RandomBytes(5 * core::kMiB, 21));
  auto report = *nodes[0]->service->ReplicateTessera(hash);
  SimNode* sleeper = HolderNodes(report)[0];
  auto& service = *nodes[0]->service;
  std::size_t regenerated = 0;
  for (int day = 0; day < 4; ++day) {
    clock_.Advance(24 * kHour);
    sleeper->online = false;
    auto pass = *service.RunRepairPass(/*forced=*/false);
    regenerated += Regenerated(pass);
    EXPECT_EQ(service.NextProbeDueMs(), std::nullopt);
    sleeper->online = true;  // on between the checks, but nobody asks
  }
  EXPECT_EQ(regenerated, 1u);  // at the fourth check, 72 h after the first
}

// A probe that finds the holder still silent moves the next one an interval
// on; the probes stop before the grace ends (the check after it decides), and
// the tesseras noted are capped (max_probe_entries).
TEST_F(MaintenanceTest, SilentProbesStepOnAndStopAtTheGraceAndTheCapHolds) {
  config_.policy.holder_grace_ms = 24 * kHour;
  config_.policy.suspect_probe_interval_ms = 6 * kHour;
  config_.max_probe_entries = 1;
  auto nodes = MakeNodes(30);
  auto first = AddPayload(*nodes[0], RandomBytes(5 * core::kMiB, 22));
  auto second = AddPayload(*nodes[0], RandomBytes(5 * core::kMiB, 23));
  auto r1 = *nodes[0]->service->ReplicateTessera(first);
  auto r2 = *nodes[0]->service->ReplicateTessera(second);
  for (auto* h : HolderNodes(r1)) h->online = false;  // every holder of both is off
  for (auto* h : HolderNodes(r2)) h->online = false;
  auto& service = *nodes[0]->service;
  const int64_t t0 = clock_.NowUnixMs();
  ASSERT_OK(service.CheckTesseraHealth(first));
  ASSERT_OK(service.CheckTesseraHealth(second));  // over the cap: not noted
  std::vector<std::size_t> probed;
  while (auto due = service.NextProbeDueMs()) {
    clock_.Advance(*due - clock_.NowUnixMs());
    auto p = service.ProbeSuspects();
    ASSERT_OK(p);
    EXPECT_EQ(p->tesseras, 1u);
    EXPECT_EQ(p->answered, 0u);
    probed.push_back(p->holders);
    ASSERT_LT(probed.size(), 10u);
  }
  // At 6, 12 and 18 h; none at 24 h, where the grace ends.
  EXPECT_EQ(probed.size(), 3u);
  for (std::size_t n : probed) EXPECT_GT(n, 0u);
  EXPECT_EQ(clock_.NowUnixMs(), t0 + 18 * kHour);
}

// One probe round asks a holder that stays silent once, whatever number of
// due tesseras it holds (their copies are recorded unanswered all the same),
// and a round stops at its deadline (the next pass) with the rest still due.
TEST_F(MaintenanceTest, ASilentHolderIsAskedOncePerRoundAndARoundStopsAtItsDeadline) {
  config_.policy.holder_grace_ms = 72 * kHour;
  config_.policy.suspect_probe_interval_ms = 6 * kHour;
  auto nodes = MakeNodes(26);  // 24 holders of each tessera among 25 peers: most hold both
  auto first = AddPayload(*nodes[0], RandomBytes(5 * core::kMiB, 24));
  auto second = AddPayload(*nodes[0], RandomBytes(5 * core::kMiB, 25));
  auto r1 = *nodes[0]->service->ReplicateTessera(first);
  auto r2 = *nodes[0]->service->ReplicateTessera(second);
  std::set<core::NodeId> in_first, in_both;
  for (const auto& h : r1.holders) in_first.insert(h.holder);
  for (const auto& h : r2.holders) {
    if (in_first.count(h.holder) != 0) in_both.insert(h.holder);
  }
  ASSERT_FALSE(in_both.empty());
  for (auto& n : net_.nodes()) {
    if (n.get() != nodes[0]) n->online = false;
  }
  auto& service = *nodes[0]->service;
  ASSERT_OK(service.CheckTesseraHealth(first));
  ASSERT_OK(service.CheckTesseraHealth(second));
  clock_.Advance(6 * kHour);
  // A deadline already past: nothing is asked, both stay due.
  auto none = service.ProbeSuspects(clock_.NowUnixMs());
  ASSERT_OK(none);
  EXPECT_EQ(none->holders, 0u);
  EXPECT_EQ(service.NextProbeDueMs(), clock_.NowUnixMs());
  auto round = service.ProbeSuspects();
  ASSERT_OK(round);
  EXPECT_EQ(round->tesseras, 2u);
  EXPECT_EQ(round->answered, 0u);
  EXPECT_EQ(round->holders, r1.holders.size() + r2.holders.size() - in_both.size());
  // Every copy of both was recorded: the next probe is an interval on.
  EXPECT_EQ(service.NextProbeDueMs(), clock_.NowUnixMs() + 6 * kHour);
  auto health = *service.CheckTesseraHealth(second);
  for (const auto& h : health.holders) {
    EXPECT_TRUE(h.suspect_since.has_value()) << h.entry.holder.Short();
  }
}

// A probe whose result cannot be written (a full disk) says so, loses
// nothing else and drops the entry, so that the loop does not retry in a
// spin; the next check notes the tessera again. A probe of a tessera whose
// plan was deleted meanwhile drops its entry without asking anyone.
TEST_F(MaintenanceTest, AProbeThatCannotBeWrittenOrWhosePlanIsGoneIsDropped) {
  config_.policy.holder_grace_ms = 72 * kHour;
  config_.policy.suspect_probe_interval_ms = 6 * kHour;
  std::unique_ptr<FillablePlanStore> disk;
  SimNode& owner = net_.AddNode("127.0.200.1:7700", config_, UINT64_MAX, [&](SimNode& n) {
    disk = std::make_unique<FillablePlanStore>(n.plans);
    n.plan_port = disk.get();
  });
  MakeNodes(26);
  auto first = AddPayload(owner, RandomBytes(5 * core::kMiB, 26));
  auto second = AddPayload(owner, RandomBytes(5 * core::kMiB, 27));
  auto r1 = *owner.service->ReplicateTessera(first);
  ASSERT_OK(owner.service->ReplicateTessera(second));
  SimNode* sleeper = HolderNodes(r1)[0];
  sleeper->online = false;
  auto& service = *owner.service;
  ASSERT_OK(service.CheckTesseraHealth(first));
  const auto before = *owner.plans.GetHolders(first);

  clock_.Advance(6 * kHour);
  sleeper->online = true;
  disk->full = true;
  auto probed = service.ProbeSuspects();
  ASSERT_OK(probed);
  EXPECT_EQ(probed->holders, 1u);
  ASSERT_EQ(probed->problems.size(), 1u);
  EXPECT_THAT(probed->problems[0], ::testing::HasSubstr("disk is full"));
  EXPECT_EQ(service.NextProbeDueMs(), std::nullopt);  // dropped, not retried
  EXPECT_EQ(*owner.plans.GetHolders(first), before);  // nothing half-written
  disk->full = false;

  // The next check notes it again; then its plan goes before the probe.
  sleeper->online = false;
  ASSERT_OK(service.CheckTesseraHealth(first));
  ASSERT_TRUE(service.NextProbeDueMs().has_value());
  ASSERT_OK(owner.plans.DeletePlan(first));
  clock_.Advance(6 * kHour);
  auto gone = service.ProbeSuspects();
  ASSERT_OK(gone);
  EXPECT_EQ(gone->tesseras, 0u);
  EXPECT_EQ(gone->holders, 0u);
  EXPECT_TRUE(gone->problems.empty());
  EXPECT_EQ(service.NextProbeDueMs(), std::nullopt);
}

// The loop wakes between passes for the earliest probe noted: a holder seen
// down at a check is asked again when its probe is due, an hour before the
// next pass (the wait is bounded; nothing sleeps in place of the event).
TEST_F(MaintenanceTest, TheRepairLoopWakesForADueProbeBetweenPasses) {
  config_.policy.holder_grace_ms = 72 * kHour;
  config_.policy.suspect_probe_interval_ms = 1000;  // the loop's shortest wait
  config_.repair_interval_secs = 3600;
  config_.repair_jitter_secs = 0;
  auto nodes = MakeNodes(26);
  auto hash = AddPayload(*nodes[0], RandomBytes(5 * core::kMiB, 35));
  auto report = *nodes[0]->service->ReplicateTessera(hash);
  SimNode* sleeper = HolderNodes(report)[0];
  sleeper->online = false;
  auto& service = *nodes[0]->service;
  ASSERT_OK(service.CheckTesseraHealth(hash));
  ASSERT_TRUE(service.NextProbeDueMs().has_value());
  auto suspect_copies_of_sleeper = [&] {
    uint32_t n = 0;
    const auto holders = *nodes[0]->plans.GetHolders(hash);
    for (const auto& h : holders) {
      if (h.holder != sleeper->identity.node_id()) continue;
      for (const auto& c : h.copies) n += c.first_failure_ms.has_value() ? 1 : 0;
    }
    return n;
  };
  EXPECT_GE(suspect_copies_of_sleeper(), 1u);
  clock_.Advance(1000);  // the probe is due
  sleeper->online = true;
  std::mutex mu;
  std::condition_variable cv;
  bool asked = false;
  sleeper->before_attest = [&](const std::vector<uint32_t>&) -> core::Result<void> {
    std::lock_guard lock(mu);
    asked = true;
    cv.notify_all();
    return core::Ok();
  };
  RepairLoop loop(service, [](const std::string&) {});
  loop.Start();
  {
    std::unique_lock lock(mu);
    EXPECT_TRUE(cv.wait_for(lock, std::chrono::seconds(30), [&] { return asked; }));
  }
  loop.Stop();
  sleeper->before_attest = nullptr;
  EXPECT_EQ(loop.passes(), 0u);                // a probe, not a pass
  EXPECT_EQ(suspect_copies_of_sleeper(), 0u);  // it answered: no longer suspect
}

// Over the cap, a node's own tessera displaces an entry of another owner's
// (strangers' tesseras cannot crowd out the probes of ours); another owner's
// never displaces anything.
TEST_F(MaintenanceTest, OverTheProbeCapOwnTesserasDisplaceOthers) {
  config_.policy.holder_grace_ms = 72 * kHour;
  config_.policy.suspect_probe_interval_ms = 6 * kHour;
  config_.max_probe_entries = 1;
  auto nodes = MakeNodes(30);
  auto foreign = AddPayload(*nodes[0], RandomBytes(5 * core::kMiB, 28));
  auto rf = *nodes[0]->service->ReplicateTessera(foreign);
  SimNode* me = HolderNodes(rf)[0];  // holds a fragment of nodes[0]'s tessera
  auto mine = AddPayload(*me, RandomBytes(5 * core::kMiB, 29));
  auto rm = *me->service->ReplicateTessera(mine);
  // One holder of each, other than `me`, goes silent.
  auto silent_of = [&](const ReplicationReport& r, const SimNode* other) {
    for (auto* n : HolderNodes(r)) {
      if (n != me && n != nodes[0] && n != other) return n;
    }
    return static_cast<SimNode*>(nullptr);
  };
  SimNode* a = silent_of(rf, nullptr);
  SimNode* b = silent_of(rm, a);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  ASSERT_NE(a, b);
  a->online = false;
  b->online = false;
  auto failures = [&](const core::ContentHash& t, const SimNode* holder) {
    const auto holders = me->plans.GetHolders(t);  // the range must outlive the loop
    for (const auto& h : *holders) {
      if (h.holder == holder->identity.node_id()) return h.copies.at(0).consecutive_failures;
    }
    return uint32_t{0};
  };
  auto& service = *me->service;
  ASSERT_OK(service.CheckTesseraHealth(foreign));  // noted: the only entry
  ASSERT_OK(service.CheckTesseraHealth(mine));     // own: displaces it
  ASSERT_OK(service.CheckTesseraHealth(foreign));  // another owner's: noted nowhere
  clock_.Advance(6 * kHour);
  auto p = service.ProbeSuspects();
  ASSERT_OK(p);
  EXPECT_EQ(p->tesseras, 1u);
  EXPECT_EQ(failures(mine, b), 2u);     // checked, then probed
  EXPECT_EQ(failures(foreign, a), 2u);  // checked twice, never probed
  clock_.Advance(6 * kHour);
  ASSERT_OK(service.ProbeSuspects());
  EXPECT_EQ(failures(mine, b), 3u);
  EXPECT_EQ(failures(foreign, a), 2u);
}

// The same sleep with the eager policy (grace 0) re-creates every fragment of
// the sleepers: the traffic the grace saves.
TEST_F(MaintenanceTest, TheEagerPolicyReCreatesWhatSleepersKeep) {
  config_.policy.holder_grace_ms = 0;
  config_.policy.repair_threshold = 1.0;
  auto nodes = MakeNodes(40);
  auto hash = AddPayload(*nodes[0], RandomBytes(5 * core::kMiB, 2));
  auto report = *nodes[0]->service->ReplicateTessera(hash);
  auto holders = HolderNodes(report);
  for (int i = 0; i < 8; ++i) holders[i]->online = false;
  auto pass = *nodes[0]->service->RunRepairPass();
  EXPECT_EQ(Regenerated(pass), 8u);
  EXPECT_EQ(pass[0].bytes_sent, 8 * report.plan.shard_size);
}

// Past the grace the copies are lost and re-created; the sleeper, back, proves
// again and counts again (up to the cap), and its credit comes back.
TEST_F(MaintenanceTest, ReturningHolderCountsAgainAndRegainsItsCredit) {
  config_.policy.holder_grace_ms = kHour;
  auto nodes = MakeNodes(40);
  auto hash = AddPayload(*nodes[0], RandomBytes(5 * core::kMiB, 3));
  auto report = *nodes[0]->service->ReplicateTessera(hash);
  auto holders = HolderNodes(report);
  SimNode* sleeper = holders[0];
  const uint32_t index = report.holders[0].indices[0];
  const core::NodeId sleeper_id = sleeper->identity.node_id();
  sleeper->online = false;
  ASSERT_TRUE(nodes[0]->service->RunRepairPass().ok());  // first failure: suspect
  clock_.Advance(2 * kHour);
  auto pass = *nodes[0]->service->RunRepairPass();  // past the grace: lost, re-created
  EXPECT_EQ(pass[0].regenerated, std::vector<uint32_t>{index});
  EXPECT_EQ(nodes[0]->ledger.Balance(sleeper_id)->bytes_they_store_for_us, 0u);
  EXPECT_EQ(HoldersOf(hash, index).size(), 1u);

  sleeper->online = true;
  clock_.Advance(kHour);
  auto health = *nodes[0]->service->CheckTesseraHealth(hash);
  EXPECT_EQ(health.state, HealthState::kHealthy);
  EXPECT_EQ(HoldersOf(hash, index).size(), 2u);  // both copies kept: the cap is 2
  EXPECT_EQ(nodes[0]->ledger.Balance(sleeper_id)->bytes_they_store_for_us, report.plan.shard_size);
  bool counted = false;
  for (const auto& h : health.holders) {
    if (h.entry.holder == sleeper_id) counted = !h.proven.empty() && h.lost.empty();
  }
  EXPECT_TRUE(counted);
}

// Holders that answer but no longer have their fragment lose it at once.
// Below the threshold a maintainer that must fetch k fragments rebuilds
// everything not proven in one batch, the suspects' fragments included; one
// that keeps the payload rebuilds what is not counted and leaves the
// suspects to their grace.
void LoseFiveAndSleepTwo(const std::vector<SimNode*>& holders, const core::ContentHash& hash,
                         const ReplicationReport& report, std::set<uint32_t>& lost,
                         std::set<uint32_t>& asleep) {
  for (int i = 0; i < 5; ++i) {  // five say "gone" (denied: lost at once)
    const uint32_t idx = report.holders[i].indices[0];
    ASSERT_TRUE(holders[i]->fragments.Delete(hash, idx).ok());
    lost.insert(idx);
  }
  for (int i = 5; i < 7; ++i) {  // two sleep (suspect: still counted)
    holders[i]->online = false;
    asleep.insert(report.holders[i].indices[0]);
  }
}

TEST_F(MaintenanceTest, BelowTheThresholdOneBatchRebuildsEverythingNotProven) {
  config_.policy.holder_grace_ms = 72 * kHour;
  auto nodes = MakeNodes(40);
  auto hash = AddPayload(*nodes[0], RandomBytes(5 * core::kMiB, 4));
  auto report = *nodes[0]->service->ReplicateTessera(hash);
  EXPECT_OK(nodes[0]->blobs.Remove(hash));  // the owner must now fetch k to rebuild
  std::set<uint32_t> expected, asleep;
  LoseFiveAndSleepTwo(HolderNodes(report), hash, report, expected, asleep);
  expected.insert(asleep.begin(), asleep.end());
  auto pass = *nodes[0]->service->RunRepairPass();
  EXPECT_EQ(pass[0].before.fragments_counted, 19u);
  EXPECT_EQ(pass[0].before.trigger, RepairTrigger::kBelowThreshold);
  EXPECT_EQ(std::set<uint32_t>(pass[0].regenerated.begin(), pass[0].regenerated.end()), expected);
  // One batch: k fragments fetched once, seven fragments went out.
  EXPECT_EQ(pass[0].bytes_fetched, 16 * report.plan.shard_size);
  EXPECT_EQ(pass[0].bytes_sent, 7 * report.plan.shard_size);
}

// A Medium tessera whose owner has lost the payload, with 5 of its 24
// fragments gone and 4 holders asleep: below the threshold, 15 of the 16
// fragments a rebuild needs reachable. Swap() wakes those 4 and puts 4 others
// to sleep: 15 reachable again, never k holders up at one moment.
struct NeverKUpAtOnce {
  NeverKUpAtOnce(SimNetwork& net, std::vector<SimNode*> nodes, std::size_t payload_seed)
      : owner(nodes[0]) {
    auto payload = RandomBytes(5 * core::kMiB, payload_seed);
    hash = crypto::Blake3(payload);
    core::MemorySource src(payload);
    EXPECT_OK(owner->blobs.Put(hash, payload.size(), src));
    auto report = *owner->service->ReplicateTessera(hash);
    shard = report.plan.shard_size;
    EXPECT_OK(owner->blobs.Remove(hash));  // the owner must fetch k to rebuild
    for (const auto& h : report.holders) holders.push_back(net.Find(h.holder));
    std::set<uint32_t> lost, asleep;
    LoseFiveAndSleepTwo(holders, hash, report, lost, asleep);
    for (int i = 7; i < 9; ++i) holders[i]->online = false;  // 4 asleep
  }
  RepairReport Pass() {
    auto pass = *owner->service->RunRepairPass();
    EXPECT_EQ(pass.size(), 1u);
    return pass.empty() ? RepairReport{} : pass[0];
  }
  void Swap() {
    for (int i = 5; i < 9; ++i) holders[i]->online = true;
    for (int i = 9; i < 13; ++i) holders[i]->online = false;
  }
  SimNode* owner;
  core::ContentHash hash;
  uint64_t shard = 0;
  std::vector<SimNode*> holders;
};

bool Says(const RepairReport& r, std::string_view what) {
  return std::any_of(r.problems.begin(), r.problems.end(),
                     [&](const std::string& p) { return p.find(what) != std::string::npos; });
}

// Regular files under `dir`, recursively.
std::size_t FilesUnder(const std::filesystem::path& dir) {
  std::size_t n = 0;
  std::error_code ec;
  for (std::filesystem::recursive_directory_iterator it(dir, ec), end; !ec && it != end;
       it.increment(ec)) {
    n += it->is_regular_file() ? 1 : 0;
  }
  return n;
}

// A rebuild that reaches 15 of the 16 fragments it needs keeps them; an hour
// later, with a different 15 up, it fetches the one it lacks and rebuilds.
TEST_F(MaintenanceTest, ARebuildGathersFragmentsOverAttempts) {
  config_.policy.holder_grace_ms = 72 * kHour;
  NeverKUpAtOnce t(net_, MakeNodes(40), 8);
  const RepairReport first = t.Pass();
  EXPECT_EQ(first.before.trigger, RepairTrigger::kBelowThreshold);
  EXPECT_EQ(first.action, "failed");
  EXPECT_EQ(first.bytes_fetched, 15 * t.shard);
  EXPECT_TRUE(Says(first, "15 kept for the next attempt (0 gathered before)"))
      << ::testing::PrintToString(first.problems);
  EXPECT_EQ(FilesUnder(scratch_ / "gather"), 16u);  // 15 fragments and `since`
  t.Swap();
  clock_.Advance(kHour);
  const RepairReport second = t.Pass();
  EXPECT_EQ(second.action, "repaired") << ::testing::PrintToString(second.problems);
  EXPECT_EQ(second.bytes_fetched, 1 * t.shard);  // only the one it lacked
  // Everything not proven now: the five lost and the four asleep.
  EXPECT_EQ(second.regenerated.size(), 9u);
  EXPECT_EQ(FilesUnder(scratch_ / "gather"), 0u);  // used up
}

// A gathered file that no longer holds its fragment (rotten bytes), and a
// temporary file a crash left beside them, are dropped at the next attempt:
// the fragment is fetched again, never used.
TEST_F(MaintenanceTest, AGatheredFragmentThatNoLongerVerifiesIsFetchedAgain) {
  config_.policy.holder_grace_ms = 72 * kHour;
  NeverKUpAtOnce t(net_, MakeNodes(40), 9);
  EXPECT_TRUE(Says(t.Pass(), "15 kept for the next attempt"));
  std::filesystem::path tampered, leftover;
  std::error_code ec;
  for (std::filesystem::recursive_directory_iterator it(scratch_ / "gather", ec), end;
       !ec && it != end; it.increment(ec)) {
    if (it->path().extension() != ".shard") continue;
    tampered = it->path();
    break;
  }
  ASSERT_FALSE(tampered.empty());
  {
    std::fstream f(tampered, std::ios::in | std::ios::out | std::ios::binary);
    char c = 0;
    f.seekg(100);
    f.get(c);
    f.seekp(100);
    f.put(static_cast<char>(c ^ 0x5a));
  }
  leftover = tampered.parent_path() / (tampered.filename().string() + ".tmp.4242.0");
  std::ofstream(leftover) << "half a fragment";
  // The same 15 up: the tampered one is fetched again, the rest reused.
  clock_.Advance(kHour);
  const RepairReport again = t.Pass();
  EXPECT_EQ(again.bytes_fetched, 1 * t.shard);
  EXPECT_TRUE(Says(again, "15 kept for the next attempt (14 gathered before)"))
      << ::testing::PrintToString(again.problems);
  EXPECT_FALSE(std::filesystem::exists(leftover));
  EXPECT_EQ(FilesUnder(scratch_ / "gather"), 16u);
  t.Swap();
  clock_.Advance(kHour);
  const RepairReport last = t.Pass();
  EXPECT_EQ(last.action, "repaired") << ::testing::PrintToString(last.problems);
  EXPECT_EQ(last.bytes_fetched, 1 * t.shard);
  EXPECT_EQ(last.regenerated.size(), 9u);
}

// Without gathering (gather_keep_ms 0), or with the gather older than
// gather_keep_ms, each attempt fetches what it reaches, cannot rebuild, and
// the next starts again.
TEST_F(MaintenanceTest, WithoutAKeptGatherEveryAttemptStartsAgain) {
  config_.policy.holder_grace_ms = 72 * kHour;
  struct Case {
    const char* name;
    int64_t keep_ms;
    const char* first_says;
  };
  const Case cases[] = {
      {"off", 0, "could fetch only 15 of the 16"},
      {"expired", kHour / 2, "15 kept for the next attempt"},
  };
  std::size_t seed = 20;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    config_.policy.gather_keep_ms = c.keep_ms;
    NeverKUpAtOnce t(net_, MakeNodes(40), seed++);
    const RepairReport first = t.Pass();
    EXPECT_EQ(first.action, "failed");
    EXPECT_EQ(first.bytes_fetched, 15 * t.shard);
    EXPECT_TRUE(Says(first, c.first_says)) << ::testing::PrintToString(first.problems);
    t.Swap();
    clock_.Advance(kHour);
    const RepairReport second = t.Pass();
    EXPECT_EQ(second.action, "failed");
    EXPECT_EQ(second.bytes_fetched, 15 * t.shard);
    EXPECT_TRUE(Says(second, "could fetch only 15 of the 16"));
  }
}

// All gathers together stay within gather_max_bytes: a second tessera's
// attempt that would pass it keeps nothing of what it fetched and leaves the
// first tessera's gather whole; a gather whose plan is no longer kept here is
// swept once it is older than gather_keep_ms.
TEST_F(MaintenanceTest, GathersStayUnderTheirCapAndExpire) {
  config_.policy.holder_grace_ms = 72 * kHour;
  config_.policy.gather_keep_ms = 2 * kHour;
  NeverKUpAtOnce a(net_, MakeNodes(40), 30);
  EXPECT_TRUE(Says(a.Pass(), "15 kept for the next attempt"));
  config_.gather_max_bytes = 20 * a.shard;  // b's nodes: room for one gather of 15, not two
  NeverKUpAtOnce b(net_, MakeNodes(40), 31);
  const RepairReport over = b.Pass();
  EXPECT_EQ(over.bytes_fetched, 15 * b.shard);
  EXPECT_TRUE(Says(over,
                   "none of the 15 fetched now kept: gathers would exceed "
                   "gather_max_bytes"))
      << ::testing::PrintToString(over.problems);
  EXPECT_EQ(FilesUnder(scratch_ / "gather"), 16u);  // a's 15 and its `since`
  // a's owner stops keeping its plan; past gather_keep_ms a pass sweeps it.
  EXPECT_OK(a.owner->plans.DeletePlan(a.hash));
  clock_.Advance(3 * kHour);
  ASSERT_TRUE(a.owner->service->RunRepairPass().ok());
  EXPECT_EQ(FilesUnder(scratch_ / "gather"), 0u);
}

// A gather is on disk: a restart of the node (a new service on the same
// stores and scratch directory) finds it and fetches only what it lacks.
TEST_F(MaintenanceTest, AGatherOutlivesARestart) {
  config_.policy.holder_grace_ms = 72 * kHour;
  // tesd's layout: scratch in {data_dir}/tmp (wiped at start), gathers beside it.
  config_.scratch_dir = scratch_ / "tmp";
  config_.gather_dir = scratch_ / "gather";
  NeverKUpAtOnce t(net_, MakeNodes(40), 32);
  EXPECT_TRUE(Says(t.Pass(), "15 kept for the next attempt"));
  EXPECT_EQ(FilesUnder(scratch_ / "gather"), 16u);
  net_.Restart(*t.owner, config_);
  t.Swap();
  clock_.Advance(kHour);
  const RepairReport after = t.Pass();
  EXPECT_EQ(after.action, "repaired") << ::testing::PrintToString(after.problems);
  EXPECT_EQ(after.bytes_fetched, 1 * t.shard);
  EXPECT_EQ(FilesUnder(scratch_ / "gather"), 0u);
}

// Two attempts at one plan at once (a pass, and `tes repair` while it
// fetches): the second does not share the first's gather; it fetches into
// scratch and keeps nothing, and the first's gather is whole afterwards.
TEST_F(MaintenanceTest, OnlyOneAttemptAtATimeUsesAPlansGather) {
  config_.policy.holder_grace_ms = 72 * kHour;
  NeverKUpAtOnce t(net_, MakeNodes(40), 33);
  std::atomic<bool> started{false};
  std::optional<core::Result<RepairReport>> nested;
  for (SimNode* h : t.holders) {
    h->before_fetch = [&](uint32_t) {
      if (started.exchange(true)) return;
      nested = t.owner->service->RepairTessera(t.hash);
    };
  }
  const RepairReport outer = t.Pass();
  ASSERT_TRUE(nested.has_value());
  ASSERT_OK(*nested);
  const RepairReport& inner = **nested;
  EXPECT_EQ(inner.action, "failed");
  EXPECT_EQ(inner.bytes_fetched, 15 * t.shard);
  EXPECT_TRUE(Says(inner, "could fetch only 15 of the 16"))
      << ::testing::PrintToString(inner.problems);
  EXPECT_FALSE(Says(inner, "kept for the next attempt"))
      << ::testing::PrintToString(inner.problems);
  EXPECT_TRUE(Says(outer, "15 kept for the next attempt (0 gathered before)"))
      << ::testing::PrintToString(outer.problems);
  EXPECT_EQ(FilesUnder(scratch_ / "gather"), 16u);
  for (SimNode* h : t.holders) h->before_fetch = nullptr;
}

// A fetched fragment that cannot be written here (its name taken, as a full
// disk would refuse it) is this node's failure, not the peer's: no further
// fetch starts and the report says why.
TEST_F(MaintenanceTest, ALocalWriteFailureStopsTheFetchesAndBlamesNoPeer) {
  config_.policy.holder_grace_ms = 72 * kHour;
  config_.max_concurrent_transfers = 1;  // one fetch at a time: the count is exact
  NeverKUpAtOnce t(net_, MakeNodes(40), 34);
  std::atomic<int> fetches{0};
  for (SimNode* h : t.holders) {
    h->before_fetch = [&](uint32_t index) {
      if (fetches++ != 0) return;
      // The first fragment's final name in the gather becomes a directory.
      std::error_code ec;
      for (std::filesystem::directory_iterator it(scratch_ / "gather", ec), end; !ec && it != end;
           it.increment(ec)) {
        std::filesystem::create_directories(it->path() / ShardFileName(index), ec);
      }
    };
  }
  const RepairReport r = t.Pass();
  EXPECT_EQ(r.action, "failed");
  EXPECT_TRUE(Says(r, "could fetch only 0 of the 16")) << ::testing::PrintToString(r.problems);
  EXPECT_TRUE(Says(r, "(cannot write here: cannot rename to"))
      << ::testing::PrintToString(r.problems);
  EXPECT_FALSE(Says(r, "fetches failed")) << ::testing::PrintToString(r.problems);
  EXPECT_EQ(fetches.load(), 1);  // none after the first failed
  EXPECT_EQ(r.bytes_fetched, 0u);
  for (SimNode* h : t.holders) h->before_fetch = nullptr;
  // The obstacle is dropped at the next attempt, which fetches as usual.
  clock_.Advance(kHour);
  EXPECT_TRUE(Says(t.Pass(), "15 kept for the next attempt (0 gathered before)"));
}

// A sweep (another node's pass, sharing this process and gather root) finds
// the gather expired while an attempt is using it, and leaves it: the
// attempt keeps what it fetched.
TEST_F(MaintenanceTest, ASweepLeavesAGatherThatAnAttemptIsUsing) {
  config_.policy.holder_grace_ms = 72 * kHour;
  config_.policy.gather_keep_ms = 2 * kHour;
  NeverKUpAtOnce t(net_, MakeNodes(40), 36);
  SimNode* other = MakeNodes(1)[0];
  std::atomic<bool> swept{false};
  for (SimNode* h : t.holders) {
    h->before_fetch = [&](uint32_t) {
      if (swept.exchange(true)) return;
      clock_.Advance(3 * kHour);  // the gather, started just now, is expired
      EXPECT_OK(other->service->RunRepairPass());
    };
  }
  const RepairReport r = t.Pass();
  EXPECT_TRUE(swept.load());
  EXPECT_TRUE(Says(r, "15 kept for the next attempt (0 gathered before)"))
      << ::testing::PrintToString(r.problems);
  EXPECT_EQ(FilesUnder(scratch_ / "gather"), 16u);
  for (SimNode* h : t.holders) h->before_fetch = nullptr;
}

TEST_F(MaintenanceTest, BelowTheThresholdTheOwnerWithThePayloadLeavesSuspectsToTheirGrace) {
  config_.policy.holder_grace_ms = 72 * kHour;
  auto nodes = MakeNodes(40);
  auto hash = AddPayload(*nodes[0], RandomBytes(5 * core::kMiB, 4));
  auto report = *nodes[0]->service->ReplicateTessera(hash);
  std::set<uint32_t> lost, asleep;
  LoseFiveAndSleepTwo(HolderNodes(report), hash, report, lost, asleep);
  auto pass = *nodes[0]->service->RunRepairPass();
  EXPECT_EQ(pass[0].before.fragments_counted, 19u);
  EXPECT_EQ(pass[0].before.trigger, RepairTrigger::kBelowThreshold);
  EXPECT_EQ(std::set<uint32_t>(pass[0].regenerated.begin(), pass[0].regenerated.end()), lost);
  EXPECT_EQ(pass[0].bytes_fetched, 0u);  // re-encoded from the payload
  EXPECT_EQ(pass[0].bytes_sent, 5 * report.plan.shard_size);
}

// A payload that opens but no longer re-encodes to the plan (bit rot): the
// check counted on it, so the lost fragment is re-created at once; the repair
// fetches k fragments instead and says why.
TEST_F(MaintenanceTest, ARottenPayloadIsReportedAndTheRepairFetches) {
  config_.policy.holder_grace_ms = 72 * kHour;
  auto nodes = MakeNodes(40);
  auto hash = AddPayload(*nodes[0], RandomBytes(5 * core::kMiB, 6));
  auto report = *nodes[0]->service->ReplicateTessera(hash);
  ASSERT_TRUE(nodes[0]->blobs.Corrupt(hash));
  auto holders = HolderNodes(report);
  const uint32_t idx = report.holders[0].indices[0];
  ASSERT_TRUE(holders[0]->fragments.Delete(hash, idx).ok());
  auto pass = *nodes[0]->service->RunRepairPass();
  ASSERT_EQ(pass.size(), 1u);
  EXPECT_EQ(pass[0].before.trigger, RepairTrigger::kLostCopies);
  EXPECT_EQ(pass[0].action, "repaired");
  EXPECT_THAT(pass[0].regenerated, ::testing::ElementsAre(idx));
  EXPECT_EQ(pass[0].bytes_fetched, 16 * report.plan.shard_size);
  bool said = false;
  for (const auto& p : pass[0].problems) said = said || p.find("payload not usable") == 0;
  EXPECT_TRUE(said) << ::testing::PrintToString(pass[0].problems);
  EXPECT_EQ(HoldersOf(hash, idx).size(), 1u);  // the rebuilt bytes are the plan's
}

// Above the threshold only what is known lost is re-created, and at once.
TEST_F(MaintenanceTest, AKnownLostCopyIsReCreatedAtOnceWithoutWaitingForTheThreshold) {
  config_.policy.holder_grace_ms = 72 * kHour;
  auto nodes = MakeNodes(40);
  auto hash = AddPayload(*nodes[0], RandomBytes(5 * core::kMiB, 5));
  auto report = *nodes[0]->service->ReplicateTessera(hash);
  auto holders = HolderNodes(report);
  const uint32_t idx = report.holders[0].indices[0];
  ASSERT_TRUE(holders[0]->fragments.Delete(hash, idx).ok());
  holders[1]->online = false;  // suspect: left alone
  auto pass = *nodes[0]->service->RunRepairPass();
  EXPECT_EQ(pass[0].before.trigger, RepairTrigger::kLostCopies);
  EXPECT_EQ(pass[0].regenerated, std::vector<uint32_t>{idx});
}

// The owner publishes and is gone for good (machine and data). Three times a
// different third of the holders dies (never more than the parity at once);
// the holders repair without it, and a fresh node restores bit-exactly
// although no original holder and no owner is left.
TEST_F(MaintenanceTest, HoldersCarryOnWhenTheOwnerIsGone) {
  config_.policy.holder_grace_ms = kHour;
  config_.policy.takeover_delay_ms = 0;
  auto nodes = MakeNodes(60);
  auto payload = RandomBytes(5 * core::kMiB + 17, 6);
  auto hash = AddPayload(*nodes[0], payload);
  auto report = *nodes[0]->service->ReplicateTessera(hash);
  ASSERT_EQ(report.holders.size(), 24u);
  std::set<core::NodeId> original;
  for (const auto& h : report.holders) original.insert(h.holder);
  nodes[0]->online = false;  // the owner's machine is gone
  const core::NodeId owner_id = nodes[0]->identity.node_id();
  // Its holder record expires with it: only the holders' own claims remain.
  net_.ForgetRecords([](const std::vector<uint8_t>& r) { return !LooksLikeHolderClaim(r); });

  for (int round = 0; round < 3; ++round) {
    // Kill 8 of the current holders, originals first.
    std::vector<SimNode*> current;
    for (auto& n : net_.nodes()) {
      if (!n->online) continue;
      auto held = n->fragments.List(hash);
      if (held.ok() && !held->empty()) current.push_back(n.get());
    }
    std::stable_partition(current.begin(), current.end(),
                          [&](SimNode* n) { return original.count(n->identity.node_id()) > 0; });
    ASSERT_GE(current.size(), 8u) << "round " << round;
    for (int i = 0; i < 8; ++i) current[i]->online = false;
    net_.Republish();
    // Every live node that looks after it runs its pass (audit, then past the
    // grace, repair).
    for (int pass = 0; pass < 2; ++pass) {
      for (auto& n : net_.nodes()) {
        if (n->online) {
          ASSERT_TRUE(n->service->RunRepairPass().ok());
        }
      }
      clock_.Advance(2 * kHour);
    }
    net_.Republish();
    for (auto& n : net_.nodes()) {
      if (n->online) {
        ASSERT_TRUE(n->service->RunRepairPass().ok());
      }
    }
    for (uint32_t i = 0; i < 24; ++i) {
      EXPECT_GE(HoldersOf(hash, i).size(), 1u) << "round " << round << " fragment " << i;
      EXPECT_LE(HoldersOf(hash, i).size(), 2u) << "round " << round << " fragment " << i;
    }
    // Any live holder sees it healthy.
    SimNode* someone = HoldersOf(hash, 0).front();
    auto health = someone->service->CheckTesseraHealth(hash);
    ASSERT_TRUE(health.ok()) << health.error().ToString();
    EXPECT_EQ(health->state, HealthState::kHealthy) << "round " << round;
  }
  // No original holder is left.
  for (const auto& id : original) EXPECT_FALSE(net_.Find(id)->online);
  SimNode& fresh = net_.AddNode("127.0.250.1:7700", config_);
  core::MemorySink out;
  auto fetched = fresh.service->FetchTessera(hash, static_cast<core::RandomAccessSink&>(out));
  ASSERT_TRUE(fetched.ok()) << fetched.error().ToString();
  EXPECT_EQ(out.bytes(), payload);
  EXPECT_EQ(fetched->owner, owner_id);
}

// Two maintainers repair the same tessera at the same moment: placement is
// deterministic and re-pushes are "already held", so no fragment ends up with
// more copies than the cap.
TEST_F(MaintenanceTest, TwoMaintainersAtOnceDoNotDuplicateBeyondTheCap) {
  config_.policy.holder_grace_ms = 0;
  config_.policy.takeover_delay_ms = 0;
  auto nodes = MakeNodes(60);
  auto hash = AddPayload(*nodes[0], RandomBytes(5 * core::kMiB, 7));
  auto report = *nodes[0]->service->ReplicateTessera(hash);
  nodes[0]->online = false;
  auto holders = HolderNodes(report);
  for (int i = 0; i < 6; ++i) holders[i]->online = false;
  SimNode* a = holders[10];
  SimNode* b = holders[11];
  core::Result<RepairReport> ra = core::MakeError(core::ErrorCode::kInternal, "not run");
  core::Result<RepairReport> rb = ra;
  std::thread ta([&] { ra = a->service->RepairTessera(hash); });
  std::thread tb([&] { rb = b->service->RepairTessera(hash); });
  ta.join();
  tb.join();
  ASSERT_TRUE(ra.ok()) << ra.error().ToString();
  ASSERT_TRUE(rb.ok()) << rb.error().ToString();
  std::size_t placed = ra->regenerated.size() + rb->regenerated.size();
  EXPECT_GE(placed, 6u);
  for (uint32_t i = 0; i < 24; ++i) {
    const auto n = HoldersOf(hash, i).size();
    EXPECT_GE(n, 1u) << "fragment " << i;
    EXPECT_LE(n, 2u) << "fragment " << i;
  }
}

// A holder ranked after the first one waits for the takeover delay before
// repairing; the first acts at once (owner gone).
TEST_F(MaintenanceTest, HoldersTakeTurnsByRank) {
  config_.policy.holder_grace_ms = 0;
  config_.policy.coded_repair_at_threshold = false;  // one lost fragment is a repair
  config_.policy.takeover_delay_ms = 10 * kHour;
  auto nodes = MakeNodes(40);
  auto hash = AddPayload(*nodes[0], RandomBytes(5 * core::kMiB, 8));
  auto report = *nodes[0]->service->ReplicateTessera(hash);
  nodes[0]->online = false;
  auto holders = HolderNodes(report);
  holders[0]->online = false;
  // Rank by distance to the key among the live holders.
  std::vector<SimNode*> live(holders.begin() + 1, holders.end());
  std::sort(live.begin(), live.end(), [&](SimNode* x, SimNode* y) {
    return core::XorDistance(x->identity.node_id(), core::KeyFor(hash)) <
           core::XorDistance(y->identity.node_id(), core::KeyFor(hash));
  });
  auto second = *live[1]->service->RepairTessera(hash);
  EXPECT_EQ(second.before.maintainer_rank, 2u);
  EXPECT_EQ(second.action, "waiting");
  clock_.Advance(20 * kHour);
  auto later = *live[1]->service->RepairTessera(hash);
  EXPECT_EQ(later.action, "repaired");
  EXPECT_EQ(later.regenerated.size(), 1u);
}

// A refusal for space sends the fragment elsewhere, and the full node is not
// chosen again until it accepts something.
TEST_F(MaintenanceTest, ARefusingNodeIsNotChosenAgain) {
  auto nodes = MakeNodes(10);              // owner + 9 peers: 24 fragments, 2 or 3 each
  nodes[3]->fragments.set_capacity(1000);  // nearly full
  auto hash = AddPayload(*nodes[0], RandomBytes(5 * core::kMiB, 9));
  auto report = nodes[0]->service->ReplicateTessera(hash);
  ASSERT_TRUE(report.ok()) << report.error().ToString();
  EXPECT_TRUE(report->complete());
  EXPECT_EQ(report->fragments_placed(), 24u);
  for (const auto& h : report->holders) EXPECT_NE(h.holder, nodes[3]->identity.node_id());
  int refusals = 0;
  for (const auto& f : report->failures) refusals += f.peer.id == nodes[3]->identity.node_id();
  EXPECT_EQ(refusals, 1);
  // A second tessera soon after: the full node is not even asked.
  auto second = AddPayload(*nodes[0], RandomBytes(5 * core::kMiB, 10));
  auto again = *nodes[0]->service->ReplicateTessera(second);
  EXPECT_TRUE(again.complete());
  for (const auto& f : again.failures) EXPECT_NE(f.peer.id, nodes[3]->identity.node_id());
}

// A publish that cannot reach full redundancy says so.
TEST_F(MaintenanceTest, APublishBelowFullRedundancySaysWhatIsMissing) {
  auto nodes = MakeNodes(3);
  auto hash = AddPayload(*nodes[0], RandomBytes(100'000, 11));
  auto report = *nodes[0]->service->ReplicateTessera(hash);
  EXPECT_FALSE(report.complete());
  EXPECT_EQ(report.units_wanted, 7u);
  EXPECT_EQ(report.units_placed, 2u);
  EXPECT_EQ(report.missing, std::vector<uint32_t>(5, 0));
}

// The repair budget: a repair that does not fit waits, and goes once the
// bucket has refilled.
TEST_F(MaintenanceTest, TheRepairBudgetDefersAndLaterAllows) {
  config_.policy.holder_grace_ms = 0;
  auto nodes = MakeNodes(40);
  auto payload = RandomBytes(5 * core::kMiB, 12);
  auto hash = AddPayload(*nodes[0], payload);
  const uint64_t shard = core::PlanForSize(payload.size())->shard_size;
  // Room for two fragments a day.
  config_.policy.repair_bytes_per_day = 2 * shard;
  SimNode& owner = net_.AddNode("127.0.240.1:7700", config_);
  core::MemorySource src(payload);
  ASSERT_TRUE(owner.blobs.Put(hash, payload.size(), src).ok());
  auto report = *owner.service->ReplicateTessera(hash);
  auto holders = HolderNodes(report);
  for (int i = 0; i < 2; ++i) holders[i]->online = false;
  auto first = *owner.service->RunRepairPass();
  EXPECT_EQ(first[0].action, "repaired");
  for (int i = 2; i < 4; ++i) holders[i]->online = false;
  auto second = *owner.service->RunRepairPass();
  EXPECT_EQ(second[0].action, "deferred");
  EXPECT_THAT(second[0].regenerated, IsEmpty());
  clock_.Advance(24 * kHour);
  auto third = *owner.service->RunRepairPass();
  EXPECT_EQ(third[0].action, "repaired");
  EXPECT_EQ(third[0].regenerated.size(), 2u);
}

// New holders placed by a maintainer other than the owner are findable from
// their own claims: a stranger sees them in the plan's holders.
TEST_F(MaintenanceTest, NewHoldersAreFindableFromTheirClaims) {
  config_.policy.holder_grace_ms = 0;
  config_.policy.coded_repair_at_threshold = false;  // one lost fragment is a repair
  config_.policy.takeover_delay_ms = 0;
  auto nodes = MakeNodes(40);
  auto hash = AddPayload(*nodes[0], RandomBytes(5 * core::kMiB, 13));
  auto report = *nodes[0]->service->ReplicateTessera(hash);
  nodes[0]->online = false;
  auto holders = HolderNodes(report);
  holders[0]->online = false;
  auto repaired = *holders[5]->service->RepairTessera(hash);
  ASSERT_EQ(repaired.new_holders.size(), 1u);
  const core::NodeId fresh = repaired.new_holders[0].holder;
  SimNode& stranger = net_.AddNode("127.0.230.1:7700", config_);
  auto plans = *stranger.service->FindPlans(hash);
  ASSERT_EQ(plans.size(), 1u);
  bool listed = false;
  for (const auto& h : plans[0].holders) listed = listed || h.holder == fresh;
  EXPECT_TRUE(listed);
  // And a status check from the stranger works without the owner.
  auto health = stranger.service->CheckTesseraHealth(hash);
  ASSERT_TRUE(health.ok()) << health.error().ToString();
  EXPECT_EQ(health->state, HealthState::kHealthy);
}

// A due check takes the DHT's answer from the record cache while it is valid:
// after a forced pass, the next due pass asks the network nothing for the
// tessera; past the cache's age it looks again. A due check that finds a
// repair to make looks the records up afresh before deciding, and the
// repair is made. The reads are counted in the metrics by source.
TEST_F(MaintenanceTest, ADueCheckUsesTheCachedRecordsButRepairsOnlyOnAFreshLookup) {
  config_.policy.holder_grace_ms = 0;
  config_.record_cache.max_age_ms = kHour;
  core::MetricsRegistry metrics;
  SimNode& owner_node = net_.AddNode(
      "127.0." + std::to_string(next_subnet_++) + ".1:7700", config_, UINT64_MAX, [&](SimNode& n) {
        n.customize_deps = [&](ReplicationDeps& deps) { deps.metrics = &metrics; };
      });
  MakeNodes(29);
  auto hash = AddPayload(owner_node, RandomBytes(5 * core::kMiB, 21));
  ReplicationService& owner = *owner_node.service;
  ASSERT_OK_AND_ASSIGN(auto report, owner.ReplicateTessera(hash));
  ASSERT_EQ(report.holders.size(), 24u);
  auto reads = [&metrics](const std::string& source) {
    const std::string rendered = metrics.Render();
    const std::string series = "tesseras_dht_record_reads_total{source=\"" + source + "\"} ";
    const auto at = rendered.find(series);
    return at == std::string::npos ? -1 : std::stoll(rendered.substr(at + series.size()));
  };

  ASSERT_OK_AND_ASSIGN(auto forced, owner.RunRepairPass(/*forced=*/true));
  ASSERT_EQ(forced.size(), 1u);
  EXPECT_FALSE(forced[0].before.records_cached);
  const uint64_t after_forced = net_.record_lookups.load();
  const long long network_reads = reads("network");
  EXPECT_GE(network_reads, 1);
  EXPECT_EQ(reads("cache"), 0);

  clock_.Advance(kHour / 2);
  ASSERT_OK_AND_ASSIGN(auto due, owner.RunRepairPass(/*forced=*/false));
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].action, "none");
  EXPECT_TRUE(due[0].before.records_cached);
  EXPECT_EQ(due[0].before.state, HealthState::kHealthy);
  EXPECT_EQ(net_.record_lookups.load(), after_forced) << "a cached answer was looked up again";
  EXPECT_GE(owner.record_cache_stats().hits, 1u);
  EXPECT_EQ(reads("cache"), 1);
  EXPECT_EQ(reads("network"), network_reads);

  // Past the cache's age: looked up again.
  clock_.Advance(kHour);
  ASSERT_OK_AND_ASSIGN(due, owner.RunRepairPass(/*forced=*/false));
  ASSERT_EQ(due.size(), 1u);
  EXPECT_FALSE(due[0].before.records_cached);
  EXPECT_EQ(net_.record_lookups.load(), after_forced + 1);

  // How often the owner has audited the copy of a holder that keeps it.
  const core::NodeId steady = report.holders.back().holder;
  auto audits_of_steady = [&]() -> uint32_t {
    auto views = owner_node.plans.GetHolders(hash);
    if (!views.ok()) return 0;
    for (const auto& v : *views) {
      if (v.holder == steady && !v.copies.empty()) return v.copies[0].audits;
    }
    return 0;
  };

  // A holder loses its copy; the next due pass, within the cache's age, finds
  // the loss from the cache, looks the records up afresh: the DHT answers the
  // same, so the check stands (its holders audited once) and the repair is made.
  auto holders = HolderNodes(report);
  const uint32_t idx = report.holders[0].indices[0];
  ASSERT_OK(holders[0]->fragments.Delete(hash, idx));
  clock_.Advance(kHour / 4);
  uint64_t lookups_before = net_.record_lookups.load();
  long long cache_reads = reads("cache");
  uint32_t audits_before = audits_of_steady();
  ASSERT_GE(audits_before, 1u);
  ASSERT_OK_AND_ASSIGN(due, owner.RunRepairPass(/*forced=*/false));
  ASSERT_EQ(due.size(), 1u);
  EXPECT_FALSE(due[0].before.records_cached) << "a repair was decided on an unconfirmed view";
  EXPECT_EQ(due[0].before.trigger, RepairTrigger::kLostCopies);
  EXPECT_EQ(due[0].regenerated, std::vector<uint32_t>{idx});
  EXPECT_EQ(reads("cache"), cache_reads + 1);
  EXPECT_EQ(net_.record_lookups.load(), lookups_before + 1) << "one lookup to confirm the cache";
  EXPECT_EQ(audits_of_steady(), audits_before + 1) << "the check was made twice";
  EXPECT_EQ(HoldersOf(hash, idx).size(), 1u);

  // The repair published the owner's record: the cache dropped the key, so
  // the next due pass looks up (and fills the cache again).
  clock_.Advance(kHour / 4);
  lookups_before = net_.record_lookups.load();
  ASSERT_OK_AND_ASSIGN(due, owner.RunRepairPass(/*forced=*/false));
  ASSERT_EQ(due.size(), 1u);
  EXPECT_FALSE(due[0].before.records_cached);
  EXPECT_EQ(net_.record_lookups.load(), lookups_before + 1);

  // Another loss, and the DHT's answer changes meanwhile (a record of the key
  // that is not even valid): the cached view finds the loss, the confirming
  // lookup differs, and the check is made again on the fresh records.
  const uint32_t idx2 = report.holders[1].indices[0];
  ASSERT_OK(holders[1]->fragments.Delete(hash, idx2));
  ASSERT_OK(holders[2]->dht->PutRecord(core::KeyFor(hash), std::vector<uint8_t>(40, 0xEE)));
  clock_.Advance(kHour / 4);
  lookups_before = net_.record_lookups.load();
  cache_reads = reads("cache");
  audits_before = audits_of_steady();
  ASSERT_OK_AND_ASSIGN(due, owner.RunRepairPass(/*forced=*/false));
  ASSERT_EQ(due.size(), 1u);
  EXPECT_FALSE(due[0].before.records_cached);
  EXPECT_EQ(due[0].before.trigger, RepairTrigger::kLostCopies);
  EXPECT_EQ(due[0].regenerated, std::vector<uint32_t>{idx2});
  EXPECT_EQ(reads("cache"), cache_reads + 1);
  EXPECT_EQ(net_.record_lookups.load(), lookups_before + 2);
  EXPECT_EQ(audits_of_steady(), audits_before + 2);
  EXPECT_EQ(HoldersOf(hash, idx2).size(), 1u);
}

// The cache never keeps an answer past its records' expiry: with records that
// live ten minutes, a due check twenty minutes after a lookup looks again
// although the cache's own age (an hour) has not passed.
TEST_F(MaintenanceTest, TheRecordCacheKeepsAnAnswerNoLongerThanItsRecordsLive) {
  config_.record_cache.max_age_ms = kHour;
  constexpr int64_t kTtl = 10 * 60 * 1000;
  // Framing with an expiry: 8 bytes (little-endian ms) before the value.
  auto frame = [this](SimNode& n) {
    n.customize_deps = [this](ReplicationDeps& deps) {
      deps.seal_record =
          [this](const core::NodeId&, uint32_t,
                 const std::vector<uint8_t>& value) -> core::Result<std::vector<uint8_t>> {
        const uint64_t expires = static_cast<uint64_t>(clock_.NowUnixMs() + kTtl);
        std::vector<uint8_t> out(8);
        for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(expires >> (8 * i));
        out.insert(out.end(), value.begin(), value.end());
        return out;
      };
      deps.open_record = [](const std::vector<uint8_t>& sealed) -> core::Result<OpenedRecord> {
        if (sealed.size() < 8) return core::MakeError(core::ErrorCode::kCorrupt, "short");
        uint64_t expires = 0;
        for (int i = 0; i < 8; ++i) expires |= static_cast<uint64_t>(sealed[i]) << (8 * i);
        return OpenedRecord{{sealed.begin() + 8, sealed.end()}, static_cast<int64_t>(expires)};
      };
    };
  };
  std::vector<SimNode*> nodes;
  for (int i = 0; i < 30; ++i) {
    nodes.push_back(&net_.AddNode("127.0." + std::to_string(next_subnet_++) + ".1:7700", config_,
                                  UINT64_MAX, frame));
  }
  auto hash = AddPayload(*nodes[0], RandomBytes(5 * core::kMiB, 22));
  ReplicationService& owner = *nodes[0]->service;
  ASSERT_OK_AND_ASSIGN(auto report, owner.ReplicateTessera(hash));
  ASSERT_EQ(report.holders.size(), 24u);
  ASSERT_OK(owner.RunRepairPass(/*forced=*/true));
  const uint64_t after_forced = net_.record_lookups.load();

  clock_.Advance(kTtl / 2);
  ASSERT_OK_AND_ASSIGN(auto due, owner.RunRepairPass(/*forced=*/false));
  ASSERT_EQ(due.size(), 1u);
  EXPECT_TRUE(due[0].before.records_cached);
  EXPECT_EQ(net_.record_lookups.load(), after_forced);

  clock_.Advance(kTtl);
  ASSERT_OK_AND_ASSIGN(due, owner.RunRepairPass(/*forced=*/false));
  ASSERT_EQ(due.size(), 1u);
  EXPECT_FALSE(due[0].before.records_cached) << "kept past the records' expiry";
  EXPECT_EQ(net_.record_lookups.load(), after_forced + 1);
}

}  // namespace
}  // namespace tesseras::replication
