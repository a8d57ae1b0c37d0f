// RecordCache: what the DHT answered for a key (the sealed records GetRecords
// returned), kept for a while so that reads of one tessera's records that
// follow each other closely ask the network once.
//
// Contract
// - An entry is served until the earliest of: `max_age_ms` after it was
//   fetched, and the first expiry among its records (`valid_until_ms`, given
//   by the caller from the records it opened). After that Get misses and
//   drops it.
// - Bounded: at most `max_entries` entries and `max_bytes` bytes (each entry
//   counted as the sum of its records' sizes plus kEntryOverheadBytes, plus
//   kRecordOverheadBytes per record); the least recently used entries are
//   evicted first. An answer larger than `max_bytes` on its own is not kept,
//   and Put always drops what the key had before.
// - Erase(key) drops the key's entry: callers erase after publishing a record
//   of that key, so the next read sees what they published. A lookup that
//   was under way when some key was erased must not put back what it found
//   (it may predate the publish): callers read erase_epoch() before the
//   lookup and pass it to Put, which keeps nothing if any Erase came since.
// - max_age_ms, max_entries or max_bytes == 0 turns the cache off (Get always
//   misses, Put keeps nothing).
// - Thread-safe (one mutex; no call blocks on anything else). Pure: time is
//   passed in, so it runs the same in tesd, tests and the simulator.
#pragma once

#include <cstdint>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <vector>

#include "core/fragment.h"

namespace tesseras::replication {

struct RecordCacheLimits {
  int64_t max_age_ms = 3600ll * 1000;
  std::size_t max_entries = 4096;
  std::size_t max_bytes = 16u << 20;
};

struct RecordCacheStats {
  uint64_t hits = 0;
  uint64_t misses = 0;     // no entry, or one past its time (then dropped)
  uint64_t evictions = 0;  // entries dropped to stay within the caps
  std::size_t entries = 0;
  std::size_t bytes = 0;
};

class RecordCache {
 public:
  // Bytes counted per entry beyond its records (key, bookkeeping), and per
  // record beyond its bytes (its vector and the allocator's header).
  static constexpr std::size_t kEntryOverheadBytes = 128;
  static constexpr std::size_t kRecordOverheadBytes = 48;

  explicit RecordCache(RecordCacheLimits limits = {}) : limits_(limits) {}

  // The records kept for `key` if the entry is still valid at `now_ms`.
  std::optional<std::vector<std::vector<uint8_t>>> Get(const core::NodeId& key, int64_t now_ms);
  // Keeps `records` for `key` (replacing any entry) until
  // min(now_ms + max_age_ms, valid_until_ms), unless Erase was called since
  // erase_epoch() returned `epoch`.
  void Put(const core::NodeId& key, std::vector<std::vector<uint8_t>> records, int64_t now_ms,
           int64_t valid_until_ms, uint64_t epoch);
  void Erase(const core::NodeId& key);
  // Counts Erase calls; read it before the lookup whose answer goes to Put.
  uint64_t erase_epoch() const;

  RecordCacheStats stats() const;
  const RecordCacheLimits& limits() const { return limits_; }

 private:
  struct Entry {
    core::NodeId key;
    std::vector<std::vector<uint8_t>> records;
    int64_t until_ms = 0;
    std::size_t bytes = 0;
  };
  using Lru = std::list<Entry>;  // most recently used first

  bool enabled() const {
    return limits_.max_age_ms > 0 && limits_.max_entries > 0 && limits_.max_bytes > 0;
  }
  void DropLocked(std::map<core::NodeId, Lru::iterator>::iterator it);

  const RecordCacheLimits limits_;
  mutable std::mutex mu_;
  Lru lru_;
  std::map<core::NodeId, Lru::iterator> index_;
  std::size_t bytes_ = 0;
  uint64_t erase_epoch_ = 0;
  RecordCacheStats stats_;
};

}  // namespace tesseras::replication
