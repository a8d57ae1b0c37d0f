#include "storage/scrub.h"

#include <gtest/gtest.h>

#include <fstream>

#include "crypto/blake3_hasher.h"
#include "storage/test_util.h"

namespace tesseras::storage {
namespace {

using core::ContentHash;
using core::ErrorCode;

ContentHash HashOf(uint8_t seed) {
  ContentHash h;
  h.bytes.fill(seed);
  return h;
}

class ScrubTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }

  void Reopen(ScrubOptions opts = {}) {
    scrub_.reset();
    store_.reset();
    db_.reset();
    auto db = Database::OpenInDataDir(dir_.path());
    ASSERT_TRUE(db.ok()) << db.error().ToString();
    db_ = std::shared_ptr<Database>(std::move(db).value());
    FsFragmentStoreOptions fo;
    fo.clock = clock_;
    fo.min_free_bytes = 0;
    ASSERT_OK_AND_ASSIGN(store_, FsFragmentStore::Open(db_, dir_.path(), fo));
    opts.clock = clock_;
    opts.log = [this](const std::string& line) { log_.push_back(line); };
    ASSERT_OK_AND_ASSIGN(scrub_, Scrubber::Open(db_, *store_, opts));
  }

  void Put(uint8_t tessera, uint32_t index, std::size_t size) {
    auto bytes = RandomBytes(size, tessera * 1000u + index);
    core::FragmentId id{HashOf(tessera), index, 24, crypto::Blake3(bytes)};
    core::MemorySource src(bytes);
    ASSERT_OK(store_->Store(id, bytes.size(), src, core::NodeId{}));
  }

  // The fragment the next single step verifies.
  std::pair<uint8_t, uint32_t> StepOnce() {
    const int64_t before = clock_->NowUnixMs();
    clock_->Advance(1);
    auto p = scrub_->RunFor(1);
    EXPECT_TRUE(p.ok()) << p.error().ToString();
    auto all = store_->List();
    EXPECT_TRUE(all.ok());
    for (const auto& f : *all) {
      if (f.last_verified_ms && *f.last_verified_ms > before) {
        return {f.id.tessera.bytes[0], f.id.index};
      }
    }
    return {0, 999};
  }

  TempDir dir_;
  std::shared_ptr<core::ManualClock> clock_ = std::make_shared<core::ManualClock>();
  std::shared_ptr<Database> db_;
  std::unique_ptr<FsFragmentStore> store_;
  std::unique_ptr<Scrubber> scrub_;
  std::vector<std::string> log_;
};

TEST(ScrubPaceTest, ThePauseKeepsToTheBudget) {
  // 1 MiB at 32 GiB a day: 86,400,000 ms / 32,768 = 2,636.7 ms.
  EXPECT_EQ(ScrubPauseMs(1 << 20, kDefaultScrubBytesPerDay), 2637);
  // A day's budget in one read: a day.
  EXPECT_EQ(ScrubPauseMs(kDefaultScrubBytesPerDay, kDefaultScrubBytesPerDay), 86'400'000);
  // Tiny fragments are charged 4 KiB; a huge budget still waits a millisecond.
  EXPECT_EQ(ScrubPauseMs(1, 4096ull * 86'400), 1000);
  EXPECT_EQ(ScrubPauseMs(0, UINT64_MAX), 1);
  // Never more than a day (nor 0 bytes a day dividing by zero).
  EXPECT_EQ(ScrubPauseMs(UINT64_MAX, 1), 86'400'000);
  EXPECT_EQ(ScrubPauseMs(100, 0), 86'400'000);
}

// Oldest-verified first: never-verified fragments by when they were stored,
// then those verified longest ago; one cycle visits each once.
TEST_F(ScrubTest, OldestVerifiedFirstAndEachOncePerCycle) {
  Put(1, 0, 1000);
  clock_->Advance(10);
  Put(2, 0, 2000);
  clock_->Advance(10);
  Put(3, 0, 3000);
  clock_->Advance(10);
  Put(4, 0, 4000);
  clock_->Advance(10);
  ASSERT_OK(store_->Verify(HashOf(1), 0));  // verified now: the most recent
  clock_->Advance(10);
  EXPECT_EQ(StepOnce(), (std::pair<uint8_t, uint32_t>{2, 0}));
  EXPECT_EQ(StepOnce(), (std::pair<uint8_t, uint32_t>{3, 0}));
  EXPECT_EQ(StepOnce(), (std::pair<uint8_t, uint32_t>{4, 0}));
  EXPECT_EQ(StepOnce(), (std::pair<uint8_t, uint32_t>{1, 0}));
  ASSERT_OK_AND_ASSIGN(auto p, scrub_->RunFor(1));
  EXPECT_TRUE(p.cycle_finished);
  EXPECT_EQ(p.fragments, 0u);
  ScrubStatus st = scrub_->Status();
  EXPECT_EQ(st.cycle_started_ms, 0);
  ASSERT_TRUE(st.last_cycle_finished_ms.has_value());
  EXPECT_EQ(st.last_cycle_fragments, 4u);
  EXPECT_EQ(st.last_cycle_bytes, 10'000u);
  EXPECT_EQ(st.cycles_completed, 1u);
  EXPECT_EQ(st.next_cycle_ms, *st.last_cycle_started_ms + 24 * 3600 * 1000);
}

// A fragment stored or verified by someone else during the cycle is not
// verified again in it.
TEST_F(ScrubTest, WhatIsNewerThanTheCycleWaitsForTheNext) {
  Put(1, 0, 100);
  Put(1, 1, 100);
  clock_->Advance(5);
  EXPECT_EQ(StepOnce(), (std::pair<uint8_t, uint32_t>{1, 0}));  // the cycle began here
  ASSERT_OK(store_->Verify(HashOf(1), 1));
  Put(1, 2, 100);
  ASSERT_OK_AND_ASSIGN(auto p, scrub_->RunFor(1 << 20));
  EXPECT_TRUE(p.cycle_finished);
  EXPECT_EQ(p.fragments, 0u);
  EXPECT_EQ(scrub_->Status().last_cycle_fragments, 1u);
  EXPECT_EQ(scrub_->Status().cycle_fragments_total, 0u);  // between cycles
}

// What the scrub finds damaged is handled as Verify handles it: quarantined,
// its row dropped; the finding is counted and logged.
TEST_F(ScrubTest, CorruptAndMissingFragmentsAreDroppedAndQuarantined) {
  Put(1, 0, 50'000);
  Put(1, 1, 50'000);
  Put(1, 2, 50'000);
  {
    std::fstream f(store_->ShardPath(HashOf(1), 0),
                   std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(777);
    f.put('\x5a');
  }
  std::filesystem::remove(store_->ShardPath(HashOf(1), 1));
  clock_->Advance(1);
  ASSERT_OK_AND_ASSIGN(auto p, scrub_->RunFor(UINT64_MAX));
  EXPECT_TRUE(p.cycle_finished);
  ScrubStatus st = scrub_->Status();
  EXPECT_EQ(st.corrupt_found, 1u);
  EXPECT_EQ(st.missing_found, 1u);
  EXPECT_EQ(st.last_cycle_fragments, 1u);
  EXPECT_EQ(store_->Get(HashOf(1), 0).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store_->Get(HashOf(1), 1).error().code, ErrorCode::kNotFound);
  EXPECT_TRUE(store_->Get(HashOf(1), 2).ok());
  EXPECT_FALSE(std::filesystem::is_empty(dir_.path() / "fragments" / ".quarantine"));
  ASSERT_EQ(log_.size(), 2u);
  EXPECT_NE(log_[0].find("corrupt"), std::string::npos) << log_[0];
}

// The position and the counters survive a restart: the scrub goes on where
// it stopped, and the last complete cycle is still known.
TEST_F(ScrubTest, ResumesWhereItStoppedAfterARestart) {
  for (uint32_t i = 0; i < 6; ++i) {
    Put(1, i, 1000);
    clock_->Advance(1);
  }
  EXPECT_EQ(StepOnce(), (std::pair<uint8_t, uint32_t>{1, 0}));
  EXPECT_EQ(StepOnce(), (std::pair<uint8_t, uint32_t>{1, 1}));
  const int64_t started = scrub_->Status().cycle_started_ms;
  Reopen();
  ScrubStatus st = scrub_->Status();
  EXPECT_EQ(st.cycle_started_ms, started);
  EXPECT_EQ(st.cycle_fragments, 2u);
  EXPECT_EQ(st.cycle_fragments_total, 6u);
  EXPECT_EQ(StepOnce(), (std::pair<uint8_t, uint32_t>{1, 2}));
  ASSERT_OK_AND_ASSIGN(auto p, scrub_->RunFor(UINT64_MAX));
  EXPECT_TRUE(p.cycle_finished);
  EXPECT_EQ(p.fragments, 3u);
  Reopen();
  st = scrub_->Status();
  EXPECT_EQ(st.cycle_started_ms, 0);
  EXPECT_EQ(st.last_cycle_started_ms, started);
  EXPECT_EQ(st.last_cycle_fragments, 6u);
  EXPECT_EQ(st.next_cycle_ms, started + 24 * 3600 * 1000);
}

// The walk of the fragment directories is spread over the cycle, a slice
// (ScrubOptions::batch entries) with each batch, resumes after a restart, and
// the cycle ends only when it has reached the end.
TEST_F(ScrubTest, TheWalkOfTheDirectoriesGoesASliceWithEachBatch) {
  ScrubOptions opts;
  opts.batch = 2;
  Reopen(opts);
  for (uint8_t t = 1; t <= 9; ++t) Put(t, 0, 100);
  // Orphans (files without rows) in the first and the last directory in walk
  // order (HashOf(1) is "0101...", HashOf(9) "0909...").
  auto orphan = [&](uint8_t t) { return store_->TesseraDir(HashOf(t)) / "005.shard"; };
  std::filesystem::copy_file(store_->ShardPath(HashOf(1), 0), orphan(1));
  std::filesystem::copy_file(store_->ShardPath(HashOf(9), 0), orphan(9));
  clock_->Advance(1);
  ASSERT_OK_AND_ASSIGN(auto p, scrub_->RunFor(1));  // one batch, one slice
  EXPECT_FALSE(p.cycle_finished);
  EXPECT_FALSE(std::filesystem::exists(orphan(1)));
  EXPECT_TRUE(std::filesystem::exists(orphan(9)));
  Reopen(opts);  // the walk's position survives
  ASSERT_OK_AND_ASSIGN(p, scrub_->RunFor(1));
  EXPECT_FALSE(p.cycle_finished);
  EXPECT_TRUE(std::filesystem::exists(orphan(9)));
  ASSERT_OK_AND_ASSIGN(p, scrub_->RunFor(UINT64_MAX));
  EXPECT_TRUE(p.cycle_finished);
  EXPECT_FALSE(std::filesystem::exists(orphan(9)));
  EXPECT_EQ(scrub_->Status().last_cycle_fragments, 9u);
  // A walk still going when every fragment is verified: the cycle waits for
  // it, each batch charged kScrubMinChargeBytes per entry. 9 fragments, one
  // a batch (RunFor(1)); 39 directories, two a batch.
  for (uint8_t t = 10; t <= 39; ++t) {
    std::filesystem::create_directories(store_->TesseraDir(HashOf(t)));
  }
  clock_->Advance(25 * 3600 * 1000);
  std::size_t batches = 0, walk_only = 0;
  do {
    ASSERT_OK_AND_ASSIGN(p, scrub_->RunFor(1));
    ++batches;
    ASSERT_LT(batches, 40u);
    if (!p.cycle_finished && p.fragments == 0) {
      ++walk_only;
      EXPECT_EQ(p.bytes, (batches == 20 ? 1 : 2) * kScrubMinChargeBytes) << "batch " << batches;
    }
  } while (!p.cycle_finished);
  // 9 that verify and walk 18 entries, 11 that walk the other 21, and the one
  // that finds the end.
  EXPECT_EQ(batches, 21u);
  EXPECT_EQ(walk_only, 11u);
  for (uint8_t t = 10; t <= 39; ++t) {
    EXPECT_FALSE(std::filesystem::exists(store_->TesseraDir(HashOf(t))));  // empty: removed
  }
}

// The background thread runs a cycle when one is due, then waits for the
// next; the budget sets its pause; Stop ends it at once.
TEST_F(ScrubTest, TheBackgroundScrubKeepsToItsBudget) {
  for (uint32_t i = 0; i < 5; ++i) Put(1, i, 2000);
  clock_->Advance(1);
  ScrubOptions fast;
  fast.bytes_per_day = 1ull << 60;  // about a millisecond per fragment
  Reopen(fast);
  scrub_->Start();
  EXPECT_TRUE(scrub_->Status().running);
  ASSERT_TRUE(scrub_->WaitUntil([](const ScrubStatus& s) { return s.cycles_completed == 1; },
                                std::chrono::seconds(30)));
  EXPECT_EQ(scrub_->Status().last_cycle_fragments, 5u);
  // Next cycle a day after this one began: the thread waits (and says so).
  ASSERT_TRUE(scrub_->WaitUntil([](const ScrubStatus& s) { return s.paused_until_ms > 0; },
                                std::chrono::seconds(30)));
  scrub_->Stop();
  EXPECT_FALSE(scrub_->Status().running);

  // 4 KiB a day: after one fragment the budget makes it wait a day.
  ScrubOptions slow;
  slow.bytes_per_day = 4096;
  Reopen(slow);
  clock_->Advance(2 * 24 * 3600 * 1000);  // the next cycle is due
  scrub_->Start();
  ASSERT_TRUE(scrub_->WaitUntil(
      [](const ScrubStatus& s) { return s.cycle_fragments == 1 && s.paused_until_ms > 0; },
      std::chrono::seconds(30)));
  const ScrubStatus st = scrub_->Status();
  EXPECT_EQ(st.cycle_fragments, 1u);
  EXPECT_EQ(st.paused_until_ms - clock_->NowUnixMs(), 86'400'000);
  scrub_->Stop();  // returns although the pause has a day to run
  EXPECT_EQ(scrub_->Status().cycle_fragments, 1u);

  // Off: no thread.
  ScrubOptions off;
  off.bytes_per_day = 0;
  Reopen(off);
  scrub_->Start();
  EXPECT_FALSE(scrub_->Status().running);
}

}  // namespace
}  // namespace tesseras::storage
