// An audit costs what it samples: a holder answering an attestation request
// (ReplicationService::HandleAttestationRequest over the real FsFragmentStore)
// reads the sampled leaves and a few hashes of the stored proof tree, the same
// for a 64 KiB fragment as for a 16 MiB one, and never hashes the fragment
// whole. Bytes are counted by a FragmentStore that wraps the real one
// (storage/testing/counting_fragment_store.h).
#include <gtest/gtest.h>

#include <random>

#include "crypto/blake3_hasher.h"
#include "crypto/identity.h"
#include "replication/attestation.h"
#include "replication/proof_tree.h"
#include "replication/replication_service.h"
#include "storage/database.h"
#include "storage/fragment_store.h"
#include "storage/plan_store.h"
#include "storage/test_util.h"
#include "storage/testing/counting_fragment_store.h"

namespace tesseras {
namespace {

using storage::testing::CountingFragmentStore;

struct Holder {
  storage::TempDir dir;
  std::shared_ptr<storage::Database> db;
  std::unique_ptr<storage::FsFragmentStore> fragments;
  std::unique_ptr<CountingFragmentStore> counting;
  std::unique_ptr<storage::SqlitePlanStore> plans;
  crypto::Identity self = *crypto::Identity::Generate(0);
  core::ManualClock clock;
  std::unique_ptr<replication::ReplicationService> service;

  Holder() {
    db = std::shared_ptr<storage::Database>(
        storage::Database::OpenInDataDir(dir.path()).value().release());
    storage::FsFragmentStoreOptions fo;
    fo.min_free_bytes = 0;
    fragments = storage::FsFragmentStore::Open(db, dir.path(), fo).value();
    counting = std::make_unique<CountingFragmentStore>(*fragments);
    plans = std::make_unique<storage::SqlitePlanStore>(db);
    replication::ReplicationDeps deps;
    deps.self = &self;
    deps.fragments = counting.get();
    deps.plans = plans.get();
    deps.clock = &clock;
    service =
        std::make_unique<replication::ReplicationService>(deps, replication::ReplicationConfig{});
  }
};

// Holds fragment 0 of a tessera of `payload_size` bytes under a real signed
// plan (the other fragments' checksums and roots are placeholders); returns
// the plan.
replication::SignedPlan HoldFragmentZero(Holder& h, uint64_t payload_size) {
  core::FragmentTable table;
  table.tessera.bytes.fill(static_cast<uint8_t>(payload_size >> 16));
  table.plan = *core::PlanForSize(payload_size);
  std::vector<uint8_t> bytes(table.plan.shard_size);
  std::mt19937_64 rng(payload_size);
  for (auto& b : bytes) b = static_cast<uint8_t>(rng());
  table.checksums.assign(table.plan.total_shards(), core::ContentHash{});
  table.proof_roots.assign(table.plan.total_shards(), core::ContentHash{});
  table.checksums[0] = crypto::Blake3(bytes);
  replication::ProofTreeBuilder tree;
  tree.Update(bytes);
  table.proof_roots[0] = replication::MerkleRoot(tree.FinishLeaves());
  const crypto::Identity owner = *crypto::Identity::Generate(0);
  auto plan = replication::SignedPlan::Sign(table, owner);
  EXPECT_TRUE(h.plans->PutPlan(table.tessera, plan.owner_id(), plan.Encode()).ok());
  core::MemorySource src(bytes);
  EXPECT_TRUE(h.fragments->Store(table.IdOf(0), bytes.size(), src, plan.owner_id()).ok());
  return plan;
}

TEST(AttestationCostTest, AnAnswerReadsTheSampledLeavesWhateverTheFragmentSize) {
  Holder h;
  const core::PeerInfo requester{core::NodeId{}, "127.0.0.2:1"};
  std::vector<uint64_t> read;
  for (uint64_t payload : {uint64_t{64} << 10, (uint64_t{256} << 20) - 1}) {
    const auto plan = HoldFragmentZero(h, payload);
    const uint64_t fragment = plan.table.plan.shard_size;
    SCOPED_TRACE("fragment of " + std::to_string(fragment) + " bytes");
    for (int audit = 0; audit < 5; ++audit) {
      h.counting->Reset();
      const auto challenge = replication::FreshChallenge();
      auto att = h.service->HandleAttestationRequest(requester, plan.table.tessera, challenge, {0});
      ASSERT_TRUE(att.ok()) << att.error().ToString();
      auto check = replication::VerifyAttestation(*att, h.self.node_id(), plan, challenge, {0},
                                                  h.clock.NowUnixMs());
      ASSERT_TRUE(check.ok()) << check.error().ToString();
      ASSERT_EQ(check->proven, std::vector<uint32_t>{0});
      // Two 16 KiB leaves and their paths (a 64 KiB fragment: 2 hashes each;
      // 16 MiB: 10), nothing hashed whole.
      const uint64_t depth = replication::ProofLeafCount(fragment) == 4 ? 2 : 10;
      EXPECT_LE(h.counting->bytes_read(),
                replication::kDefaultAuditSamples * (core::kProofLeafBytes + 32 * depth));
      EXPECT_EQ(h.counting->whole_checks(), 0u);
      read.push_back(h.counting->bytes_read());
    }
  }
  // Per audit, the 16 MiB fragment costs what the 64 KiB one costs (256 times
  // smaller), give or take the path: a few hundred bytes.
  const uint64_t small = *std::max_element(read.begin(), read.begin() + 5);
  const uint64_t large = *std::max_element(read.begin() + 5, read.end());
  EXPECT_LE(large, small + replication::kDefaultAuditSamples * 32 * 8);
  std::cout << "bytes read per audit: 64 KiB fragment " << small << ", 16 MiB fragment " << large
            << "\n";
}

}  // namespace
}  // namespace tesseras
