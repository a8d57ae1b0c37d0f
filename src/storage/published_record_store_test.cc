// SqlitePublishedRecordStore on a real database file: the records a node
// republishes survive reopening, are read a bounded page at a time in key
// order, and are counted without being loaded.
#include "storage/published_record_store.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "storage/test_util.h"

namespace tesseras::storage {
namespace {

std::string Key(int i) {
  // Binary keys with a high byte first: bytewise order must be unsigned.
  std::string k(3, '\0');
  k[0] = static_cast<char>(i % 2 == 0 ? 0x01 : 0xF0);
  k[1] = static_cast<char>(i / 256);
  k[2] = static_cast<char>(i % 256);
  return k;
}

std::vector<uint8_t> Value(int i, uint8_t version = 0) {
  return {static_cast<uint8_t>(i), static_cast<uint8_t>(i >> 8), version};
}

std::shared_ptr<Database> Open(const TempDir& dir) {
  auto db = Database::OpenInDataDir(dir.path());
  EXPECT_TRUE(db.ok()) << db.error().ToString();
  return std::shared_ptr<Database>(std::move(db).value());
}

TEST(PublishedRecordStoreTest, SetSurvivesReopeningAndIsWalkedInBoundedPages) {
  TempDir dir;
  constexpr int kRecords = 500;
  {
    SqlitePublishedRecordStore store(Open(dir));
    for (int i = 0; i < kRecords; ++i) ASSERT_OK(store.Put(Key(i), Value(i), 1000 + i));
    ASSERT_OK_AND_ASSIGN(uint64_t n, store.Count());
    EXPECT_EQ(n, static_cast<uint64_t>(kRecords));
  }
  // A new connection on the same file (as after a restart).
  SqlitePublishedRecordStore store(Open(dir));
  ASSERT_OK_AND_ASSIGN(uint64_t n, store.Count());
  EXPECT_EQ(n, static_cast<uint64_t>(kRecords));
  std::string cursor;
  std::vector<std::string> walked;
  std::size_t pages = 0;
  for (;;) {
    ASSERT_OK_AND_ASSIGN(auto page, store.ListAfter(cursor, 32));
    ASSERT_LE(page.size(), 32u);
    ++pages;
    for (const auto& r : page) {
      if (!walked.empty()) {
        EXPECT_LT(walked.back(), r.key) << "key order";
      }
      walked.push_back(r.key);
      cursor = r.key;
    }
    if (page.size() < 32) break;
  }
  EXPECT_EQ(walked.size(), static_cast<std::size_t>(kRecords));
  EXPECT_EQ(pages, static_cast<std::size_t>(kRecords / 32 + 1));
  // The first page holds the smallest keys, with their bytes and expiry.
  ASSERT_OK_AND_ASSIGN(auto first, store.ListAfter("", 1));
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].key, Key(0));
  EXPECT_EQ(first[0].record, Value(0));
  EXPECT_EQ(first[0].expires_unix_ms, 1000);
  // Keys starting 0xF0 sort after those starting 0x01 (unsigned bytes).
  ASSERT_OK_AND_ASSIGN(auto tail, store.ListAfter(Key(kRecords - 2), 1));
  ASSERT_EQ(tail.size(), 1u);
  EXPECT_EQ(static_cast<uint8_t>(tail[0].key[0]), 0xF0);
}

TEST(PublishedRecordStoreTest, PutReplacesAndReplaceAndEraseCompareFirst) {
  TempDir dir;
  SqlitePublishedRecordStore store(Open(dir));
  ASSERT_OK(store.Put(Key(1), Value(1, 0), 10));
  ASSERT_OK(store.Put(Key(1), Value(1, 1), 20));  // same key: replaced, not added
  ASSERT_OK_AND_ASSIGN(uint64_t n, store.Count());
  EXPECT_EQ(n, 1u);
  // A writer holding the old version changes nothing.
  ASSERT_OK_AND_ASSIGN(bool replaced, store.Replace(Key(1), Value(1, 0), Value(1, 2), 30));
  EXPECT_FALSE(replaced);
  ASSERT_OK_AND_ASSIGN(bool erased, store.Erase(Key(1), Value(1, 0)));
  EXPECT_FALSE(erased);
  ASSERT_OK_AND_ASSIGN(auto page, store.ListAfter("", 10));
  ASSERT_EQ(page.size(), 1u);
  EXPECT_EQ(page[0].record, Value(1, 1));
  EXPECT_EQ(page[0].expires_unix_ms, 20);
  // With the current version they apply.
  ASSERT_OK_AND_ASSIGN(replaced, store.Replace(Key(1), Value(1, 1), Value(1, 2), 30));
  EXPECT_TRUE(replaced);
  ASSERT_OK_AND_ASSIGN(page, store.ListAfter("", 10));
  ASSERT_EQ(page.size(), 1u);
  EXPECT_EQ(page[0].record, Value(1, 2));
  EXPECT_EQ(page[0].expires_unix_ms, 30);
  ASSERT_OK_AND_ASSIGN(erased, store.Erase(Key(1), Value(1, 2)));
  EXPECT_TRUE(erased);
  ASSERT_OK_AND_ASSIGN(n, store.Count());
  EXPECT_EQ(n, 0u);
  ASSERT_OK_AND_ASSIGN(page, store.ListAfter("", 10));
  EXPECT_TRUE(page.empty());
  // Absent keys: nothing to replace or erase.
  ASSERT_OK_AND_ASSIGN(replaced, store.Replace(Key(2), Value(2), Value(2, 1), 1));
  EXPECT_FALSE(replaced);
  ASSERT_OK_AND_ASSIGN(n, store.Count());
  EXPECT_EQ(n, 0u);
}

TEST(PublishedRecordStoreTest, EmptyKeyIsRefused) {
  TempDir dir;
  SqlitePublishedRecordStore store(Open(dir));
  auto r = store.Put("", Value(1), 1);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, core::ErrorCode::kInvalidArgument);
  ASSERT_OK_AND_ASSIGN(uint64_t n, store.Count());
  EXPECT_EQ(n, 0u);
}

}  // namespace
}  // namespace tesseras::storage
