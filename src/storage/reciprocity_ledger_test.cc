#include "storage/reciprocity_ledger.h"

#include <gtest/gtest.h>

#include <thread>

#include "storage/test_util.h"

namespace tesseras::storage {
namespace {

using core::ContentHash;
using core::ErrorCode;
using core::LedgerDirection;
using core::NodeId;

constexpr auto kForThem = LedgerDirection::kWeStoreForThem;
constexpr auto kForUs = LedgerDirection::kTheyStoreForUs;

NodeId Peer(uint8_t b) {
  NodeId n;
  n.bytes.fill(b);
  return n;
}
ContentHash Tessera(uint8_t b) {
  ContentHash h;
  h.bytes.fill(b);
  return h;
}

class LedgerTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }
  void Reopen() {
    ledger_.reset();
    db_.reset();
    auto db = Database::OpenInDataDir(dir_.path());
    ASSERT_TRUE(db.ok()) << db.error().ToString();
    db_ = std::shared_ptr<Database>(std::move(db).value());
    ledger_ = std::make_unique<SqliteReciprocityLedger>(db_, clock_);
  }

  TempDir dir_;
  std::shared_ptr<core::ManualClock> clock_ = std::make_shared<core::ManualClock>();
  std::shared_ptr<Database> db_;
  std::unique_ptr<SqliteReciprocityLedger> ledger_;
};

TEST_F(LedgerTest, UnknownPeerHasZeros) {
  ASSERT_OK_AND_ASSIGN(auto e, ledger_->Balance(Peer(1)));
  EXPECT_EQ(e.peer, Peer(1));
  EXPECT_EQ(e.bytes_stored_for_them, 0u);
  EXPECT_EQ(e.bytes_they_store_for_us, 0u);
  EXPECT_EQ(e.balance, 0);
  ASSERT_OK_AND_ASSIGN(auto all, ledger_->All());
  EXPECT_TRUE(all.empty());
}

TEST_F(LedgerTest, BilateralBalances) {
  ASSERT_OK_AND_ASSIGN(bool changed, ledger_->Record(Peer(1), kForThem, Tessera(1), 0, 1000));
  EXPECT_TRUE(changed);
  ASSERT_OK(ledger_->Record(Peer(1), kForUs, Tessera(2), 3, 250));
  ASSERT_OK(ledger_->Record(Peer(1), kForUs, Tessera(2), 4, 250));
  ASSERT_OK(ledger_->Record(Peer(2), kForUs, Tessera(2), 5, 700));
  ASSERT_OK_AND_ASSIGN(auto p1, ledger_->Balance(Peer(1)));
  EXPECT_EQ(p1.bytes_stored_for_them, 1000u);
  EXPECT_EQ(p1.bytes_they_store_for_us, 500u);
  EXPECT_EQ(p1.balance, -500);
  ASSERT_OK_AND_ASSIGN(auto p2, ledger_->Balance(Peer(2)));
  EXPECT_EQ(p2.balance, 700);
  // The same fragment index in both directions counts in both.
  ASSERT_OK(ledger_->Record(Peer(2), kForThem, Tessera(2), 5, 100));
  ASSERT_OK_AND_ASSIGN(p2, ledger_->Balance(Peer(2)));
  EXPECT_EQ(p2.balance, 600);
  // Survives a reopen.
  Reopen();
  ASSERT_OK_AND_ASSIGN(p1, ledger_->Balance(Peer(1)));
  EXPECT_EQ(p1.balance, -500);
}

TEST_F(LedgerTest, RecordingIsIdempotentAndForgetUncounts) {
  ASSERT_OK_AND_ASSIGN(bool first, ledger_->Record(Peer(3), kForThem, Tessera(1), 7, 4096));
  ASSERT_OK_AND_ASSIGN(bool second, ledger_->Record(Peer(3), kForThem, Tessera(1), 7, 4096));
  ASSERT_OK_AND_ASSIGN(bool other_size, ledger_->Record(Peer(3), kForThem, Tessera(1), 7, 1));
  EXPECT_TRUE(first);
  EXPECT_FALSE(second);
  EXPECT_FALSE(other_size);
  ASSERT_OK_AND_ASSIGN(auto e, ledger_->Balance(Peer(3)));
  EXPECT_EQ(e.bytes_stored_for_them, 4096u);

  ASSERT_OK_AND_ASSIGN(bool forgot, ledger_->Forget(Peer(3), kForThem, Tessera(1), 7));
  EXPECT_TRUE(forgot);
  ASSERT_OK_AND_ASSIGN(bool again, ledger_->Forget(Peer(3), kForThem, Tessera(1), 7));
  EXPECT_FALSE(again);
  ASSERT_OK_AND_ASSIGN(bool never, ledger_->Forget(Peer(9), kForUs, Tessera(1), 7));
  EXPECT_FALSE(never);
  ASSERT_OK_AND_ASSIGN(e, ledger_->Balance(Peer(3)));
  EXPECT_EQ(e.bytes_stored_for_them, 0u);
  EXPECT_EQ(e.balance, 0);
  // Once forgotten it can be counted again.
  ASSERT_OK_AND_ASSIGN(bool recount, ledger_->Record(Peer(3), kForThem, Tessera(1), 7, 10));
  EXPECT_TRUE(recount);
  ASSERT_OK_AND_ASSIGN(e, ledger_->Balance(Peer(3)));
  EXPECT_EQ(e.bytes_stored_for_them, 10u);
}

TEST_F(LedgerTest, BestPeersOrderedByBalanceThenId) {
  ASSERT_OK(ledger_->Record(Peer(5), kForUs, Tessera(1), 0, 100));
  ASSERT_OK(ledger_->Record(Peer(4), kForUs, Tessera(1), 1, 300));
  ASSERT_OK(ledger_->Record(Peer(3), kForThem, Tessera(1), 2, 50));
  ASSERT_OK(ledger_->Record(Peer(2), kForUs, Tessera(1), 3, 100));  // ties with Peer(5)
  ASSERT_OK_AND_ASSIGN(auto best, ledger_->BestPeers(3));
  ASSERT_EQ(best.size(), 3u);
  EXPECT_EQ(best[0].peer, Peer(4));
  EXPECT_EQ(best[1].peer, Peer(2));
  EXPECT_EQ(best[2].peer, Peer(5));
  ASSERT_OK_AND_ASSIGN(auto all_best, ledger_->BestPeers(100));
  ASSERT_EQ(all_best.size(), 4u);
  EXPECT_EQ(all_best[3].peer, Peer(3));
  EXPECT_EQ(all_best[3].balance, -50);
  ASSERT_OK_AND_ASSIGN(auto all, ledger_->All());
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all[0].peer, Peer(2));
  EXPECT_EQ(all[3].peer, Peer(5));
  ASSERT_OK_AND_ASSIGN(auto none, ledger_->BestPeers(0));
  EXPECT_TRUE(none.empty());
}

TEST_F(LedgerTest, BatchIsOneAllOrNothingTransaction) {
  std::vector<LedgerRecord> batch;
  for (uint32_t i = 0; i < 10; ++i) batch.push_back({Peer(1), kForUs, Tessera(1), i, 10});
  batch.push_back({Peer(1), kForUs, Tessera(1), 3, 10});  // duplicate inside the batch
  ASSERT_OK_AND_ASSIGN(std::size_t changed, ledger_->RecordBatch(batch));
  EXPECT_EQ(changed, 10u);
  ASSERT_OK_AND_ASSIGN(auto e, ledger_->Balance(Peer(1)));
  EXPECT_EQ(e.bytes_they_store_for_us, 100u);
  // An invalid record refuses the whole batch.
  std::vector<LedgerRecord> bad = {{Peer(2), kForUs, Tessera(1), 0, 10},
                                   {Peer(2), kForUs, Tessera(1), 1, core::kMaxTesseraSize + 1}};
  auto r = ledger_->RecordBatch(bad);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  ASSERT_OK_AND_ASSIGN(e, ledger_->Balance(Peer(2)));
  EXPECT_EQ(e.bytes_they_store_for_us, 0u);
}

TEST_F(LedgerTest, InputIsChecked) {
  EXPECT_EQ(
      ledger_->Record(Peer(1), static_cast<LedgerDirection>(7), Tessera(1), 0, 1).error().code,
      ErrorCode::kInvalidArgument);
  EXPECT_EQ(ledger_->Record(Peer(1), kForUs, Tessera(1), 255, 1).error().code,
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(ledger_->Record(Peer(1), kForUs, Tessera(1), 0, UINT64_MAX).error().code,
            ErrorCode::kInvalidArgument);
}

TEST_F(LedgerTest, PerPeerLimit) {
  ASSERT_OK(ledger_->Record(Peer(1), kForThem, Tessera(1), 0, 900));
  EXPECT_OK(ledger_->CheckPeerLimit(Peer(1), 100, 1000));
  auto r = ledger_->CheckPeerLimit(Peer(1), 101, 1000);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kResourceExhausted);
  EXPECT_NE(r.error().message.find("900"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("1000"), std::string::npos) << r.error().message;
  EXPECT_OK(ledger_->CheckPeerLimit(Peer(2), core::kDefaultPerPeerStorageLimit));
  EXPECT_FALSE(ledger_->CheckPeerLimit(Peer(2), core::kDefaultPerPeerStorageLimit + 1).ok());
}

TEST_F(LedgerTest, ConcurrentUpdatesFromSeveralThreads) {
  constexpr int kThreads = 4;
  constexpr uint32_t kFragments = 150;
  std::vector<std::thread> threads;
  std::atomic<int> changed{0}, failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (uint32_t i = 0; i < kFragments; ++i) {
        // Every thread records the same fragments for peer 1 (each counted once)
        // and its own fragments for peer 2; every other one is forgotten again.
        auto a = ledger_->Record(Peer(1), kForUs, Tessera(1), i, 3);
        auto b = ledger_->Record(Peer(2), kForThem, Tessera(static_cast<uint8_t>(10 + t)), i, 5);
        if (!a.ok() || !b.ok()) {
          ++failures;
          continue;
        }
        changed += *a ? 1 : 0;
        if (i % 2 == 1) {
          auto f = ledger_->Forget(Peer(2), kForThem, Tessera(static_cast<uint8_t>(10 + t)), i);
          if (!f.ok() || !*f) ++failures;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(changed.load(), static_cast<int>(kFragments));
  ASSERT_OK_AND_ASSIGN(auto p1, ledger_->Balance(Peer(1)));
  EXPECT_EQ(p1.bytes_they_store_for_us, 3u * kFragments);
  ASSERT_OK_AND_ASSIGN(auto p2, ledger_->Balance(Peer(2)));
  EXPECT_EQ(p2.bytes_stored_for_them, 5u * kThreads * (kFragments / 2));
  EXPECT_EQ(p2.balance, -static_cast<int64_t>(5u * kThreads * (kFragments / 2)));
}

}  // namespace
}  // namespace tesseras::storage
