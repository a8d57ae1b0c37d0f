#include "storage/tessera_repository.h"

#include <gtest/gtest.h>

#include "storage/test_util.h"

namespace tesseras::storage {
namespace {

using core::ContentHash;
using core::ErrorCode;

ContentHash H(uint8_t b) {
  ContentHash h;
  h.bytes.fill(b);
  return h;
}

TEST(TesseraRepositoryTest, InsertGetListStateRemove) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(auto db, Database::OpenInDataDir(dir.path()));
  auto clock = std::make_shared<core::ManualClock>(5000);
  TesseraRepository repo(std::shared_ptr<Database>(std::move(db)), clock);

  TesseraRecord rec;
  rec.hash = H(1);
  rec.owner.fill(9);
  rec.size = 12345;
  rec.file_count = 2;
  rec.created_at_ms = 100;
  std::vector<TesseraFileRecord> files = {{"b.jpg", 45, H(3), "image/jpeg"},
                                          {"a.txt", 300, H(2), "text/plain"}};
  ASSERT_OK(repo.Insert(rec, files));
  EXPECT_EQ(repo.Insert(rec, files).error().code, ErrorCode::kAlreadyExists);
  TesseraRecord bad = rec;
  bad.hash = H(7);
  bad.file_count = 3;
  EXPECT_EQ(repo.Insert(bad, files).error().code, ErrorCode::kInvalidArgument);

  ASSERT_OK_AND_ASSIGN(TesseraRecord got, repo.Get(H(1)));
  rec.updated_at_ms = 5000;
  EXPECT_EQ(got, rec);
  ASSERT_OK_AND_ASSIGN(auto got_files, repo.Files(H(1)));
  ASSERT_EQ(got_files.size(), 2u);
  EXPECT_EQ(got_files[0], files[1]);  // ordered by path
  EXPECT_EQ(got_files[1], files[0]);

  clock->Advance(10);
  ASSERT_OK(repo.SetState(H(1), TesseraState::kReplicated));
  ASSERT_OK_AND_ASSIGN(got, repo.Get(H(1)));
  EXPECT_EQ(got.state, TesseraState::kReplicated);
  EXPECT_EQ(got.updated_at_ms, 5010);
  EXPECT_EQ(repo.SetState(H(2), TesseraState::kLost).error().code, ErrorCode::kNotFound);

  TesseraRecord second = rec;
  second.hash = H(0);
  second.created_at_ms = 50;
  second.file_count = 0;
  ASSERT_OK(repo.Insert(second, {}));
  ASSERT_OK_AND_ASSIGN(auto all, repo.List());
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].hash, H(0));

  ASSERT_OK(repo.Remove(H(1)));
  EXPECT_EQ(repo.Get(H(1)).error().code, ErrorCode::kNotFound);
  ASSERT_OK_AND_ASSIGN(got_files, repo.Files(H(1)));
  EXPECT_TRUE(got_files.empty());  // cascaded
  EXPECT_EQ(repo.Remove(H(1)).error().code, ErrorCode::kNotFound);
}

TEST(TesseraRepositoryTest, StateNamesRoundTrip) {
  for (int i = 0; i <= 5; ++i) {
    auto s = static_cast<TesseraState>(i);
    ASSERT_OK_AND_ASSIGN(TesseraState back, TesseraStateFromName(TesseraStateName(s)));
    EXPECT_EQ(back, s);
  }
  EXPECT_FALSE(TesseraStateFromName("gone").ok());
}

}  // namespace
}  // namespace tesseras::storage
