// Replication across 13 real nodes (3 in the family-network case): each runs
// the DHT over TLS on its own loopback address 127.0.N.1, with a
// ReplicationService behind its request dispatch. Storage is in memory here
// (the storage layer has its own crash and disk tests); every byte crosses a
// real socket.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <random>
#include <thread>

#include "crypto/blake3_hasher.h"
#include "dht/convert.h"
#include "dht/dht_port_adapter.h"
#include "dht/record.h"
#include "net/wire.h"
#include "replication/attestation.h"
#include "replication/dht_records.h"
#include "replication/memory_plan_store.h"
#include "replication/network_handler.h"
#include "replication/replication_service.h"
#include "replication/testing/memory_ports.h"

namespace tesseras {
namespace {

using replication::testing::MemoryBlobStore;
using replication::testing::MemoryFragmentStore;
using replication::testing::MemoryLedger;

constexpr int kPowBits = 4;

dht::NodeConfig Config(const std::string& listen, std::vector<std::string> seeds) {
  dht::NodeConfig c;
  c.listen_address = listen;
  c.seeds = std::move(seeds);
  c.limits.connect_timeout = dht::Millis(1000);
  c.limits.handshake_timeout = dht::Millis(2000);
  c.limits.request_timeout = dht::Millis(10000);
  c.limits.chunk_timeout = dht::Millis(10000);
  c.limits.min_pow_bits = kPowBits;
  c.maintenance_tick = dht::Millis(50);
  c.bootstrap_retry = dht::Millis(200);
  return c;
}

struct NetNode {
  crypto::Identity identity = *crypto::Identity::Generate(kPowBits);
  MemoryFragmentStore fragments;
  MemoryLedger ledger;
  MemoryBlobStore blobs;
  replication::MemoryPlanStore plans;
  core::SystemClock clock;
  std::unique_ptr<dht::DhtRuntime> runtime;
  std::unique_ptr<dht::DhtPortAdapter> port;
  std::unique_ptr<replication::ReplicationService> service;
  std::shared_ptr<replication::NetworkHandler> handler;
  bool alive = true;
};

class ReplicationNetworkTest : public ::testing::Test {
 protected:
  // How many nodes (the owner included) the network has.
  virtual int NodeCount() const { return 13; }

  void SetUp() override {
    const int kNodes = NodeCount();
    scratch_ = std::filesystem::temp_directory_path() /
               ("tesseras-rnet-" + std::to_string(::getpid()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(scratch_);
    std::string seed;
    for (int i = 0; i < kNodes; ++i) {
      auto n = std::make_unique<NetNode>();
      std::vector<std::string> seeds;
      if (!seed.empty()) seeds.push_back(seed);
      auto rt = dht::DhtRuntime::Start(n->identity,
                                       Config("127.0." + std::to_string(i + 1) + ".1:0", seeds), 2);
      ASSERT_TRUE(rt.ok()) << rt.error().ToString();
      n->runtime = std::move(*rt);
      if (seed.empty()) seed = n->runtime->self_info().address;
      n->port = std::make_unique<dht::DhtPortAdapter>(*n->runtime);
      replication::ReplicationConfig cfg;
      cfg.scratch_dir = scratch_ / std::to_string(i);
      cfg.max_per_subnet = 2;
      // These scenarios kill holders and repair at once: the eager policy (an
      // absent holder is lost at the first failed audit). Grace and lazy
      // repair are exercised by the maintenance tests.
      cfg.policy.holder_grace_ms = 0;
      replication::ReplicationDeps deps;
      deps.self = &n->identity;
      deps.dht = n->port.get();
      deps.fragments = &n->fragments;
      deps.ledger = &n->ledger;
      deps.blobs = &n->blobs;
      deps.plans = &n->plans;
      deps.clock = &n->clock;
      deps.self_address = n->runtime->self_info().address;
      replication::UseDhtRecords(deps, n->identity, n->clock, 24 * 3600 * 1000);
      n->service = std::make_unique<replication::ReplicationService>(deps, cfg);
      n->handler = std::make_shared<replication::NetworkHandler>(*n->service, cfg.scratch_dir);
      n->runtime->SetReplicationHandler(n->handler);
      nodes_.push_back(std::move(n));
    }
    // Wait (bounded) until the owner's lookups see every other node.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    for (;;) {
      auto peers = nodes_[0]->port->FindPeers(nodes_[0]->identity.node_id(), 40);
      if (peers.ok() && peers->size() == static_cast<std::size_t>(kNodes - 1)) break;
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "network did not converge";
      std::this_thread::sleep_for(std::chrono::milliseconds(100));  // polling a condition
    }
  }

  void TearDown() override {
    for (auto& n : nodes_)
      if (n->runtime) n->runtime->Stop();
    nodes_.clear();
    std::filesystem::remove_all(scratch_);
  }

  NetNode* ByAddress(const core::NodeId& id) {
    for (auto& n : nodes_)
      if (n->identity.node_id() == id) return n.get();
    return nullptr;
  }
  void Kill(NetNode* n) {
    n->runtime->Stop();
    n->alive = false;
  }

  core::ContentHash Publish(NetNode& owner, const std::vector<uint8_t>& payload) {
    auto hash = crypto::Blake3(payload);
    core::MemorySource src(payload);
    EXPECT_TRUE(owner.blobs.Put(hash, payload.size(), src).ok());
    return hash;
  }

  static std::vector<uint8_t> Random(std::size_t n, uint64_t seed) {
    std::vector<uint8_t> v(n);
    std::mt19937_64 rng(seed);
    for (std::size_t i = 0; i + 8 <= n; i += 8) {
      uint64_t x = rng();
      std::memcpy(&v[i], &x, 8);
    }
    return v;
  }

  // Kills holders, largest index first, as long as the fragments they hold
  // together stay within `budget`; returns how many were killed.
  int KillHolders(const replication::ReplicationReport& r, int want, uint32_t budget) {
    int killed = 0;
    uint32_t lost = 0;
    for (const auto& h : r.holders) {
      if (killed == want) break;
      if (lost + h.indices.size() > budget) continue;
      Kill(ByAddress(h.holder));
      lost += static_cast<uint32_t>(h.indices.size());
      ++killed;
    }
    return killed;
  }

  void CheckRestoreElsewhere(const core::ContentHash& hash, const std::vector<uint8_t>& payload,
                             NetNode* stranger) {
    core::MemorySink out;
    auto r = stranger->service->FetchTessera(hash, static_cast<core::RandomAccessSink&>(out));
    ASSERT_TRUE(r.ok()) << r.error().ToString();
    EXPECT_TRUE(out.bytes() == payload) << "restored bytes differ";
  }

  std::filesystem::path scratch_;
  std::vector<std::unique_ptr<NetNode>> nodes_;
};

TEST_F(ReplicationNetworkTest, MediumSurvivesLosingParityHoldersAndIsRepaired) {
  auto payload = Random(6 * core::kMiB + 5, 1);
  auto hash = Publish(*nodes_[0], payload);
  auto report = nodes_[0]->service->ReplicateTessera(hash);
  ASSERT_TRUE(report.ok()) << report.error().ToString();
  EXPECT_EQ(report->fragments_placed(), 24u);
  EXPECT_EQ(report->holders.size(), 12u);  // every peer, 2 fragments each
  EXPECT_GE(report->holder_records_stored, 1u);

  // A holder that never held this tessera restores it; then lose 8 fragments' holders.
  NetNode* stranger = nullptr;
  for (auto& n : nodes_) {
    bool holds = false;
    for (const auto& h : report->holders) holds = holds || h.holder == n->identity.node_id();
    if (!holds && n.get() != nodes_[0].get()) stranger = n.get();
  }
  ASSERT_EQ(stranger, nullptr);  // with 12 peers all hold something
  EXPECT_EQ(KillHolders(*report, 4, 8), 4);
  auto health = nodes_[0]->service->CheckTesseraHealth(hash);
  ASSERT_TRUE(health.ok()) << health.error().ToString();
  EXPECT_EQ(health->state, replication::HealthState::kDegraded);
  EXPECT_EQ(health->fragments_verified, 16u);

  // A live holder restores the whole tessera from the others.
  NetNode* restorer = nullptr;
  for (auto& n : nodes_)
    if (n->alive && n.get() != nodes_[0].get()) restorer = n.get();
  CheckRestoreElsewhere(hash, payload, restorer);

  auto repair = nodes_[0]->service->RepairTessera(hash);
  ASSERT_TRUE(repair.ok()) << repair.error().ToString();
  EXPECT_EQ(repair->regenerated.size(), 8u);
  auto after = nodes_[0]->service->CheckTesseraHealth(hash);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->state, replication::HealthState::kHealthy);
  EXPECT_EQ(after->fragments_verified, 24u);
}

TEST_F(ReplicationNetworkTest, SmallGoesToSevenHoldersAndDeletedFilesFailAttestation) {
  auto payload = Random(300'000, 2);
  auto hash = Publish(*nodes_[0], payload);
  auto report = nodes_[0]->service->ReplicateTessera(hash);
  ASSERT_TRUE(report.ok()) << report.error().ToString();
  ASSERT_EQ(report->holders.size(), 7u);
  // One holder throws its copy away; its next attestation proves nothing.
  NetNode* cheat = ByAddress(report->holders[0].holder);
  ASSERT_TRUE(cheat->fragments.Delete(hash, 0).ok());
  auto health = nodes_[0]->service->CheckTesseraHealth(hash);
  ASSERT_TRUE(health.ok());
  for (const auto& h : health->holders) {
    if (h.entry.holder == cheat->identity.node_id()) {
      EXPECT_TRUE(h.proven.empty());
      EXPECT_TRUE(h.reachable);
    } else {
      EXPECT_EQ(h.proven, std::vector<uint32_t>{0});
    }
  }
  EXPECT_EQ(health->state, replication::HealthState::kDegraded);
  // A node that holds nothing of it restores it.
  NetNode* stranger = nullptr;
  for (auto& n : nodes_) {
    bool holds = n.get() == nodes_[0].get();
    for (const auto& h : report->holders) holds = holds || h.holder == n->identity.node_id();
    if (!holds) stranger = n.get();
  }
  ASSERT_NE(stranger, nullptr);
  CheckRestoreElsewhere(hash, payload, stranger);
}

TEST_F(ReplicationNetworkTest, ResentFragmentDoesNotInflateTheLedger) {
  auto payload = Random(5 * core::kMiB, 3);
  auto hash = Publish(*nodes_[0], payload);
  auto first = nodes_[0]->service->ReplicateTessera(hash);
  ASSERT_TRUE(first.ok()) << first.error().ToString();
  NetNode* holder = ByAddress(first->holders[0].holder);
  auto before = *holder->ledger.Balance(nodes_[0]->identity.node_id());
  auto owner_before = *nodes_[0]->ledger.Balance(holder->identity.node_id());
  auto second = nodes_[0]->service->ReplicateTessera(hash);  // same plan, same fragments
  ASSERT_TRUE(second.ok()) << second.error().ToString();
  auto after = *holder->ledger.Balance(nodes_[0]->identity.node_id());
  EXPECT_EQ(after.bytes_stored_for_them, before.bytes_stored_for_them);
  EXPECT_EQ(nodes_[0]->ledger.Balance(holder->identity.node_id())->bytes_they_store_for_us,
            owner_before.bytes_they_store_for_us);
  EXPECT_GT(before.bytes_stored_for_them, 0u);
}

#ifndef TESSERAS_SKIP_LARGE
TEST_F(ReplicationNetworkTest, LargeSurvivesLosingParityFragments) {
  auto payload = Random(260 * core::kMiB + 7, 4);
  auto hash = Publish(*nodes_[0], payload);
  auto report = nodes_[0]->service->ReplicateTessera(hash);
  ASSERT_TRUE(report.ok()) << report.error().ToString();
  EXPECT_EQ(report->fragments_placed(), 72u);
  EXPECT_EQ(KillHolders(*report, 4, 24), 4);  // 6 fragments each: 24 = the parity count
  NetNode* restorer = nullptr;
  for (auto& n : nodes_)
    if (n->alive && n.get() != nodes_[0].get()) restorer = n.get();
  CheckRestoreElsewhere(hash, payload, restorer);
}

// A family network: the owner and two peers. Each peer keeps 36 of the 72
// fragments of a Large tessera, and one AttestRequest covering all of them
// would need about 1.2 MB, more than one frame (1 MiB). The owner asks in
// batches: both holders prove every fragment and the tessera is healthy.
class FamilyNetworkTest : public ReplicationNetworkTest {
 protected:
  int NodeCount() const override { return 3; }
};

TEST_F(FamilyNetworkTest, LargeTesseraOnTwoPeersIsProvenInFull) {
  auto payload = Random(256 * core::kMiB + 11, 5);
  auto hash = Publish(*nodes_[0], payload);
  auto report = nodes_[0]->service->ReplicateTessera(hash);
  ASSERT_TRUE(report.ok()) << report.error().ToString();
  ASSERT_EQ(report->fragments_placed(), 72u);
  ASSERT_EQ(report->holders.size(), 2u);
  for (const auto& h : report->holders) EXPECT_EQ(h.indices.size(), 36u);

  auto health = nodes_[0]->service->CheckTesseraHealth(hash);
  ASSERT_TRUE(health.ok()) << health.error().ToString();
  ASSERT_EQ(health->holders.size(), 2u);
  for (const auto& h : health->holders) {
    EXPECT_TRUE(h.answered) << h.error;
    EXPECT_TRUE(h.error.empty()) << h.error;
    auto placed = h.entry.indices;
    std::sort(placed.begin(), placed.end());
    auto proven = h.proven;
    std::sort(proven.begin(), proven.end());
    EXPECT_EQ(proven, placed);
  }
  EXPECT_EQ(health->fragments_verified, 72u);
  EXPECT_EQ(health->state, replication::HealthState::kHealthy);
  EXPECT_EQ(health->outcome, replication::HealthOutcome::kHealthy);

  // Nothing to repair: a healthy tessera is left alone.
  auto repair = nodes_[0]->service->RepairTessera(hash);
  ASSERT_TRUE(repair.ok()) << repair.error().ToString();
  EXPECT_TRUE(repair->regenerated.empty());

  // What one full batch of these real proofs weighs as a frame.
  NetNode* holder = ByAddress(report->holders[0].holder);
  auto placed = report->holders[0].indices;
  std::sort(placed.begin(), placed.end());
  placed.resize(replication::kDefaultAttestBatch);
  auto answer = holder->service->HandleAttestationRequest(nodes_[0]->runtime->self_info(), hash,
                                                          replication::FreshChallenge(), placed);
  ASSERT_TRUE(answer.ok()) << answer.error().ToString();
  ASSERT_EQ(answer->proofs.size(), replication::kDefaultAttestBatch);
  wire::Envelope env;
  env.set_version(net::kProtocolVersion);
  env.set_request_id(1);
  dht::ToWire(*answer, env.mutable_attest_response());
  auto frame = net::EncodeFrame(env);
  ASSERT_TRUE(frame.ok()) << frame.error().ToString();
  EXPECT_LE(frame->size(), replication::AttestationWireBound(*answer));
  RecordProperty("full_batch_frame_bytes", static_cast<int>(frame->size()));
  RecordProperty("proof_response_bytes", static_cast<int>(answer->proofs[0].response.size()));
}
#endif

// The batch arithmetic (replication/attestation.h) against the real encoder:
// a full batch of worst-case proofs (full 16 KiB leaves, 12-level paths, the
// largest varints) is a valid frame under the cap, and the bound the holder
// and the simulator use is never below the real size.
TEST(AttestationFrameTest, FullBatchOfWorstCaseProofsFitsInOneFrame) {
  for (int s = 1; s <= 3; ++s) {  // 4 samples would exceed the 64 KiB per response
    core::Attestation a;
    a.tessera.bytes.fill(1);
    a.holder.bytes.fill(2);
    a.challenge.fill(3);
    a.timestamp_ms = -1;  // the longest varint
    a.holder_key.fill(4);
    a.signature.assign(64, 5);
    std::vector<replication::LeafSample> samples(static_cast<std::size_t>(s));
    for (auto& x : samples) {
      x.leaf_index = 4095;
      x.leaf.assign(core::kProofLeafBytes, 0x5a);
      x.path.resize(replication::kMaxProofPathLevels);
    }
    const auto response = replication::EncodeSamples(samples);
    ASSERT_EQ(response.size(), replication::MaxProofResponseBytes(s));
    const std::size_t batch = replication::AttestBatchSize(s);
    for (std::size_t i = 0; i < batch; ++i) {
      core::FragmentProof p;
      p.index = static_cast<uint32_t>(254 - i);
      p.checksum.bytes.fill(6);
      p.response = response;
      a.proofs.push_back(std::move(p));
    }
    wire::Envelope env;
    env.set_version(net::kProtocolVersion);
    env.set_request_id(UINT64_MAX);
    dht::ToWire(a, env.mutable_attest_response());
    ASSERT_TRUE(net::ValidateEnvelope(env).ok()) << s;
    auto frame = net::EncodeFrame(env);
    ASSERT_TRUE(frame.ok()) << s << ": " << frame.error().ToString();
    EXPECT_LE(frame->size(), replication::AttestationWireBound(a)) << s;
    EXPECT_LE(replication::AttestationWireBound(a), core::kMaxMessageBytes) << s;
    if (s == replication::kDefaultAuditSamples) {
      EXPECT_EQ(batch, 31u);
      EXPECT_LT(frame->size(), net::kMaxFrameBytes - 4096);  // room to spare
    }
  }
}

}  // namespace
}  // namespace tesseras
