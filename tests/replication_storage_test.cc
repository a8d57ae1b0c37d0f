// The replication service over the real storage layer: every node keeps its
// fragments, ledger and plans in its own data dir (SQLite + fragment files),
// nodes talk through the in-process SimNetwork.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <random>

#include "crypto/blake3_hasher.h"
#include "replication/fragment_codec.h"
#include "replication/testing/sim_network.h"
#include "storage/blob_store.h"
#include "storage/database.h"
#include "storage/fragment_store.h"
#include "storage/plan_store.h"
#include "storage/reciprocity_ledger.h"

namespace tesseras {
namespace {

namespace fs = std::filesystem;
using replication::testing::SimNetwork;
using replication::testing::SimNode;

struct RealStores {
  std::shared_ptr<storage::Database> db;
  std::unique_ptr<storage::FsFragmentStore> fragments;
  std::unique_ptr<storage::SqliteReciprocityLedger> ledger;
  std::unique_ptr<storage::FsBlobStore> blobs;
  std::unique_ptr<storage::SqlitePlanStore> plans;
  fs::path dir;
};

class ReplicationStorageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("tesseras-rstore-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(root_);
    config_.scratch_dir = root_ / "scratch";
  }
  void TearDown() override {
    stores_.clear();
    fs::remove_all(root_);
  }

  SimNode& AddNode(int i) {
    auto addr = "127.0." + std::to_string(i + 1) + ".1:7700";
    return net_.AddNode(addr, config_, UINT64_MAX, [&, i](SimNode& n) {
      auto s = std::make_unique<RealStores>();
      s->dir = root_ / ("node" + std::to_string(i));
      s->db = std::shared_ptr<storage::Database>(
          storage::Database::OpenInDataDir(s->dir).value().release());
      storage::FsFragmentStoreOptions fo;
      fo.min_free_bytes = 64 * core::kMiB;
      s->fragments = storage::FsFragmentStore::Open(s->db, s->dir, fo).value();
      s->ledger = std::make_unique<storage::SqliteReciprocityLedger>(s->db);
      storage::FsBlobStoreOptions bo;
      bo.min_free_bytes = 64 * core::kMiB;
      s->blobs = storage::FsBlobStore::Open(s->dir, bo).value();
      s->plans = std::make_unique<storage::SqlitePlanStore>(s->db);
      n.fragment_port = s->fragments.get();
      n.ledger_port = s->ledger.get();
      n.blob_port = s->blobs.get();
      n.plan_port = s->plans.get();
      stores_[&n] = std::move(s);
    });
  }

  core::ContentHash Publish(SimNode& owner, const std::vector<uint8_t>& payload) {
    auto hash = crypto::Blake3(payload);
    core::MemorySource src(payload);
    EXPECT_TRUE(owner.blob_port->Put(hash, payload.size(), src).ok());
    return hash;
  }

  static std::vector<uint8_t> Random(std::size_t n, uint32_t seed) {
    std::vector<uint8_t> v(n);
    std::mt19937 rng(seed);
    for (auto& b : v) b = static_cast<uint8_t>(rng());
    return v;
  }

  fs::path root_;
  replication::ReplicationConfig config_;
  core::ManualClock clock_;
  SimNetwork net_{clock_};
  std::map<SimNode*, std::unique_ptr<RealStores>> stores_;
};

TEST_F(ReplicationStorageTest, MediumEncodeDistributeReceiveRestore) {
  std::vector<SimNode*> nodes;
  for (int i = 0; i < 26; ++i) nodes.push_back(&AddNode(i));
  auto payload = Random(5 * core::kMiB + 77, 1);
  auto hash = Publish(*nodes[0], payload);
  auto report = nodes[0]->service->ReplicateTessera(hash);
  ASSERT_TRUE(report.ok()) << report.error().ToString();
  ASSERT_EQ(report->holders.size(), 24u);
  for (const auto& h : report->holders) {
    SimNode* n = net_.Find(h.holder);
    auto& s = *stores_[n];
    // The fragment is a file of its own, and its index row verifies.
    auto path = s.fragments->ShardPath(hash, h.indices[0]);
    EXPECT_TRUE(fs::exists(path)) << path;
    EXPECT_EQ(fs::file_size(path), report->plan.shard_size);
    EXPECT_TRUE(s.fragments->Verify(hash, h.indices[0]).ok());
    // The plan survives in the holder's database.
    EXPECT_TRUE(s.plans->GetPlan(hash)->has_value());
  }
  // A node that never saw it restores it from the others.
  nodes[0]->online = false;
  SimNode& stranger = AddNode(40);
  core::MemorySink out;
  auto r = stranger.service->FetchTessera(hash, static_cast<core::RandomAccessSink&>(out));
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_TRUE(out.bytes() == payload);
}

TEST_F(ReplicationStorageTest, SmallIsCopiedWholeToSevenHolders) {
  std::vector<SimNode*> nodes;
  for (int i = 0; i < 10; ++i) nodes.push_back(&AddNode(i));
  auto payload = Random(123'456, 2);
  auto hash = Publish(*nodes[0], payload);
  auto report = nodes[0]->service->ReplicateTessera(hash);
  ASSERT_TRUE(report.ok()) << report.error().ToString();
  ASSERT_EQ(report->holders.size(), 7u);
  for (const auto& h : report->holders) {
    auto path = stores_[net_.Find(h.holder)]->fragments->ShardPath(hash, 0);
    std::ifstream in(path, std::ios::binary);
    std::vector<uint8_t> got((std::istreambuf_iterator<char>(in)), {});
    EXPECT_TRUE(got == payload);
  }
}

// A due check trusts a recent verification of our own copies (it only checks
// that the file is there with its size); a forced check, or one past the
// window, re-hashes them and finds the damage.
TEST_F(ReplicationStorageTest, ADueCheckTrustsARecentVerificationAForcedOneHashes) {
  std::vector<SimNode*> nodes;
  for (int i = 0; i < 26; ++i) nodes.push_back(&AddNode(i));
  auto hash = Publish(*nodes[0], Random(5 * core::kMiB, 4));
  auto report = *nodes[0]->service->ReplicateTessera(hash);
  SimNode* holder = net_.Find(report.holders[3].holder);
  const uint32_t idx = report.holders[3].indices[0];
  auto& store = *stores_[holder]->fragments;
  ASSERT_TRUE(store.Verify(hash, idx).ok());  // what the scrub does
  const auto path = store.ShardPath(hash, idx);
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(100);
    f.put('\x77');  // same size, other bytes
  }
  const int64_t hour = 3600 * 1000;
  auto trusted = holder->service->CheckTesseraHealth(hash, /*trust_verified_ms=*/hour);
  ASSERT_TRUE(trusted.ok()) << trusted.error().ToString();
  EXPECT_TRUE(trusted->corrupt_local.empty());
  EXPECT_TRUE(fs::exists(path));  // not read, not quarantined
  // A forced check hashes: the damage is found, the copy dropped.
  auto forced = holder->service->CheckTesseraHealth(hash, /*trust_verified_ms=*/0);
  ASSERT_TRUE(forced.ok()) << forced.error().ToString();
  EXPECT_EQ(forced->corrupt_local, std::vector<uint32_t>{idx});
  EXPECT_EQ(store.Get(hash, idx).error().code, core::ErrorCode::kNotFound);
}

TEST_F(ReplicationStorageTest, TamperedFragmentIsRejectedAndMended) {
  std::vector<SimNode*> nodes;
  for (int i = 0; i < 26; ++i) nodes.push_back(&AddNode(i));
  auto payload = Random(5 * core::kMiB, 3);
  auto hash = Publish(*nodes[0], payload);
  auto report = *nodes[0]->service->ReplicateTessera(hash);
  // Someone flips a byte in a holder's fragment file on disk.
  SimNode* holder = net_.Find(report.holders[2].holder);
  const uint32_t idx = report.holders[2].indices[0];
  auto path = stores_[holder]->fragments->ShardPath(hash, idx);
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(4096);
    char c = 0;
    f.read(&c, 1);
    c ^= 0x20;
    f.seekp(4096);
    f.write(&c, 1);
  }
  EXPECT_EQ(stores_[holder]->fragments->Verify(hash, idx).error().code, core::ErrorCode::kCorrupt);
  // It is never served: a restorer skips it, and the holder's own pass mends it.
  auto pass = holder->service->RunRepairPass();
  ASSERT_TRUE(pass.ok());
  ASSERT_EQ(pass->size(), 1u);
  EXPECT_EQ((*pass)[0].mended_local, std::vector<uint32_t>{idx});
  EXPECT_TRUE(stores_[holder]->fragments->Verify(hash, idx).ok());

  // A peer pushing tampered bytes is refused and nothing is written.
  SimNode& fresh = AddNode(50);
  auto plan = *nodes[0]->service->GetPlan(hash);
  core::FragmentEnvelope env;
  env.id = plan.table.IdOf(0);
  env.table = plan.table;
  env.owner_public_key = plan.owner;
  env.plan_signature.assign(plan.signature.begin(), plan.signature.end());
  auto bad = Random(plan.table.plan.shard_size, 9);
  core::MemorySource src(bad);
  auto r = fresh.service->ReceiveFragment(nodes[0]->peer(), env, src);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, core::ErrorCode::kCorrupt);
  EXPECT_FALSE(fs::exists(stores_[&fresh]->fragments->ShardPath(hash, 0)));
  EXPECT_TRUE(stores_[&fresh]->fragments->List(hash)->empty());
}

}  // namespace
}  // namespace tesseras
