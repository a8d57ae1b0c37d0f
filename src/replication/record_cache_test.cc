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

// A Put of an answer looked up with no Erase under way.
void Keep(RecordCache& cache, const core::NodeId& key, std::vector<std::vector<uint8_t>> records,
          int64_t now_ms, int64_t valid_until_ms) {
  cache.Put(key, std::move(records), now_ms, valid_until_ms, cache.erase_epoch());
}

constexpr std::size_t kOneRecord =
    RecordCache::kEntryOverheadBytes + RecordCache::kRecordOverheadBytes;

TEST(RecordCacheTest, AnEntryLastsItsAgeOrItsRecordsLifeWhicheverEndsFirst) {
  RecordCache cache({/*max_age_ms=*/1000, /*max_entries=*/8, /*max_bytes=*/1 << 20});
  Keep(cache, Key(1), Answer(10), /*now_ms=*/0, /*valid_until_ms=*/INT64_MAX);
  Keep(cache, Key(2), Answer(10, 2), 0, /*valid_until_ms=*/300);
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
  Keep(cache, Key(1), Answer(10), /*now_ms=*/500, /*valid_until_ms=*/500);
  EXPECT_FALSE(cache.Get(Key(1), 500).has_value());
  EXPECT_EQ(cache.stats().entries, 0u);
}

TEST(RecordCacheTest, EraseDropsTheKeyAndAPutReplacesIt) {
  RecordCache cache;
  Keep(cache, Key(1), Answer(10), 0, INT64_MAX);
  Keep(cache, Key(1), Answer(20, 7), 0, INT64_MAX);
  EXPECT_EQ(*cache.Get(Key(1), 1), Answer(20, 7));
  EXPECT_EQ(cache.stats().bytes, 20u + kOneRecord);
  cache.Erase(Key(1));
  EXPECT_FALSE(cache.Get(Key(1), 1).has_value());
  EXPECT_EQ(cache.stats().bytes, 0u);
  cache.Erase(Key(9));  // absent: nothing happens
}

TEST(RecordCacheTest, TheEntryCapEvictsTheLeastRecentlyUsed) {
  RecordCache cache({/*max_age_ms=*/1000, /*max_entries=*/3, /*max_bytes=*/1 << 20});
  for (uint8_t k = 1; k <= 3; ++k) Keep(cache, Key(k), Answer(10, k), 0, INT64_MAX);
  ASSERT_TRUE(cache.Get(Key(1), 1).has_value());  // 1 is now the most recent
  Keep(cache, Key(4), Answer(10, 4), 1, INT64_MAX);
  EXPECT_EQ(cache.stats().entries, 3u);
  EXPECT_EQ(cache.stats().evictions, 1u);
  EXPECT_FALSE(cache.Get(Key(2), 2).has_value()) << "the least recently used goes first";
  EXPECT_TRUE(cache.Get(Key(1), 2).has_value());
  EXPECT_TRUE(cache.Get(Key(3), 2).has_value());
  EXPECT_TRUE(cache.Get(Key(4), 2).has_value());
}

TEST(RecordCacheTest, TheByteCapEvictsAndRefusesWhatCannotFit) {
  const std::size_t entry = 1000 + kOneRecord;
  RecordCache cache({/*max_age_ms=*/1000, /*max_entries=*/100, /*max_bytes=*/3 * entry});
  for (uint8_t k = 1; k <= 3; ++k) Keep(cache, Key(k), Answer(1000, k), 0, INT64_MAX);
  EXPECT_EQ(cache.stats().bytes, 3 * entry);
  Keep(cache, Key(4), Answer(1000, 4), 0, INT64_MAX);
  EXPECT_EQ(cache.stats().bytes, 3 * entry);
  EXPECT_EQ(cache.stats().evictions, 1u);
  EXPECT_FALSE(cache.Get(Key(1), 1).has_value());
  // An answer larger than the whole cap is not kept, and evicts nothing.
  Keep(cache, Key(5), Answer(3 * entry), 0, INT64_MAX);
  EXPECT_FALSE(cache.Get(Key(5), 1).has_value());
  EXPECT_EQ(cache.stats().entries, 3u);
  EXPECT_EQ(cache.stats().evictions, 1u);
  // Nor is one that replaces a kept answer: the old one is dropped all the same.
  Keep(cache, Key(2), Answer(3 * entry), 0, INT64_MAX);
  EXPECT_FALSE(cache.Get(Key(2), 1).has_value()) << "an answer replaced by a larger one was served";
  EXPECT_EQ(cache.stats().entries, 2u);
  EXPECT_EQ(cache.stats().bytes, 2 * entry);
}

// Each record is counted with its overhead: many small records of one answer
// weigh more than their bytes.
TEST(RecordCacheTest, EveryRecordOfAnAnswerCountsItsOverhead) {
  RecordCache cache;
  Keep(cache, Key(1), std::vector<std::vector<uint8_t>>(10, std::vector<uint8_t>(5, 1)), 0,
       INT64_MAX);
  EXPECT_EQ(cache.stats().bytes,
            RecordCache::kEntryOverheadBytes + 10 * (5 + RecordCache::kRecordOverheadBytes));
}

// A lookup under way while a key was erased (its record just published) does
// not put back what it found: that answer may predate the publish.
TEST(RecordCacheTest, AnAnswerLookedUpAcrossAnEraseIsNotKept) {
  RecordCache cache;
  const uint64_t before_lookup = cache.erase_epoch();
  cache.Erase(Key(1));  // a publish, on another thread, while the lookup runs
  cache.Put(Key(1), Answer(10), 0, INT64_MAX, before_lookup);
  EXPECT_FALSE(cache.Get(Key(1), 1).has_value()) << "a stale answer was put back";
  EXPECT_EQ(cache.stats().entries, 0u);
  // A lookup begun after the erase is kept.
  cache.Put(Key(1), Answer(10), 0, INT64_MAX, cache.erase_epoch());
  EXPECT_TRUE(cache.Get(Key(1), 1).has_value());
}

// The age is added to now without overflow, whatever the limits.
TEST(RecordCacheTest, AnAgeAsLongAsTimeItselfDoesNotOverflow) {
  RecordCache cache({/*max_age_ms=*/INT64_MAX, /*max_entries=*/8, /*max_bytes=*/1 << 20});
  Keep(cache, Key(1), Answer(10), /*now_ms=*/INT64_MAX / 2, /*valid_until_ms=*/INT64_MAX);
  EXPECT_TRUE(cache.Get(Key(1), INT64_MAX - 1).has_value());
  EXPECT_FALSE(cache.Get(Key(1), INT64_MAX).has_value());
}

TEST(RecordCacheTest, AZeroAgeEntryOrByteCapTurnsItOff) {
  RecordCache no_age({/*max_age_ms=*/0, /*max_entries=*/8, /*max_bytes=*/1 << 20});
  Keep(no_age, Key(1), Answer(10), 0, INT64_MAX);
  EXPECT_FALSE(no_age.Get(Key(1), 0).has_value());
  RecordCache no_entries({/*max_age_ms=*/1000, /*max_entries=*/0, /*max_bytes=*/1 << 20});
  Keep(no_entries, Key(1), Answer(10), 0, INT64_MAX);
  EXPECT_FALSE(no_entries.Get(Key(1), 0).has_value());
  EXPECT_EQ(no_entries.stats().entries, 0u);
  RecordCache no_bytes({/*max_age_ms=*/1000, /*max_entries=*/8, /*max_bytes=*/0});
  Keep(no_bytes, Key(1), Answer(0), 0, INT64_MAX);
  EXPECT_FALSE(no_bytes.Get(Key(1), 0).has_value());
  EXPECT_EQ(no_bytes.stats().misses, 1u);
}

}  // namespace
}  // namespace tesseras::replication
