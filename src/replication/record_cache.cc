#include "replication/record_cache.h"

#include <algorithm>

namespace tesseras::replication {

namespace {

std::size_t SizeOf(const std::vector<std::vector<uint8_t>>& records) {
  std::size_t n = RecordCache::kEntryOverheadBytes;
  for (const auto& r : records) n += r.size() + RecordCache::kRecordOverheadBytes;
  return n;
}

}  // namespace

std::optional<std::vector<std::vector<uint8_t>>> RecordCache::Get(const core::NodeId& key,
                                                                  int64_t now_ms) {
  std::lock_guard lock(mu_);
  auto it = index_.find(key);
  if (it == index_.end()) {
    ++stats_.misses;
    return std::nullopt;
  }
  if (now_ms >= it->second->until_ms) {
    DropLocked(it);
    ++stats_.misses;
    return std::nullopt;
  }
  lru_.splice(lru_.begin(), lru_, it->second);
  ++stats_.hits;
  return it->second->records;
}

void RecordCache::Put(const core::NodeId& key, std::vector<std::vector<uint8_t>> records,
                      int64_t now_ms, int64_t valid_until_ms, uint64_t epoch) {
  if (!enabled()) return;
  // min(now + max_age, valid_until), without overflowing now + max_age.
  const int64_t until = valid_until_ms <= now_ms || valid_until_ms - now_ms <= limits_.max_age_ms
                            ? valid_until_ms
                            : now_ms + limits_.max_age_ms;
  const std::size_t bytes = SizeOf(records);
  std::lock_guard lock(mu_);
  if (auto it = index_.find(key); it != index_.end()) DropLocked(it);
  if (epoch != erase_epoch_ || until <= now_ms || bytes > limits_.max_bytes) return;
  while (!lru_.empty() &&
         (index_.size() >= limits_.max_entries || bytes_ + bytes > limits_.max_bytes)) {
    DropLocked(index_.find(lru_.back().key));
    ++stats_.evictions;
  }
  lru_.push_front(Entry{key, std::move(records), until, bytes});
  index_.emplace(key, lru_.begin());
  bytes_ += bytes;
}

void RecordCache::Erase(const core::NodeId& key) {
  std::lock_guard lock(mu_);
  ++erase_epoch_;
  if (auto it = index_.find(key); it != index_.end()) DropLocked(it);
}

uint64_t RecordCache::erase_epoch() const {
  std::lock_guard lock(mu_);
  return erase_epoch_;
}

RecordCacheStats RecordCache::stats() const {
  std::lock_guard lock(mu_);
  RecordCacheStats s = stats_;
  s.entries = index_.size();
  s.bytes = bytes_;
  return s;
}

void RecordCache::DropLocked(std::map<core::NodeId, Lru::iterator>::iterator it) {
  bytes_ -= it->second->bytes;
  lru_.erase(it->second);
  index_.erase(it);
}

}  // namespace tesseras::replication
