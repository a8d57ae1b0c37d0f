#include "storage/plan_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "storage/test_util.h"

namespace tesseras::storage {
namespace {

namespace fs = std::filesystem;

class PlanStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("tesseras-plans-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    db_ = std::shared_ptr<Database>(Database::OpenInDataDir(dir_).value().release());
    store_ = std::make_unique<SqlitePlanStore>(db_);
  }
  void TearDown() override {
    store_.reset();
    db_.reset();
    fs::remove_all(dir_);
  }
  static core::ContentHash H(uint8_t b) {
    core::ContentHash h;
    h.bytes[0] = b;
    return h;
  }
  static core::NodeId N(uint8_t b) {
    core::NodeId n;
    n.bytes[1] = b;
    return n;
  }
  fs::path dir_;
  std::shared_ptr<Database> db_;
  std::unique_ptr<SqlitePlanStore> store_;
};

TEST_F(PlanStoreTest, PlansSurviveReopenAndKeepTheirOwner) {
  std::vector<uint8_t> plan = {1, 2, 3, 4};
  ASSERT_TRUE(store_->PutPlan(H(1), N(1), plan).ok());
  EXPECT_FALSE(store_->GetPlan(H(2))->has_value());
  // Reopen the database file: the plan is still there.
  store_.reset();
  db_.reset();
  db_ = std::shared_ptr<Database>(Database::OpenInDataDir(dir_).value().release());
  store_ = std::make_unique<SqlitePlanStore>(db_);
  auto got = store_->GetPlan(H(1));
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ(**got, plan);
  // Same owner may replace; another owner may not.
  std::vector<uint8_t> newer = {9};
  EXPECT_TRUE(store_->PutPlan(H(1), N(1), newer).ok());
  EXPECT_EQ(**store_->GetPlan(H(1)), newer);
  auto stolen = store_->PutPlan(H(1), N(2), plan);
  ASSERT_FALSE(stolen.ok());
  EXPECT_EQ(stolen.error().code, core::ErrorCode::kPermissionDenied);
  EXPECT_EQ(**store_->GetPlan(H(1)), newer);
  auto list = *store_->ListPlans();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].owner, N(1));
}

// Other owners' plans of one hash are kept beside the first, each under its
// own key, with its own holders; they count towards the hash and go alone.
TEST_F(PlanStoreTest, PlansOfOneHashFromSeveralOwnersCoexist) {
  ASSERT_OK(store_->PutPlan(H(1), N(1), std::vector<uint8_t>{1}));
  EXPECT_EQ(*store_->CountPlansOf(H(1)), 1u);
  ASSERT_OK(store_->PutPlanOf(H(21), H(1), N(2), std::vector<uint8_t>{2}));
  ASSERT_OK(store_->PutPlanOf(H(31), H(1), N(3), std::vector<uint8_t>{3}));
  EXPECT_EQ(*store_->CountPlansOf(H(1)), 3u);
  EXPECT_EQ(*store_->CountPlansOf(H(21)), 1u);  // a slot is its own key, not a hash of plans
  EXPECT_EQ(**store_->GetPlan(H(1)), std::vector<uint8_t>{1});
  EXPECT_EQ(**store_->GetPlan(H(21)), std::vector<uint8_t>{2});
  // The ownership rule holds for slots too; a slot equal to its hash is refused.
  auto stolen = store_->PutPlanOf(H(21), H(1), N(3), std::vector<uint8_t>{9});
  ASSERT_FALSE(stolen.ok());
  EXPECT_EQ(stolen.error().code, core::ErrorCode::kPermissionDenied);
  EXPECT_EQ(store_->PutPlanOf(H(1), H(1), N(2), std::vector<uint8_t>{9}).error().code,
            core::ErrorCode::kInvalidArgument);
  // Each keeps its own holders.
  core::CopyHistory proven{0, 1000, std::nullopt, 0, false, 0, 0, std::nullopt};
  ASSERT_OK(store_->SetHolders(H(21), {{N(7), "a:1", {proven}}}));
  EXPECT_TRUE(store_->GetHolders(H(1))->empty());
  EXPECT_EQ(store_->GetHolders(H(21))->size(), 1u);
  // Deleting one leaves the others.
  ASSERT_OK(store_->DeletePlan(H(21)));
  EXPECT_EQ(*store_->CountPlansOf(H(1)), 2u);
  EXPECT_TRUE(store_->GetPlan(H(1))->has_value());
  EXPECT_TRUE(store_->GetHolders(H(21))->empty());
}

TEST_F(PlanStoreTest, HoldersRoundTripWithTheirHistory) {
  ASSERT_TRUE(store_->PutPlan(H(1), N(1), std::vector<uint8_t>{1}).ok());
  core::CopyHistory proven{0, 1000, std::nullopt, 0, false, 0, 0, std::nullopt};
  core::CopyHistory suspect{12, 900, 1500, 3, false, 9, 6, 400};  // 9 audits, 6 answered
  core::CopyHistory denied{3, std::nullopt, std::nullopt, 0, true, 0, 0, std::nullopt};
  std::vector<core::HolderView> h = {{N(5), "127.0.5.1:7700", {proven, suspect}},
                                     {N(6), "127.0.6.1:7700", {denied}}};
  ASSERT_TRUE(store_->SetHolders(H(1), h).ok());
  EXPECT_EQ(*store_->GetHolders(H(1)), h);
  // Survives a reopen.
  store_.reset();
  store_ = std::make_unique<SqlitePlanStore>(db_);
  EXPECT_EQ(*store_->GetHolders(H(1)), h);
  // Replacing drops what is no longer listed.
  ASSERT_TRUE(store_->SetHolders(H(1), {h[1]}).ok());
  EXPECT_EQ(store_->GetHolders(H(1))->size(), 1u);
  EXPECT_TRUE(store_->GetHolders(H(9))->empty());
  // No plan, no holders.
  EXPECT_EQ(store_->SetHolders(H(7), h).error().code, core::ErrorCode::kNotFound);
}

TEST_F(PlanStoreTest, DeletePlanTakesItsHoldersAndClockAndFreesTheHash) {
  ASSERT_TRUE(store_->PutPlan(H(3), N(1), std::vector<uint8_t>{1}).ok());
  core::HolderView h{N(5), "127.0.5.1:7700", {core::CopyHistory{}}};
  ASSERT_TRUE(store_->SetHolders(H(3), {h}).ok());
  core::MaintenanceClock m;
  m.last_checked_ms = 10;
  ASSERT_TRUE(store_->SetMaintenance(H(3), m).ok());
  // Another owner may not replace it, but once deleted the hash is free.
  EXPECT_EQ(store_->PutPlan(H(3), N(2), std::vector<uint8_t>{2}).error().code,
            core::ErrorCode::kPermissionDenied);
  ASSERT_TRUE(store_->DeletePlan(H(3)).ok());
  EXPECT_FALSE(*store_->GetPlan(H(3)));
  EXPECT_TRUE(store_->GetHolders(H(3))->empty());
  EXPECT_EQ(*store_->GetMaintenance(H(3)), core::MaintenanceClock{});
  ASSERT_TRUE(store_->PutPlan(H(3), N(2), std::vector<uint8_t>{2}).ok());
  EXPECT_TRUE(store_->DeletePlan(H(9)).ok());  // none: Ok
}

TEST_F(PlanStoreTest, MaintenanceClockRoundTripAndGoesWithThePlan) {
  ASSERT_TRUE(store_->PutPlan(H(2), N(1), std::vector<uint8_t>{1}).ok());
  EXPECT_EQ(*store_->GetMaintenance(H(2)), core::MaintenanceClock{});
  core::MaintenanceClock m;
  m.last_checked_ms = 10;
  m.need_since_ms = 5;
  m.claimed = {0, 7, 300};
  m.claim_published = true;
  ASSERT_TRUE(store_->SetMaintenance(H(2), m).ok());
  EXPECT_EQ(*store_->GetMaintenance(H(2)), m);
  core::MaintenanceClock empty;  // empty claim list: an empty blob, not NULL
  ASSERT_TRUE(store_->SetMaintenance(H(2), empty).ok());
  EXPECT_EQ(*store_->GetMaintenance(H(2)), empty);
  EXPECT_EQ(store_->SetMaintenance(H(8), m).error().code, core::ErrorCode::kNotFound);
}

// A walk over every plan, one page at a time, gives what ListPlans gives, and
// the same as the port's default (which slices ListPlans).
TEST_F(PlanStoreTest, ListPlansAfterPages) {
  for (uint8_t i = 1; i <= 7; ++i) {
    const std::vector<uint8_t> plan{i};
    ASSERT_TRUE(store_->PutPlan(H(i), N(i), plan).ok());
  }
  auto all = store_->ListPlans();
  ASSERT_TRUE(all.ok());
  for (bool base : {false, true}) {
    std::vector<core::PlanInfo> walked;
    std::optional<core::ContentHash> after;
    for (int pages = 0;; ++pages) {
      ASSERT_LT(pages, 10);
      auto page = base ? store_->core::PlanStore::ListPlansAfter(after, 3)
                       : store_->ListPlansAfter(after, 3);
      ASSERT_TRUE(page.ok()) << page.error().ToString();
      walked.insert(walked.end(), page->begin(), page->end());
      if (page->size() < 3) break;
      after = page->back().tessera;
    }
    ASSERT_EQ(walked.size(), all->size());
    for (std::size_t i = 0; i < walked.size(); ++i) {
      EXPECT_EQ(walked[i].tessera, (*all)[i].tessera);
      EXPECT_EQ(walked[i].owner, (*all)[i].owner);
    }
  }
}

}  // namespace
}  // namespace tesseras::storage
