#include "replication/record_cache.h"

#include <gtest/gtest.h>

namespace tesseras::replication {
namespace {

core::NodeId Key(uint8_t b) {
  core::NodeId id{};
  id.bytes[0] = b;
  return id;
}

std::vector<std::vector<uint8_t>> Answer(std::size_t bytes, uint8_t fill = 1) {
  return {std::vector<uint8_t>(bytes, fill)};
}

TEST(RecordCacheTest, AnEntryLastsItsAgeOrItsRecordsLifeWhicheverEndsFirst) {
  RecordCache cache({/*max_age_ms=*/1000, /*max_entries=*/8, /*max_bytes=*/1 << 20});
  cache.Put(Key(1), Answer(10), /*now_ms=*/0, /*valid_until_ms=*/INT64_MAX);
  cache.Put(Key(2), Answer(10, 2), 0, /*valid_until_ms=*/300);
  ASSERT_TRUE(cache.Get(Key(1), 999).has_value());
  EXPECT_EQ(*cache.Get(Key(1), 999), Answer(10));
  EXPECT_FALSE(cache.Get(Key(1), 1000).has_value()) << "kept past its age";
  EXPECT_TRUE(cache.Get(Key(2), 299).has_value());
  EXPECT_FALSE(cache.Get(Key(2), 300).has_value()) << "kept past its records' expiry";
  const auto s = cache.stats();
  EXPECT_EQ(s.hits, 3u);
  EXPECT_EQ(s.misses, 2u);
  EXPECT_EQ(s.entries, 0u) << "an expired entry is dropped when met";
  EXPECT_EQ(s.bytes, 0u);
}

TEST(RecordCacheTest, AnAnswerWhoseRecordsAlreadyExpiredIsNotKept) {
  RecordCache cache;
  cache.Put(Key(1), Answer(10), /*now_ms=*/500, /*valid_until_ms=*/500);
  EXPECT_FALSE(cache.Get(Key(1), 500).has_value());
  EXPECT_EQ(cache.stats().entries, 0u);
}

TEST(RecordCacheTest, EraseDropsTheKeyAndAPutReplacesIt) {
  RecordCache cache;
  cache.Put(Key(1), Answer(10), 0, INT64_MAX);
  cache.Put(Key(1), Answer(20, 7), 0, INT64_MAX);
  EXPECT_EQ(*cache.Get(Key(1), 1), Answer(20, 7));
  EXPECT_EQ(cache.stats().bytes, 20u + RecordCache::kEntryOverheadBytes);
  cache.Erase(Key(1));
  EXPECT_FALSE(cache.Get(Key(1), 1).has_value());
  EXPECT_EQ(cache.stats().bytes, 0u);
  cache.Erase(Key(9));  // absent: nothing happens
}

TEST(RecordCacheTest, TheEntryCapEvictsTheLeastRecentlyUsed) {
  RecordCache cache({/*max_age_ms=*/1000, /*max_entries=*/3, /*max_bytes=*/1 << 20});
  for (uint8_t k = 1; k <= 3; ++k) cache.Put(Key(k), Answer(10, k), 0, INT64_MAX);
  ASSERT_TRUE(cache.Get(Key(1), 1).has_value());  // 1 is now the most recent
  cache.Put(Key(4), Answer(10, 4), 1, INT64_MAX);
  EXPECT_EQ(cache.stats().entries, 3u);
  EXPECT_EQ(cache.stats().evictions, 1u);
  EXPECT_FALSE(cache.Get(Key(2), 2).has_value()) << "the least recently used goes first";
  EXPECT_TRUE(cache.Get(Key(1), 2).has_value());
  EXPECT_TRUE(cache.Get(Key(3), 2).has_value());
  EXPECT_TRUE(cache.Get(Key(4), 2).has_value());
}

TEST(RecordCacheTest, TheByteCapEvictsAndRefusesWhatCannotFit) {
  const std::size_t entry = 1000 + RecordCache::kEntryOverheadBytes;
  RecordCache cache({/*max_age_ms=*/1000, /*max_entries=*/100, /*max_bytes=*/3 * entry});
  for (uint8_t k = 1; k <= 3; ++k) cache.Put(Key(k), Answer(1000, k), 0, INT64_MAX);
  EXPECT_EQ(cache.stats().bytes, 3 * entry);
  cache.Put(Key(4), Answer(1000, 4), 0, INT64_MAX);
  EXPECT_EQ(cache.stats().bytes, 3 * entry);
  EXPECT_EQ(cache.stats().evictions, 1u);
  EXPECT_FALSE(cache.Get(Key(1), 1).has_value());
  // An answer larger than the whole cap is not kept, and evicts nothing.
  cache.Put(Key(5), Answer(3 * entry), 0, INT64_MAX);
  EXPECT_FALSE(cache.Get(Key(5), 1).has_value());
  EXPECT_EQ(cache.stats().entries, 3u);
}

TEST(RecordCacheTest, AZeroAgeOrEntryCapTurnsItOff) {
  RecordCache no_age({/*max_age_ms=*/0, /*max_entries=*/8, /*max_bytes=*/1 << 20});
  no_age.Put(Key(1), Answer(10), 0, INT64_MAX);
  EXPECT_FALSE(no_age.Get(Key(1), 0).has_value());
  RecordCache no_entries({/*max_age_ms=*/1000, /*max_entries=*/0, /*max_bytes=*/1 << 20});
  no_entries.Put(Key(1), Answer(10), 0, INT64_MAX);
  EXPECT_FALSE(no_entries.Get(Key(1), 0).has_value());
  EXPECT_EQ(no_entries.stats().entries, 0u);
}

}  // namespace
}  // namespace tesseras::replication
