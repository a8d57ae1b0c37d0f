#include "replication/replication_service.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <numeric>
#include <random>
#include <set>
#include <thread>

#include "crypto/blake3_hasher.h"
#include "replication/fragment_codec.h"
#include "replication/placement.h"
#include "replication/testing/hand_encoded.h"
#include "replication/testing/random_bytes.h"
#include "replication/testing/sim_network.h"
#include "storage/test_util.h"

namespace tesseras::replication {
namespace {

using core::ErrorCode;
using testing::SimNetwork;
using testing::SimNode;

using testing::RandomBytes;

using testing::EncodeByHand;
using testing::EnvelopeOf;
using testing::HandEncoded;

class ReplicationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    scratch_ = std::filesystem::temp_directory_path() /
               ("tesseras-repl-" + std::to_string(::getpid()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(scratch_);
    config_.scratch_dir = scratch_;
  }
  void TearDown() override { std::filesystem::remove_all(scratch_); }

  // `count` nodes, node i on 127.0.(i / per_subnet + 1).(i % per_subnet + 1).
  std::vector<SimNode*> MakeNodes(std::size_t count, std::size_t per_subnet = 1) {
    std::vector<SimNode*> out;
    for (std::size_t i = 0; i < count; ++i) {
      std::string addr = "127.0." + std::to_string(i / per_subnet + 1) + "." +
                         std::to_string(i % per_subnet + 1) + ":7700";
      out.push_back(&net_.AddNode(addr, config_));
    }
    return out;
  }

  core::ContentHash AddPayload(SimNode& owner, const std::vector<uint8_t>& payload) {
    auto hash = crypto::Blake3(payload);
    core::MemorySource src(payload);
    EXPECT_TRUE(owner.blobs.Put(hash, payload.size(), src).ok());
    return hash;
  }

  std::filesystem::path scratch_;
  ReplicationConfig config_;
  core::ManualClock clock_;
  SimNetwork net_{clock_};
};

TEST_F(ReplicationTest, MediumTesseraGoesToTwentyFourDistinctHolders) {
  auto nodes = MakeNodes(30);
  auto payload = RandomBytes(5 * core::kMiB + 3, 1);
  auto hash = AddPayload(*nodes[0], payload);
  auto report = nodes[0]->service->ReplicateTessera(hash);
  ASSERT_TRUE(report.ok()) << report.error().ToString();
  EXPECT_EQ(report->plan.tier, core::Tier::kMedium);
  EXPECT_EQ(report->holders.size(), 24u);
  EXPECT_EQ(report->fragments_placed(), 24u);
  for (const auto& h : report->holders) EXPECT_EQ(h.indices.size(), 1u);
  EXPECT_EQ(report->holder_records_stored, 20u);
  // Each holder stores exactly what it acknowledged, and both ledgers agree.
  const uint64_t shard = report->plan.shard_size;
  for (const auto& h : report->holders) {
    SimNode* n = net_.Find(h.holder);
    auto held = n->fragments.List(hash);
    ASSERT_EQ(held->size(), 1u);
    EXPECT_EQ((*held)[0].id.index, h.indices[0]);
    EXPECT_EQ(n->ledger.Balance(nodes[0]->identity.node_id())->bytes_stored_for_them, shard);
    EXPECT_EQ(nodes[0]->ledger.Balance(h.holder)->bytes_they_store_for_us, shard);
  }
}

TEST_F(ReplicationTest, SmallTesseraGoesWholeToSevenHolders) {
  auto nodes = MakeNodes(12);
  auto payload = RandomBytes(100'000, 2);
  auto hash = AddPayload(*nodes[0], payload);
  auto report = nodes[0]->service->ReplicateTessera(hash);
  ASSERT_TRUE(report.ok()) << report.error().ToString();
  EXPECT_EQ(report->plan.tier, core::Tier::kSmall);
  ASSERT_EQ(report->holders.size(), 7u);
  for (const auto& h : report->holders) {
    EXPECT_EQ(h.indices, std::vector<uint32_t>{0});
    auto src = net_.Find(h.holder)->fragments.Open(hash, 0);
    ASSERT_TRUE(src.ok());
    std::vector<uint8_t> got(payload.size());
    ASSERT_TRUE((*src)->ReadAt(0, got).ok());
    EXPECT_EQ(got, payload);
  }
}

TEST_F(ReplicationTest, AtMostTwoHoldersPerSubnet) {
  auto nodes = MakeNodes(40, /*per_subnet=*/5);  // 8 subnets of 5 nodes
  auto hash = AddPayload(*nodes[0], RandomBytes(5 * core::kMiB, 3));
  auto report = nodes[0]->service->ReplicateTessera(hash);
  ASSERT_TRUE(report.ok()) << report.error().ToString();
  std::map<std::string, int> per;
  for (const auto& h : report->holders) ++per[SubnetKey(h.address)];
  for (const auto& [s, n] : per) EXPECT_LE(n, 2) << s;
  // 8 subnets x 2 = 16 eligible holders for 24 fragments: spread evenly.
  EXPECT_EQ(report->holders.size(), 16u);
  std::size_t lo = 99, hi = 0;
  for (const auto& h : report->holders) {
    lo = std::min(lo, h.indices.size());
    hi = std::max(hi, h.indices.size());
  }
  EXPECT_LE(hi - lo, 1u);
  EXPECT_EQ(report->fragments_placed(), 24u);
}

TEST_F(ReplicationTest, NoPeerIsAnError) {
  auto nodes = MakeNodes(1);
  auto hash = AddPayload(*nodes[0], RandomBytes(1000, 4));
  auto report = nodes[0]->service->ReplicateTessera(hash);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.error().code, ErrorCode::kUnavailable);
}

TEST_F(ReplicationTest, FailedPeersAreReportedAndRetriedElsewhere) {
  auto nodes = MakeNodes(40);
  auto hash = AddPayload(*nodes[0], RandomBytes(5 * core::kMiB, 5));
  // The three peers closest to the tessera are found by the lookup but refuse
  // every fragment (their disks are full).
  auto closest = net_.Closest(core::KeyFor(hash), 3, nodes[0]->identity.node_id());
  for (SimNode* n : closest) n->fragments.set_capacity(1000);
  auto report = nodes[0]->service->ReplicateTessera(hash);
  ASSERT_TRUE(report.ok()) << report.error().ToString();
  EXPECT_EQ(report->fragments_placed(), 24u);
  EXPECT_EQ(report->holders.size(), 24u);
  ASSERT_EQ(report->failures.size(), 3u);
  for (const auto& f : report->failures) {
    EXPECT_NE(f.error.find("resource_exhausted"), std::string::npos) << f.error;
  }
  for (const auto& h : report->holders) {
    for (SimNode* n : closest) EXPECT_NE(h.holder, n->identity.node_id());
  }
}

TEST_F(ReplicationTest, RestoreFromANodeThatNeverSawIt) {
  auto nodes = MakeNodes(30);
  auto payload = RandomBytes(5 * core::kMiB + 11, 6);
  auto hash = AddPayload(*nodes[0], payload);
  ASSERT_TRUE(nodes[0]->service->ReplicateTessera(hash).ok());
  // The owner disappears; a stranger restores from the holder record.
  nodes[0]->online = false;
  SimNode& stranger = net_.AddNode("127.0.200.1:7700", config_);
  core::MemorySink out;
  auto r = stranger.service->FetchTessera(hash, static_cast<core::RandomAccessSink&>(out));
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(out.bytes(), payload);
  EXPECT_EQ(r->used.size(), 16u);
  EXPECT_EQ(r->owner, nodes[0]->identity.node_id());
}

// An attacker signs its own plan for the owner's hash (other bytes, labelled
// with that hash) and places it on every node, the owner's holders too (they
// keep it beside the owner's), and publishes its records: a restore tries its
// plan, finds that the result does not hash to the tessera, and goes on to
// the owner's.
TEST_F(ReplicationTest, RestoreSkipsAForgedPlanForTheSameHash) {
  auto nodes = MakeNodes(40);
  auto payload = RandomBytes(5 * core::kMiB, 61);
  auto hash = AddPayload(*nodes[0], payload);
  ASSERT_TRUE(nodes[0]->service->ReplicateTessera(hash).ok());
  SimNode& attacker = *nodes[39];
  const HandEncoded junk = EncodeByHand(RandomBytes(5 * core::kMiB, 62), hash);  // labelled `hash`
  const auto& table = junk.table;
  const auto& sinks = junk.fragments;
  auto signed_plan = SignedPlan::Sign(table, attacker.identity);
  std::size_t placed = 0;
  for (std::size_t n = 1; n < 39; ++n) {
    const uint32_t i = static_cast<uint32_t>(n % table.plan.total_shards());
    core::MemorySource bytes(sinks[i].bytes());
    auto ack =
        attacker.dht->ReplicateFragment(nodes[n]->peer(), EnvelopeOf(table, signed_plan, i), bytes);
    EXPECT_TRUE(ack.ok()) << ack.error().ToString();
    placed += ack.ok();
  }
  EXPECT_EQ(placed, 38u);  // claims never exclude each other
  // The owner's holders keep the owner's plan under the hash, the attacker's beside it.
  std::size_t both = 0;
  for (std::size_t n = 1; n < 39; ++n) {
    auto mine = nodes[n]->service->FindPlanKey(hash, nodes[0]->identity.node_id());
    auto theirs = nodes[n]->service->FindPlanKey(hash, attacker.identity.node_id());
    ASSERT_TRUE(mine.ok() && theirs.ok());
    if (*mine) {
      EXPECT_EQ(**mine, hash);
      EXPECT_EQ(**theirs, PlanSlot(nodes[n]->identity, hash, attacker.identity.node_id()));
      ++both;
    }
  }
  EXPECT_GE(both, 16u);
  nodes[0]->online = false;
  // The restoring node was squatted too: it keeps the attacker's plan, which
  // it therefore tries first.
  SimNode& stranger = net_.AddNode("127.0.202.1:7700", config_);
  {
    core::MemorySource bytes(sinks[0].bytes());
    ASSERT_TRUE(
        attacker.dht->ReplicateFragment(stranger.peer(), EnvelopeOf(table, signed_plan, 0), bytes)
            .ok());
  }
  core::MemorySink out;
  auto r = stranger.service->FetchTessera(hash, static_cast<core::RandomAccessSink&>(out));
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(out.bytes(), payload);
  EXPECT_EQ(r->owner, nodes[0]->identity.node_id());
  ASSERT_EQ(r->rejected_plans.size(), 1u);  // the forged plan cost one attempt
  EXPECT_THAT(r->rejected_plans[0], ::testing::HasSubstr(attacker.identity.node_id().Short()));
}

// Squatting: before the owner publishes, an attacker sends its own plan for
// the owner's hash to the 12 nodes closest to it and to the owner's node. The
// owner's node drops it when it publishes (its payload proves which plan is
// right); the others keep the owner's fragments beside the squatter's plan
// (under the owner's plan slot), serve them for audits and restores, and the
// owner reaches full redundancy on the closest nodes as if nobody squatted.
TEST_F(ReplicationTest, SquattedNodesKeepTheOwnersPlanBesideTheSquattersOne) {
  auto nodes = MakeNodes(40);
  auto payload = RandomBytes(5 * core::kMiB, 63);
  const auto hash = crypto::Blake3(payload);
  SimNode& attacker = *nodes[39];
  // A Medium plan of junk, labelled with the owner's hash.
  const HandEncoded junk = EncodeByHand(std::vector<uint8_t>(4 * core::kMiB + 1, 0x5a), hash);
  auto signed_plan = SignedPlan::Sign(junk.table, attacker.identity);
  auto closest = attacker.dht->FindPeers(core::KeyFor(hash), 12);
  ASSERT_TRUE(closest.ok());
  closest->push_back(nodes[0]->peer());  // the owner's own node too, before it publishes
  std::set<core::NodeId> squatted;
  for (const auto& peer : *closest) {
    core::MemorySource bytes(junk.fragments[0].bytes());
    if (attacker.dht->ReplicateFragment(peer, EnvelopeOf(junk.table, signed_plan, 0), bytes).ok()) {
      squatted.insert(peer.id);
    }
  }
  ASSERT_GE(squatted.size(), 10u);
  ASSERT_TRUE(squatted.count(nodes[0]->identity.node_id()));
  squatted.erase(nodes[0]->identity.node_id());
  ASSERT_TRUE(nodes[0]->fragments.Get(hash, 0).ok());  // the squatter's fragment, at the owner
  // The owner's payload proves its own plan: the squatter's plan and fragment go.
  AddPayload(*nodes[0], payload);
  auto report = nodes[0]->service->ReplicateTessera(hash);
  ASSERT_TRUE(report.ok()) << report.error().ToString();
  EXPECT_FALSE(nodes[0]->fragments.Get(hash, 0).ok());
  EXPECT_EQ(SignedPlan::Decode(**nodes[0]->plans.GetPlan(hash))->owner_id(),
            nodes[0]->identity.node_id());
  EXPECT_EQ(nodes[0]->ledger.Balance(attacker.identity.node_id())->bytes_stored_for_them, 0u);
  EXPECT_TRUE(report->complete());
  EXPECT_EQ(report->fragments_placed(), 24u);
  EXPECT_EQ(report->holders.size(), 24u);
  std::size_t on_squatted = 0;
  for (const auto& h : report->holders) {
    if (!squatted.count(h.holder)) continue;
    ++on_squatted;
    SimNode* n = net_.Find(h.holder);
    const core::ContentHash slot = PlanSlot(n->identity, hash, nodes[0]->identity.node_id());
    EXPECT_EQ(*n->service->FindPlanKey(hash, nodes[0]->identity.node_id()), slot);
    EXPECT_EQ(*n->service->FindPlanKey(hash, attacker.identity.node_id()), hash);
    EXPECT_TRUE(n->fragments.Get(slot, h.indices[0]).ok());
    EXPECT_TRUE(n->fragments.Get(hash, 0).ok());  // the squatter's stays too
  }
  EXPECT_EQ(on_squatted, squatted.size());  // the closest nodes, squatted or not
  auto health = nodes[0]->service->CheckTesseraHealth(hash);
  ASSERT_TRUE(health.ok()) << health.error().ToString();
  EXPECT_EQ(health->fragments_verified, 24u);
  nodes[0]->online = false;
  SimNode& fresh = net_.AddNode("127.0.203.1:7700", config_);
  core::MemorySink out;
  auto r = fresh.service->FetchTessera(hash, static_cast<core::RandomAccessSink&>(out));
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(out.bytes(), payload);
}

TEST_F(ReplicationTest, LosingParityHoldersStillRestoresAndRepairRestoresRedundancy) {
  config_.policy.holder_grace_ms = 0;  // the eager policy: an absent holder is lost at once
  auto nodes = MakeNodes(34);
  auto payload = RandomBytes(6 * core::kMiB, 7);
  auto hash = AddPayload(*nodes[0], payload);
  auto report = *nodes[0]->service->ReplicateTessera(hash);
  // Kill 8 holders (= parity count), each holding one fragment.
  for (int i = 0; i < 8; ++i) net_.Find(report.holders[i].holder)->online = false;
  auto health = nodes[0]->service->CheckTesseraHealth(hash);
  ASSERT_TRUE(health.ok()) << health.error().ToString();
  EXPECT_EQ(health->state, HealthState::kDegraded);
  EXPECT_EQ(health->outcome, HealthOutcome::kNeedsReplication);
  EXPECT_EQ(health->deficit, 8u);
  EXPECT_EQ(health->fragments_verified, 16u);
  int down = 0;
  for (const auto& h : health->holders) down += !h.reachable;
  EXPECT_EQ(down, 8);

  SimNode& stranger = net_.AddNode("127.0.201.1:7700", config_);
  core::MemorySink out;
  ASSERT_TRUE(stranger.service->FetchTessera(hash, static_cast<core::RandomAccessSink&>(out)).ok());
  EXPECT_EQ(out.bytes(), payload);

  auto repair = nodes[0]->service->RepairTessera(hash);
  ASSERT_TRUE(repair.ok()) << repair.error().ToString();
  EXPECT_EQ(repair->regenerated.size(), 8u)
      << (repair->problems.empty() ? "" : repair->problems[0]);
  auto after = nodes[0]->service->CheckTesseraHealth(hash);
  EXPECT_EQ(after->state, HealthState::kHealthy);
  EXPECT_EQ(after->fragments_verified, 24u);
}

TEST_F(ReplicationTest, RepairInASmallNetworkUsesTheLiveHolders) {
  config_.policy.holder_grace_ms = 0;  // the eager policy: an absent holder is lost at once
  auto nodes = MakeNodes(13);          // owner + 12 peers: 24 fragments, 2 per holder
  auto payload = RandomBytes(5 * core::kMiB, 15);
  auto hash = AddPayload(*nodes[0], payload);
  auto report = *nodes[0]->service->ReplicateTessera(hash);
  ASSERT_EQ(report.holders.size(), 12u);
  for (int i = 0; i < 4; ++i) net_.Find(report.holders[i].holder)->online = false;  // 8 fragments
  auto repair = nodes[0]->service->RepairTessera(hash);
  ASSERT_TRUE(repair.ok()) << repair.error().ToString();
  EXPECT_EQ(repair->regenerated.size(), 8u);
  auto after = *nodes[0]->service->CheckTesseraHealth(hash);
  EXPECT_EQ(after.state, HealthState::kHealthy);
  EXPECT_EQ(after.fragments_verified, 24u);
}

TEST_F(ReplicationTest, MoreThanParityLostIsLost) {
  config_.policy.holder_grace_ms = 0;  // the eager policy: an absent holder is lost at once
  auto nodes = MakeNodes(30);
  auto hash = AddPayload(*nodes[0], RandomBytes(5 * core::kMiB, 8));
  auto report = *nodes[0]->service->ReplicateTessera(hash);
  for (int i = 0; i < 9; ++i) net_.Find(report.holders[i].holder)->online = false;
  auto health = *nodes[0]->service->CheckTesseraHealth(hash);
  EXPECT_EQ(health.state, HealthState::kLost);
  SimNode& stranger = net_.AddNode("127.0.202.1:7700", config_);
  core::MemorySink out;
  auto r = stranger.service->FetchTessera(hash, static_cast<core::RandomAccessSink&>(out));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInsufficientShards);
  EXPECT_FALSE(out.finished());
}

TEST_F(ReplicationTest, HolderThatDeletedItsFragmentFailsAttestation) {
  auto nodes = MakeNodes(30);
  auto hash = AddPayload(*nodes[0], RandomBytes(5 * core::kMiB, 9));
  auto report = *nodes[0]->service->ReplicateTessera(hash);
  SimNode* cheat = net_.Find(report.holders[0].holder);
  ASSERT_TRUE(cheat->fragments.Delete(hash, report.holders[0].indices[0]).ok());
  auto health = *nodes[0]->service->CheckTesseraHealth(hash);
  EXPECT_EQ(health.fragments_verified, 23u);
  for (const auto& h : health.holders) {
    if (h.entry.holder == cheat->identity.node_id()) {
      EXPECT_TRUE(h.proven.empty());
      EXPECT_TRUE(h.reachable);  // "data lost", not "node down"
    }
  }
}

// The defect seen with 14 daemons: a holder's fragment files vanish while its
// index still lists them. A re-push must store the bytes again, not be
// acknowledged as "already held", so that one repair brings the tessera back.
TEST_F(ReplicationTest, HolderWhoseFilesVanishedStoresTheRepushAgain) {
  auto nodes = MakeNodes(14);  // owner + 13 peers: 24 fragments, some holders keep 2
  auto payload = RandomBytes(5 * core::kMiB, 31);
  auto hash = AddPayload(*nodes[0], payload);
  auto report = *nodes[0]->service->ReplicateTessera(hash);
  auto two = std::find_if(report.holders.begin(), report.holders.end(),
                          [](const auto& h) { return h.indices.size() == 2; });
  ASSERT_NE(two, report.holders.end());
  SimNode* dropper = net_.Find(two->holder);
  for (uint32_t i : two->indices) dropper->fragments.LoseBytes(hash, i);

  auto repair = nodes[0]->service->RepairTessera(hash);
  ASSERT_TRUE(repair.ok()) << repair.error().ToString();
  EXPECT_EQ(repair->regenerated, two->indices)
      << (repair->problems.empty() ? "" : repair->problems[0]);
  auto after = *nodes[0]->service->CheckTesseraHealth(hash);
  EXPECT_EQ(after.state, HealthState::kHealthy);
  EXPECT_EQ(after.fragments_verified, 24u);
  // Every fragment is really held somewhere: readable and hashing to the plan.
  auto plan = *nodes[0]->service->GetPlan(hash);
  for (uint32_t i = 0; i < 24; ++i) {
    bool found = false;
    for (SimNode* n : nodes) {
      found = found || n->fragments.Verify(hash, i).ok();
    }
    EXPECT_TRUE(found) << "fragment " << i << " is on no disk";
  }
}

// A two-node network: the one peer keeps all 24 fragments. With 3 audit
// samples a proof is ~49 KB and one answer for all of them (~1.2 MB) would not
// fit in a frame (SimDht refuses it as the transport would). The owner asks in
// batches of AttestBatchSize(3) = 20 and every fragment is proven.
TEST_F(ReplicationTest, HolderOfEveryFragmentIsAttestedInBatches) {
  config_.audit_samples = 3;
  auto nodes = MakeNodes(2);
  auto hash = AddPayload(*nodes[0], RandomBytes(5 * core::kMiB, 18));
  auto report = nodes[0]->service->ReplicateTessera(hash);
  ASSERT_TRUE(report.ok()) << report.error().ToString();
  ASSERT_EQ(report->holders.size(), 1u);
  ASSERT_EQ(report->holders[0].indices.size(), 24u);
  SimNode* holder = net_.Find(report->holders[0].holder);
  std::mutex mu;
  std::vector<std::vector<uint32_t>> asked;
  holder->before_attest = [&](const std::vector<uint32_t>& indices) -> core::Result<void> {
    std::lock_guard lock(mu);
    asked.push_back(indices);
    return core::Ok();
  };
  auto health = nodes[0]->service->CheckTesseraHealth(hash);
  ASSERT_TRUE(health.ok()) << health.error().ToString();
  EXPECT_EQ(health->state, HealthState::kHealthy);
  EXPECT_EQ(health->fragments_verified, 24u);
  ASSERT_EQ(health->holders.size(), 1u);
  const auto& h = health->holders[0];
  EXPECT_TRUE(h.answered);
  EXPECT_TRUE(h.error.empty()) << h.error;
  std::vector<uint32_t> all(24);
  std::iota(all.begin(), all.end(), 0u);
  EXPECT_EQ(h.proven, all);
  ASSERT_EQ(asked.size(), 2u);
  EXPECT_EQ(asked[0].size(), 20u);
  EXPECT_EQ(asked[1].size(), 4u);

  // A requester asking for everything at once (an empty list, as before
  // batches existed) gets one full batch that fits in a frame, lowest first.
  auto answer =
      nodes[0]->dht->RequestAttestation(holder->peer(), hash, FreshChallenge(), {}, std::nullopt);
  ASSERT_TRUE(answer.ok()) << answer.error().ToString();
  ASSERT_EQ(answer->proofs.size(), 20u);
  EXPECT_EQ(answer->proofs.back().index, 19u);
  EXPECT_LE(AttestationWireBound(*answer), core::kMaxMessageBytes);
}

// Batches count separately: a batch answered with an error proves nothing but
// does not undo the other; a batch that gets no answer at all stops the rest
// and the holder is pinged.
TEST_F(ReplicationTest, AFailedBatchDoesNotUndoTheOthers) {
  config_.audit_samples = 3;
  auto nodes = MakeNodes(2);
  auto hash = AddPayload(*nodes[0], RandomBytes(5 * core::kMiB, 19));
  auto report = nodes[0]->service->ReplicateTessera(hash);
  ASSERT_TRUE(report.ok()) << report.error().ToString();
  SimNode* holder = net_.Find(report->holders[0].holder);
  std::atomic<int> calls{0};
  holder->before_attest = [&](const std::vector<uint32_t>&) -> core::Result<void> {
    if (++calls == 2) return core::MakeError(ErrorCode::kIo, "disk hiccup");
    return core::Ok();
  };
  auto health = nodes[0]->service->CheckTesseraHealth(hash);
  ASSERT_TRUE(health.ok()) << health.error().ToString();
  const auto& h = health->holders[0];
  EXPECT_TRUE(h.answered);
  EXPECT_TRUE(h.reachable);
  EXPECT_EQ(h.proven.size(), 20u);
  EXPECT_NE(h.error.find("disk hiccup"), std::string::npos) << h.error;
  EXPECT_EQ(health->fragments_verified, 20u);
  EXPECT_EQ(health->state, HealthState::kDegraded);

  calls = 0;
  holder->before_attest = [&](const std::vector<uint32_t>&) -> core::Result<void> {
    ++calls;
    return core::MakeError(ErrorCode::kTimeout, "no answer");
  };
  auto silent = nodes[0]->service->CheckTesseraHealth(hash);
  ASSERT_TRUE(silent.ok());
  EXPECT_EQ(calls.load(), 1);  // the second batch was not asked
  EXPECT_FALSE(silent->holders[0].answered);
  EXPECT_TRUE(silent->holders[0].reachable);  // it answers pings: data lost, not node down
  EXPECT_EQ(silent->fragments_verified, 0u);
}

TEST_F(ReplicationTest, HolderMendsACorruptFragmentWhileTheOwnerIsOffline) {
  auto nodes = MakeNodes(30);
  auto hash = AddPayload(*nodes[0], RandomBytes(5 * core::kMiB, 10));
  auto report = *nodes[0]->service->ReplicateTessera(hash);
  SimNode* holder = net_.Find(report.holders[3].holder);
  const uint32_t idx = report.holders[3].indices[0];
  holder->fragments.FlipByte(hash, idx, 1000);
  nodes[0]->online = false;
  auto passes = holder->service->RunRepairPass();
  ASSERT_TRUE(passes.ok());
  ASSERT_EQ(passes->size(), 1u);
  EXPECT_EQ((*passes)[0].mended_local, std::vector<uint32_t>{idx});
  // Rebuilt from k fragments fetched from the others, and reported as fetched.
  EXPECT_EQ((*passes)[0].bytes_fetched, 16 * report.plan.shard_size);
  EXPECT_OK(holder->fragments.Verify(hash, idx));
}

TEST_F(ReplicationTest, ReceiveRefusesWhatItMust) {
  auto nodes = MakeNodes(3);
  SimNode& owner = *nodes[0];
  SimNode& holder = *nodes[1];
  auto payload = RandomBytes(5 * core::kMiB, 11);
  const HandEncoded encoded = EncodeByHand(payload, crypto::Blake3(payload));
  const auto& table = encoded.table;
  const auto& sinks = encoded.fragments;
  auto signed_plan = SignedPlan::Sign(table, owner.identity);
  auto envelope = [&](uint32_t i) { return EnvelopeOf(table, signed_plan, i); };
  auto receive = [&](const core::FragmentEnvelope& env, const std::vector<uint8_t>& bytes,
                     SimNode& from) {
    core::MemorySource b(bytes);
    return holder.service->ReceiveFragment(from.peer(), env, b);
  };
  // Valid.
  auto ok = receive(envelope(2), sinks[2].bytes(), owner);
  ASSERT_TRUE(ok.ok()) << ok.error().ToString();
  EXPECT_EQ(ok->held_indices, std::vector<uint32_t>{2});
  // Re-sent: acknowledged, not counted twice.
  const uint64_t before = holder.ledger.Balance(owner.identity.node_id())->bytes_stored_for_them;
  ASSERT_TRUE(receive(envelope(2), sinks[2].bytes(), owner).ok());
  EXPECT_EQ(holder.ledger.Balance(owner.identity.node_id())->bytes_stored_for_them, before);
  // Bytes that do not match the checksum.
  auto bad = sinks[3].bytes();
  bad[77] ^= 1;
  auto r = receive(envelope(3), bad, owner);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kCorrupt);
  EXPECT_FALSE(holder.fragments.Get(table.tessera, 3).ok());
  // A forged plan: checksums changed, old signature.
  auto forged = envelope(4);
  forged.table.checksums[4] = crypto::Blake3(bad);
  forged.id.checksum = forged.table.checksums[4];
  EXPECT_EQ(receive(forged, bad, owner).error().code, ErrorCode::kCorrupt);
  // An index outside the plan.
  auto outside = envelope(4);
  outside.id.index = 24;
  EXPECT_EQ(receive(outside, sinks[4].bytes(), owner).error().code, ErrorCode::kInvalidArgument);
  // Another owner claiming the same tessera hash: kept beside, not instead.
  auto thief = SignedPlan::Sign(table, nodes[2]->identity);
  auto stolen = envelope(5);
  stolen.owner_public_key = thief.owner;
  stolen.plan_signature.assign(thief.signature.begin(), thief.signature.end());
  auto beside = receive(stolen, sinks[5].bytes(), *nodes[2]);
  ASSERT_TRUE(beside.ok()) << beside.error().ToString();
  EXPECT_EQ(beside->held_indices, std::vector<uint32_t>{5});  // the thief's plan: index 5 only
  const core::ContentHash slot =
      PlanSlot(holder.identity, table.tessera, nodes[2]->identity.node_id());
  EXPECT_TRUE(holder.fragments.Get(slot, 5).ok());
  EXPECT_FALSE(holder.fragments.Get(table.tessera, 5).ok());
  EXPECT_EQ(SignedPlan::Decode(**holder.plans.GetPlan(table.tessera))->owner_id(),
            owner.identity.node_id());
  // Audits and fetches name (or are) the owner they mean.
  Challenge c{};
  c[0] = 7;
  auto att = holder.service->HandleAttestationRequest(owner.peer(), table.tessera, c, {});
  ASSERT_TRUE(att.ok()) << att.error().ToString();
  ASSERT_EQ(att->proofs.size(), 1u);
  EXPECT_EQ(att->proofs[0].index, 2u);
  att = holder.service->HandleAttestationRequest(nodes[2]->peer(), table.tessera, c, {});
  ASSERT_TRUE(att.ok()) << att.error().ToString();
  ASSERT_EQ(att->proofs.size(), 1u);
  EXPECT_EQ(att->proofs[0].index, 5u);
  EXPECT_TRUE(
      holder.service->OpenVerifiedFragment(table.tessera, 5, nodes[2]->identity.node_id()).ok());
  EXPECT_EQ(
      holder.service->OpenVerifiedFragment(table.tessera, 5, owner.identity.node_id()).error().code,
      ErrorCode::kNotFound);
  EXPECT_FALSE(holder.service->OpenVerifiedFragment(table.tessera, 5).ok());  // the first plan's
}

// How many different owners' plans one node keeps for a hash is bounded
// (max_plans_per_tessera); a plan already kept is never refused for it.
TEST_F(ReplicationTest, PlansOfOneHashAreCappedPerHolder) {
  config_.max_plans_per_tessera = 3;
  auto nodes = MakeNodes(6);
  SimNode& holder = *nodes[0];
  auto payload = RandomBytes(5 * core::kMiB, 12);
  const HandEncoded encoded = EncodeByHand(payload, crypto::Blake3(payload));
  const auto& table = encoded.table;
  auto send = [&](SimNode& from, uint32_t i) {
    core::MemorySource b(encoded.fragments[i].bytes());
    return holder.service->ReceiveFragment(
        from.peer(), EnvelopeOf(table, SignedPlan::Sign(table, from.identity), i), b);
  };
  for (int o = 1; o <= 3; ++o) ASSERT_TRUE(send(*nodes[o], 0).ok()) << o;
  EXPECT_EQ(*holder.plans.CountPlansOf(table.tessera), 3u);
  auto refused = send(*nodes[4], 0);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kResourceExhausted);
  EXPECT_THAT(refused.error().message, ::testing::HasSubstr("max_plans_per_tessera"));
  EXPECT_FALSE(*holder.plans.GetPlan(
      PlanSlot(holder.identity, table.tessera, nodes[4]->identity.node_id())));
  EXPECT_EQ(holder.ledger.Balance(nodes[4]->identity.node_id())->bytes_stored_for_them, 0u);
  // The owners already kept still add fragments.
  EXPECT_TRUE(send(*nodes[3], 1).ok());
  EXPECT_EQ(*holder.plans.CountPlansOf(table.tessera), 3u);
}

// A plan slot is keyed by a secret of its holder: a peer cannot aim a plan of
// its own at an owner's slot (here with the best guesses it has: the slot as
// its own key would make it, and as another holder's would), so the owner's
// plan lands. Should a plan sit at the slot all the same (made here with the
// holder's key, which only the test knows), the owner is refused there and
// nothing of it is stored uncharged under the other plan's key.
TEST_F(ReplicationTest, ASlotIsSecretToItsHolderAndNeverShared) {
  auto nodes = MakeNodes(5);
  SimNode& holder = *nodes[0];
  SimNode& squatter = *nodes[1];
  SimNode& owner = *nodes[2];
  SimNode& late_owner = *nodes[3];
  auto payload = RandomBytes(5 * core::kMiB, 14);
  const HandEncoded encoded = EncodeByHand(payload, crypto::Blake3(payload));
  const auto& table = encoded.table;
  auto send = [&](SimNode& from, const core::FragmentTable& t, uint32_t i) {
    core::MemorySource b(encoded.fragments[i].bytes());
    return holder.service->ReceiveFragment(from.peer(),
                                           EnvelopeOf(t, SignedPlan::Sign(t, from.identity), i), b);
  };
  auto first = send(squatter, table, 0);  // the hash's key
  ASSERT_TRUE(first.ok()) << first.error().ToString();
  const core::NodeId owner_id = owner.identity.node_id();
  EXPECT_NE(PlanSlot(holder.identity, table.tessera, owner_id),
            PlanSlot(squatter.identity, table.tessera, owner_id));
  for (SimNode* guesser : {&squatter, nodes[4]}) {
    auto guess = table;
    guess.tessera = PlanSlot(guesser->identity, table.tessera, owner_id);
    auto aimed = send(squatter, guess, 0);
    ASSERT_TRUE(aimed.ok()) << aimed.error().ToString();
  }
  auto landed = send(owner, table, 1);
  ASSERT_TRUE(landed.ok()) << landed.error().ToString();
  auto key = holder.service->FindPlanKey(table.tessera, owner_id);
  ASSERT_TRUE(key.ok()) << key.error().ToString();
  ASSERT_TRUE(key->has_value());
  EXPECT_EQ(**key, PlanSlot(holder.identity, table.tessera, owner_id));
  EXPECT_TRUE(holder.fragments.Get(**key, 1).ok());
  // What a peer is told never names the slot: a fetch of a fragment not held.
  auto missing = holder.service->OpenVerifiedFragment(table.tessera, 7, owner_id);
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.error().message, ::testing::Not(::testing::HasSubstr((*key)->Short())));
  EXPECT_THAT(missing.error().message, ::testing::HasSubstr(table.tessera.Short()));

  // A plan at the slot by other means: refused there, never shared.
  const core::ContentHash slot =
      PlanSlot(holder.identity, table.tessera, late_owner.identity.node_id());
  auto at_slot = table;
  at_slot.tessera = slot;
  auto second = send(squatter, at_slot, 0);
  ASSERT_TRUE(second.ok()) << second.error().ToString();
  const uint64_t charged =
      holder.ledger.Balance(squatter.identity.node_id())->bytes_stored_for_them;
  auto refused = send(late_owner, table, 1);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kPermissionDenied);
  EXPECT_THAT(refused.error().message, ::testing::HasSubstr("holds a plan of tessera"));
  EXPECT_FALSE(holder.fragments.Get(slot, 1).ok());
  auto kept = holder.plans.GetPlan(slot);
  ASSERT_TRUE(kept.ok()) << kept.error().ToString();
  ASSERT_TRUE(kept->has_value());
  EXPECT_EQ(**kept,
            SignedPlan::Sign(at_slot, squatter.identity).Encode());  // Ed25519: deterministic
  EXPECT_EQ(holder.ledger.Balance(late_owner.identity.node_id())->bytes_stored_for_them, 0u);
  EXPECT_EQ(holder.ledger.Balance(squatter.identity.node_id())->bytes_stored_for_them, charged);
}

// A malicious owner cannot make an honest holder keep bytes whose audits can
// never pass (a proof root that the bytes do not lead to), nor change the
// fragments of a plan the holder already keeps.
TEST_F(ReplicationTest, ReceiveChecksProofRootsAgainstTheBytes) {
  auto nodes = MakeNodes(2);
  SimNode& owner = *nodes[0];
  SimNode& holder = *nodes[1];
  auto payload = RandomBytes(5 * core::kMiB, 13);
  const HandEncoded encoded = EncodeByHand(payload, crypto::Blake3(payload));
  const auto& table = encoded.table;
  auto send = [&](const core::FragmentTable& t, uint32_t i) {
    core::MemorySource b(encoded.fragments[i].bytes());
    return holder.service->ReceiveFragment(
        owner.peer(), EnvelopeOf(t, SignedPlan::Sign(t, owner.identity), i), b);
  };
  // Signed by the owner, right checksum, wrong proof root: refused, nothing kept.
  auto lying = table;
  lying.proof_roots[1] = lying.proof_roots[2];
  auto r = send(lying, 1);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kCorrupt);
  EXPECT_THAT(r.error().message, ::testing::HasSubstr("proof root"));
  EXPECT_FALSE(holder.fragments.Get(table.tessera, 1).ok());
  EXPECT_FALSE(*holder.plans.GetPlan(table.tessera));
  EXPECT_EQ(holder.ledger.Balance(owner.identity.node_id())->bytes_stored_for_them, 0u);
  // The honest plan is accepted; a later one that changes a root is refused.
  ASSERT_TRUE(send(table, 1).ok());
  auto changed = table;
  changed.proof_roots[3] = changed.proof_roots[4];
  r = send(changed, 2);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_FALSE(holder.fragments.Get(table.tessera, 2).ok());
  // Too few roots for the fragments.
  auto short_roots = table;
  short_roots.proof_roots.pop_back();
  EXPECT_EQ(send(short_roots, 2).error().code, ErrorCode::kInvalidArgument);
}

TEST_F(ReplicationTest, SenderOverTheDeficitAllowanceIsRefused) {
  config_.deficit_allowance_bytes = 500'000;  // less than two fragments of 5 MiB / 16
  auto nodes = MakeNodes(2);
  auto hash = AddPayload(*nodes[0], RandomBytes(5 * core::kMiB, 12));
  auto report = nodes[0]->service->ReplicateTessera(hash);
  ASSERT_TRUE(report.ok()) << report.error().ToString();
  // One fragment (327,680 B) fits in the allowance; the second would exceed it.
  EXPECT_EQ(report->fragments_placed(), 1u);
  ASSERT_FALSE(report->failures.empty());
  EXPECT_NE(report->failures[0].error.find("deficit"), std::string::npos)
      << report->failures[0].error;
}

// Owners that never stored anything for us get the smaller allowance of
// strangers; once they store for us, the full one.
TEST_F(ReplicationTest, AnOwnerThatStoresNothingForUsGetsTheStrangersAllowance) {
  config_.deficit_allowance_bytes = 4'000'000;
  config_.new_owner_allowance_bytes = 500'000;  // one fragment of 5 MiB / 16
  auto nodes = MakeNodes(2);
  auto hash = AddPayload(*nodes[0], RandomBytes(5 * core::kMiB, 41));
  auto report = *nodes[0]->service->ReplicateTessera(hash);
  EXPECT_EQ(report.fragments_placed(), 1u);
  ASSERT_FALSE(report.failures.empty());
  EXPECT_NE(report.failures[0].error.find("owners that store nothing for us"), std::string::npos)
      << report.failures[0].error;
  // The owner now stores something for the holder: the full allowance applies.
  auto& holder = *nodes[1];
  ASSERT_TRUE(holder.ledger
                  .Record(nodes[0]->identity.node_id(), core::LedgerDirection::kTheyStoreForUs,
                          core::ContentHash{}, 0, 1000)
                  .ok());
  auto again = *nodes[0]->service->ReplicateTessera(hash);
  EXPECT_GT(again.fragments_placed(), 1u);
}

// A fragment is charged at least the per-fragment minimum.
TEST_F(ReplicationTest, TinyFragmentsAreChargedTheMinimum) {
  config_.min_fragment_charge_bytes = 65536;
  auto nodes = MakeNodes(8);
  auto hash = AddPayload(*nodes[0], RandomBytes(300, 42));  // a 300-byte small tessera
  auto report = *nodes[0]->service->ReplicateTessera(hash);
  ASSERT_EQ(report.holders.size(), 7u);
  for (const auto& h : report.holders) {
    EXPECT_EQ(
        net_.Find(h.holder)->ledger.Balance(nodes[0]->identity.node_id())->bytes_stored_for_them,
        65536u);
  }
}

TEST_F(ReplicationTest, FullDiskIsRefusedCleanly) {
  auto& owner = net_.AddNode("127.0.1.1:7700", config_);
  auto& tiny = net_.AddNode("127.0.2.1:7700", config_, /*capacity=*/100'000);
  auto hash = AddPayload(owner, RandomBytes(5 * core::kMiB, 13));
  auto report = owner.service->ReplicateTessera(hash);
  ASSERT_FALSE(report.ok());  // the only peer refused everything
  EXPECT_EQ(tiny.fragments.used(), 0u);
}

// gMock: the service must not believe an acknowledgement from the wrong node.
class MockDht : public core::DhtPort {
 public:
  MOCK_METHOD(core::Result<std::vector<core::PeerInfo>>, FindPeers,
              (const core::NodeId&, std::size_t), (override));
  MOCK_METHOD(core::Result<core::ReplicateAck>, ReplicateFragment,
              (const core::PeerInfo&, const core::FragmentEnvelope&, core::RandomAccessSource&),
              (override));
  MOCK_METHOD(core::Result<core::Attestation>, RequestAttestation,
              (const core::PeerInfo&, const core::ContentHash&, (const std::array<uint8_t, 32>&),
               const std::vector<uint32_t>&, const std::optional<core::NodeId>&),
              (override));
  MOCK_METHOD(core::Result<void>, Ping, (const core::PeerInfo&), (override));
  MOCK_METHOD(core::Result<void>, FetchFragment,
              (const core::PeerInfo&, const core::ContentHash&, uint32_t, core::ByteSink&,
               const std::optional<core::NodeId>&),
              (override));
  MOCK_METHOD(core::Result<std::size_t>, PutRecord,
              (const core::NodeId&, const std::vector<uint8_t>&), (override));
  MOCK_METHOD(core::Result<std::vector<std::vector<uint8_t>>>, GetRecords, (const core::NodeId&),
              (override));
};

TEST_F(ReplicationTest, AckFromAnotherNodeIsNotCounted) {
  auto self = *crypto::Identity::Generate(0);
  testing::MemoryFragmentStore frags;
  testing::MemoryLedger ledger;
  testing::MemoryBlobStore blobs;
  MemoryPlanStore plans;
  ::testing::NiceMock<MockDht> dht;
  ReplicationDeps deps;
  deps.self = &self;
  deps.dht = &dht;
  deps.fragments = &frags;
  deps.ledger = &ledger;
  deps.blobs = &blobs;
  deps.plans = &plans;
  deps.clock = &clock_;
  ReplicationService svc(deps, config_);
  auto payload = RandomBytes(1000, 14);
  auto hash = crypto::Blake3(payload);
  core::MemorySource src(payload);
  ASSERT_TRUE(blobs.Put(hash, payload.size(), src).ok());
  core::PeerInfo peer{crypto::Identity::Generate(0)->node_id(), "127.0.5.1:7700"};
  EXPECT_CALL(dht, FindPeers(::testing::_, ::testing::_))
      .WillRepeatedly(::testing::Return(std::vector<core::PeerInfo>{peer}));
  EXPECT_CALL(dht, ReplicateFragment(::testing::_, ::testing::_, ::testing::_))
      .WillRepeatedly([&](const core::PeerInfo&, const core::FragmentEnvelope& env,
                          core::RandomAccessSource&) -> core::Result<core::ReplicateAck> {
        core::ReplicateAck ack;
        ack.tessera = env.id.tessera;
        ack.holder = self.node_id();  // not the peer we sent to
        ack.held_indices = {0};
        return ack;
      });
  auto report = svc.ReplicateTessera(hash);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(ledger.Balance(peer.id)->bytes_they_store_for_us, 0u);
}

TEST_F(ReplicationTest, RepairLoopRunsOnScheduleOnDemandAndStopsPromptly) {
  // A long interval: nothing runs by itself; RunNow runs a pass; Stop is prompt.
  config_.repair_interval_secs = 3600;
  config_.repair_jitter_secs = 0;
  auto nodes = MakeNodes(3);
  auto hash = AddPayload(*nodes[0], RandomBytes(1000, 16));
  ASSERT_TRUE(nodes[0]->service->ReplicateTessera(hash).ok());
  std::vector<std::string> logged;
  {
    RepairLoop loop(*nodes[0]->service, [&](const std::string& l) { logged.push_back(l); });
    loop.Start();
    auto reports = loop.RunNow();
    ASSERT_TRUE(reports.ok());
    ASSERT_EQ(reports->size(), 1u);
    EXPECT_EQ((*reports)[0].tessera, hash);
    EXPECT_EQ(loop.passes(), 1u);
    auto t0 = std::chrono::steady_clock::now();
    loop.Stop();
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(1));
    EXPECT_EQ(loop.passes(), 1u);  // the hour never passed
  }
  // A short interval: passes come by themselves (bounded wait on the counter).
  ReplicationConfig fast = config_;
  fast.repair_interval_secs = 0;
  ReplicationDeps deps;
  deps.self = &nodes[1]->identity;
  deps.dht = nodes[1]->dht.get();
  deps.fragments = &nodes[1]->fragments;
  deps.ledger = &nodes[1]->ledger;
  deps.blobs = &nodes[1]->blobs;
  deps.plans = &nodes[1]->plans;
  deps.clock = &clock_;
  ReplicationService svc(deps, fast);
  RepairLoop loop(svc, [&](const std::string& l) { logged.push_back(l); });
  loop.Start();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (loop.passes() < 3 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::yield();
  EXPECT_GE(loop.passes(), 3u);
  loop.Stop();
}

// A ledger whose disk refuses writes: the owner still places the fragment but
// says it could not credit it.
class RefusingLedger final : public core::ReciprocityLedger {
 public:
  core::Result<bool> Record(const core::NodeId&, core::LedgerDirection, const core::ContentHash&,
                            uint32_t, uint64_t) override {
    return core::MakeError(core::ErrorCode::kIo, "disk I/O error");
  }
  core::Result<bool> Forget(const core::NodeId&, core::LedgerDirection, const core::ContentHash&,
                            uint32_t) override {
    return false;
  }
  core::Result<core::LedgerEntry> Balance(const core::NodeId& p) override {
    core::LedgerEntry e;
    e.peer = p;
    return e;
  }
  core::Result<std::vector<core::LedgerEntry>> BestPeers(std::size_t) override {
    return std::vector<core::LedgerEntry>{};
  }
  core::Result<std::vector<core::LedgerEntry>> All() override {
    return std::vector<core::LedgerEntry>{};
  }
};

TEST_F(ReplicationTest, LedgerFailureIsReportedNotDropped) {
  RefusingLedger refusing;
  SimNode& owner = net_.AddNode("127.0.1.1:7700", config_, UINT64_MAX,
                                [&](SimNode& n) { n.ledger_port = &refusing; });
  MakeNodes(8);
  auto hash = AddPayload(owner, RandomBytes(2000, 17));
  auto report = owner.service->ReplicateTessera(hash);
  ASSERT_TRUE(report.ok()) << report.error().ToString();
  EXPECT_EQ(report->holders.size(), 7u);
  ASSERT_EQ(report->failures.size(), 7u);
  EXPECT_NE(report->failures[0].error.find("not credited"), std::string::npos);
}

TEST(PlacementTest, SubnetKeys) {
  EXPECT_EQ(SubnetKey("127.0.3.1:7700"), "v4:127.0.3");
  EXPECT_EQ(SubnetKey("127.0.3.200:1"), "v4:127.0.3");
  EXPECT_EQ(SubnetKey("[2001:db8:1:2::1]:7700"), SubnetKey("[2001:db8:1:ffff::9]:1"));
  EXPECT_NE(SubnetKey("[2001:db8:1::1]:7700"), SubnetKey("[2001:db8:2::1]:7700"));
  EXPECT_EQ(SubnetKey("nonsense"), "addr:nonsense");
}

TEST(PlacementTest, RoundRobinIsEven) {
  auto plan = *core::PlanForSize(300 * core::kMiB);
  auto a = AssignFragments(plan, 11);
  std::size_t total = 0, lo = 99, hi = 0;
  for (auto& h : a) {
    total += h.size();
    lo = std::min(lo, h.size());
    hi = std::max(hi, h.size());
  }
  EXPECT_EQ(total, 72u);
  EXPECT_LE(hi - lo, 1u);
}

TEST(PlacementTest, BalancePreferredAmongEligible) {
  std::vector<Candidate> c;
  for (int i = 0; i < 4; ++i) {
    core::PeerInfo p;
    p.id.bytes[0] = static_cast<uint8_t>(i);
    p.address = "127.0." + std::to_string(i + 1) + ".1:1";
    c.push_back({p, i == 3 ? 1000 : 0, p.id});
  }
  auto picked = SelectHolders(c, 2, 2);
  ASSERT_EQ(picked.size(), 2u);
  EXPECT_EQ(picked[0].id.bytes[0], 3);  // the generous peer first
  EXPECT_EQ(picked[1].id.bytes[0], 0);  // then the closest
}

}  // namespace
}  // namespace tesseras::replication
