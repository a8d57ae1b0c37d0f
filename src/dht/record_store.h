// Records this node holds for others (it is among the k closest to their key).
// Bounded: at most `max_per_key` records per key and `max_records` in all; a
// record is identified by (key, publisher, type), and one with a later (or the
// same) expiry replaces the one stored. Not thread-safe: network thread only.
#pragma once

#include <map>
#include <vector>

#include "dht/record.h"

namespace tesseras::dht {

struct RecordStoreLimits {
  std::size_t max_records = 100000;
  std::size_t max_per_key = 256;            // a Large tessera: 72 holders' claims and more
  int64_t max_ttl_ms = 48ll * 3600 * 1000;  // expiry at most this far ahead
};

class RecordStore {
 public:
  explicit RecordStore(RecordStoreLimits limits = {}) : limits_(limits) {}

  // Verifies the signature (kCorrupt), the expiry (kInvalidArgument if past or
  // too far ahead) and the limits (kResourceExhausted).
  core::Result<void> Put(const Record& r, int64_t now_unix_ms);
  std::vector<Record> Get(const core::NodeId& key, int64_t now_unix_ms) const;
  void Expire(int64_t now_unix_ms);
  std::size_t size() const { return count_; }

 private:
  RecordStoreLimits limits_;
  std::map<core::NodeId, std::vector<Record>> by_key_;
  std::size_t count_ = 0;
};

}  // namespace tesseras::dht
