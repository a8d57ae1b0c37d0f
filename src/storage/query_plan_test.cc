// The queries a node runs per request, per fragment or per peer answer by
// index at any size: each store operation is run once with the database
// recording what it prepares, and EXPLAIN QUERY PLAN of every statement must
// be index searches (SEARCH ... USING ... KEY/INDEX), never a scan of a table
// or a temporary sort. A walk in index order that stops at a LIMIT (BestPeers,
// the scrub) may SCAN an index, and says so below. The calls that list
// everything on purpose (List(), All(), ListPlans()) are not here: they are
// the "list everything" calls (docs/STORAGE.md, "Queries at any size").
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "crypto/blake3_hasher.h"
#include "storage/fragment_store.h"
#include "storage/plan_store.h"
#include "storage/published_record_store.h"
#include "storage/reciprocity_ledger.h"
#include "storage/scrub.h"
#include "storage/tessera_repository.h"
#include "storage/test_util.h"

namespace tesseras::storage {
namespace {

core::ContentHash H(uint8_t b) {
  core::ContentHash h;
  h.bytes.fill(b);
  return h;
}
core::NodeId N(uint8_t b) {
  core::NodeId n;
  n.bytes.fill(b);
  return n;
}

struct HotQuery {
  HotQuery(std::string w, std::function<void()> r, std::string index = {})
      : what(std::move(w)), run(std::move(r)), ordered_index(std::move(index)) {}
  std::string what;
  std::function<void()> run;
  // An index the plan may walk in order (SCAN ... USING INDEX name), for a
  // query that stops at a LIMIT.
  std::string ordered_index;
};

bool IsQuery(const std::string& sql) {
  for (const char* skip : {"PRAGMA", "BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"}) {
    if (sql.starts_with(skip)) return false;
  }
  return true;
}

TEST(QueryPlanTest, HotQueriesAnswerByIndex) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(auto owned_db, Database::OpenInDataDir(dir.path()));
  std::shared_ptr<Database> db(std::move(owned_db));
  FsFragmentStoreOptions fo;
  fo.min_free_bytes = 0;
  ASSERT_OK_AND_ASSIGN(auto fragments, FsFragmentStore::Open(db, dir.path(), fo));
  SqliteReciprocityLedger ledger(db);
  SqlitePlanStore plans(db);
  TesseraRepository tesseras(db);
  SqlitePublishedRecordStore published(db);
  ASSERT_OK_AND_ASSIGN(auto scrub, Scrubber::Open(db, *fragments));

  // Some rows, so that every statement has something to find.
  auto bytes = RandomBytes(20'000, 1);
  core::FragmentId id{H(1), 3, 24, crypto::Blake3(bytes)};
  {
    core::MemorySource src(bytes);
    ASSERT_OK(fragments->Store(id, bytes.size(), src, N(9)));
  }
  const std::vector<uint8_t> plan_bytes{1, 2, 3};
  ASSERT_OK(plans.PutPlan(H(1), N(9), plan_bytes));
  ASSERT_OK(ledger.Record(N(9), core::LedgerDirection::kWeStoreForThem, H(1), 3, 20'000));
  TesseraRecord rec;
  rec.hash = H(2);
  rec.owner.fill(1);
  rec.state = TesseraState::kLocal;
  ASSERT_OK(tesseras.Insert(rec, {}));

  const std::vector<uint64_t> leaves{0, 1};
  const std::vector<HotQuery> hot = {
      {"fragment by (tessera, idx)", [&] { ASSERT_OK(fragments->Get(H(1), 3)); }},
      {"open a fragment", [&] { ASSERT_OK(fragments->Open(H(1), 3)); }},
      {"proof paths", [&] { ASSERT_OK(fragments->ReadProofPaths(H(1), 3, leaves)); }},
      {"fragments of a tessera", [&] { ASSERT_OK(fragments->List(H(1))); }},
      {"a page of fragments",
       [&] {
         ASSERT_OK(fragments->ListAfter(std::nullopt, 10));
         ASSERT_OK(fragments->ListAfter(core::FragmentKey{H(1), 0}, 10));
       }},
      {"verify (updates last_verified)", [&] { ASSERT_OK(fragments->Verify(H(1), 3)); }},
      {"totals", [&] { ASSERT_OK(fragments->TotalBytes()); }},
      {"scrub order", [&] { ASSERT_OK(scrub->RunFor(UINT64_MAX)); }, "fragments_by_scrub"},
      {"ledger balance of a peer", [&] { ASSERT_OK(ledger.Balance(N(9))); }},
      {"ledger record and forget",
       [&] {
         ASSERT_OK(ledger.Record(N(8), core::LedgerDirection::kTheyStoreForUs, H(1), 4, 10));
         ASSERT_OK(ledger.Forget(N(8), core::LedgerDirection::kTheyStoreForUs, H(1), 4));
       }},
      {"best peers", [&] { ASSERT_OK(ledger.BestPeers(5)); }, "reciprocity_by_balance"},
      {"plan of a tessera", [&] { ASSERT_OK(plans.GetPlan(H(1))); }},
      {"store a plan", [&] { ASSERT_OK(plans.PutPlan(H(1), N(9), plan_bytes)); }},
      {"a page of plans",
       [&] {
         ASSERT_OK(plans.ListPlansAfter(std::nullopt, 10));
         ASSERT_OK(plans.ListPlansAfter(H(0), 10));
       }},
      {"holders of a tessera",
       [&] {
         core::HolderView h{N(7), "127.0.0.7:1", {}};
         h.copies.push_back(core::CopyHistory{0, 5, std::nullopt, 0, false, 0, 0, std::nullopt});
         ASSERT_OK(plans.SetHolders(H(1), {h}));
         ASSERT_OK(plans.GetHolders(H(1)));
       }},
      {"maintenance clock of a tessera",
       [&] {
         ASSERT_OK(plans.SetMaintenance(H(1), core::MaintenanceClock{}));
         ASSERT_OK(plans.GetMaintenance(H(1)));
       }},
      {"tessera by hash",
       [&] {
         ASSERT_OK(tesseras.Get(H(2)));
         ASSERT_OK(tesseras.SetState(H(2), TesseraState::kReplicated));
       }},
      {"remember a record to republish", [&] { ASSERT_OK(published.Put("key", plan_bytes, 1)); }},
      {"count of records to republish", [&] { ASSERT_OK(published.Count()); }},
      {"a page of records to republish", [&] { ASSERT_OK(published.ListAfter("", 10)); }},
      {"re-signed or expired record to republish",
       [&] {
         ASSERT_OK(published.Replace("key", plan_bytes, plan_bytes, 2));
         ASSERT_OK(published.Erase("key", plan_bytes));
       }},
      {"delete a fragment", [&] { ASSERT_OK(fragments->Delete(H(1), 3)); }},
  };

  for (const auto& q : hot) {
    std::vector<std::string> prepared;
    {
      auto lock = db->Lock();
      db->ObservePrepares([&](std::string_view sql) { prepared.emplace_back(sql); });
    }
    q.run();
    auto lock = db->Lock();
    db->ObservePrepares(nullptr);
    std::size_t checked = 0;
    for (const auto& sql : prepared) {
      if (!IsQuery(sql)) continue;
      ASSERT_OK_AND_ASSIGN(auto plan, db->QueryPlan(sql));
      ++checked;
      std::string text;
      for (const auto& step : plan) text += "\n  " + step;
      for (const auto& step : plan) {
        EXPECT_EQ(step.find("TEMP B-TREE"), std::string::npos) << q.what << ": " << sql << text;
        if (!step.starts_with("SCAN")) continue;
        const bool allowed = !q.ordered_index.empty() &&
                             step.find("USING INDEX " + q.ordered_index) != std::string::npos;
        EXPECT_TRUE(allowed) << q.what << " scans: " << sql << text;
      }
    }
    // A statement prepared once is cached: the first run of each operation
    // is what this sees, and every operation runs at least one statement.
    EXPECT_GT(checked, 0u) << q.what << " ran no statement (was it cached earlier?)";
  }
}

}  // namespace
}  // namespace tesseras::storage
