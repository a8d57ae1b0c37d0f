#include "dht/record_store.h"

#include <algorithm>

namespace tesseras::dht {

core::Result<void> RecordStore::Put(const Record& r, int64_t now) {
  TRY(r.Verify());
  if (r.expires_unix_ms <= now) {
    return core::MakeError(core::ErrorCode::kInvalidArgument, "record already expired");
  }
  if (r.expires_unix_ms - now > limits_.max_ttl_ms) {
    return core::MakeError(core::ErrorCode::kInvalidArgument, "record expiry too far ahead");
  }
  auto& list = by_key_[r.key];
  for (auto& existing : list) {
    // One record per (publisher, type) and key: the one that expires last wins
    // (a republish, a new version of a holder record, an updated claim).
    if (existing.publisher == r.publisher && existing.type == r.type) {
      if (r.expires_unix_ms >= existing.expires_unix_ms) existing = r;
      return core::Ok();
    }
  }
  if (list.size() >= limits_.max_per_key || count_ >= limits_.max_records) {
    if (list.empty()) by_key_.erase(r.key);
    return core::MakeError(core::ErrorCode::kResourceExhausted, "record store full");
  }
  list.push_back(r);
  ++count_;
  return core::Ok();
}

std::vector<Record> RecordStore::Get(const core::NodeId& key, int64_t now) const {
  std::vector<Record> out;
  auto it = by_key_.find(key);
  if (it == by_key_.end()) return out;
  for (const auto& r : it->second) {
    if (r.expires_unix_ms > now) out.push_back(r);
  }
  return out;
}

void RecordStore::Expire(int64_t now) {
  for (auto it = by_key_.begin(); it != by_key_.end();) {
    auto& list = it->second;
    std::size_t before = list.size();
    std::erase_if(list, [&](const Record& r) { return r.expires_unix_ms <= now; });
    count_ -= before - list.size();
    it = list.empty() ? by_key_.erase(it) : std::next(it);
  }
}

}  // namespace tesseras::dht
