#include "dht/record_store.h"

#include <algorithm>

namespace tesseras::dht {

using core::ErrorCode;
using core::MakeError;

std::size_t RecordStore::CapFor(uint32_t type) const {
  return type == kHolderRecord ? limits_.max_holder_records_per_key : limits_.max_claims_per_key;
}

void RecordStore::Index(const core::NodeId& key, const Entry& e) {
  auto& mine = by_subnet_[e.from];
  if (!mine.empty()) subnet_sizes_.erase({mine.size(), e.from});
  mine.emplace(e.seq, key);
  subnet_sizes_.insert({mine.size(), e.from});
  ++count_;
  bytes_ += e.bytes;
}

void RecordStore::Unindex(const core::NodeId& key, const Entry& e) {
  (void)key;
  auto it = by_subnet_.find(e.from);
  if (it != by_subnet_.end()) {
    subnet_sizes_.erase({it->second.size(), e.from});
    it->second.erase(e.seq);
    if (it->second.empty()) {
      by_subnet_.erase(it);
    } else {
      subnet_sizes_.insert({it->second.size(), e.from});
    }
  }
  --count_;
  bytes_ -= std::min(bytes_, e.bytes);
}

void RecordStore::Erase(const core::NodeId& key, uint64_t seq) {
  auto it = by_key_.find(key);
  if (it == by_key_.end()) return;
  auto& list = it->second;
  for (auto e = list.begin(); e != list.end(); ++e) {
    if (e->seq != seq) continue;
    Unindex(key, *e);
    list.erase(e);
    break;
  }
  if (list.empty()) by_key_.erase(it);
}

const RecordStore::Entry* RecordStore::Victim(const List& list, std::optional<uint32_t> type,
                                              const net::Subnet& from) const {
  std::map<net::Subnet, std::pair<std::size_t, const Entry*>> per;  // count, youngest
  for (const auto& e : list) {
    if (type && e.record.type != *type) continue;
    auto& slot = per[e.from];
    ++slot.first;
    if (!slot.second || e.seq > slot.second->seq) slot.second = &e;
  }
  std::size_t mine = per.count(from) ? per[from].first : 0;
  const Entry* victim = nullptr;
  std::size_t most = 0;
  for (const auto& [subnet, slot] : per) {
    if (slot.first > most || (slot.first == most && victim && slot.second->seq > victim->seq)) {
      most = slot.first;
      victim = slot.second;
    }
  }
  if (!victim || most < mine + 2) return nullptr;
  return victim;
}

std::optional<std::pair<core::NodeId, uint64_t>> RecordStore::GlobalVictim(
    const net::Subnet& from) const {
  if (subnet_sizes_.empty()) return std::nullopt;
  const auto& [most, subnet] = *subnet_sizes_.rbegin();
  auto it = by_subnet_.find(from);
  std::size_t mine = it == by_subnet_.end() ? 0 : it->second.size();
  if (most < mine + 2) return std::nullopt;
  const auto& records = by_subnet_.at(subnet);
  const auto& [seq, key] = *records.rbegin();  // its youngest
  return std::make_pair(key, seq);
}

core::Result<void> RecordStore::Put(const Record& r, const net::Subnet& from, int64_t now,
                                    std::string_view* reason) {
  auto refuse = [reason](std::string_view why, core::Error e) -> core::Result<void> {
    if (reason) *reason = why;
    return e;
  };
  if (r.type != kHolderRecord && r.type != kHolderClaim) {
    return refuse("record_type", MakeError(ErrorCode::kInvalidArgument,
                                           "record type " + std::to_string(r.type) +
                                               " is not stored (1: holder record, 2: claim)"));
  }
  if (auto v = r.Verify(); !v.ok()) return refuse("record_signature", v.error());
  if (r.expires_unix_ms <= now) {
    return refuse("record_expiry",
                  MakeError(ErrorCode::kInvalidArgument, "record already expired"));
  }
  if (r.expires_unix_ms - now > limits_.max_ttl_ms) {
    return refuse("record_expiry",
                  MakeError(ErrorCode::kInvalidArgument, "record expiry too far ahead"));
  }
  const std::size_t size = kRecordOverhead + r.value.size();
  auto& list = by_key_[r.key];
  auto drop_if_empty = [&] {
    if (list.empty()) by_key_.erase(r.key);
  };

  // The same publisher: the newest record wins, in place.
  for (auto& e : list) {
    if (e.record.type != r.type || e.record.publisher != r.publisher) continue;
    if (e.record == r) return core::Ok();
    if (r.expires_unix_ms <= e.record.expires_unix_ms) {
      return refuse("record_stale",
                    MakeError(ErrorCode::kAlreadyExists,
                              "a newer record of this publisher is stored for the key"));
    }
    if (bytes_ - e.bytes + size > limits_.max_bytes) {
      return refuse("record_store_full",
                    MakeError(ErrorCode::kResourceExhausted, "record store full (bytes)"));
    }
    Unindex(r.key, e);
    e.record = r;
    e.from = from;
    e.bytes = size;
    Index(r.key, e);
    return core::Ok();
  }

  // A new publisher for the key.
  std::size_t from_here = 0;
  std::size_t of_type = 0;
  for (const auto& e : list) {
    if (e.from == from) ++from_here;
    if (e.record.type == r.type) ++of_type;
  }
  if (from_here >= limits_.max_per_key_per_subnet) {
    drop_if_empty();
    return refuse("record_subnet_key",
                  MakeError(ErrorCode::kResourceExhausted, "already " + std::to_string(from_here) +
                                                               " records for this key from " +
                                                               from.ToString()));
  }
  auto it = by_subnet_.find(from);
  if (it != by_subnet_.end() && it->second.size() >= limits_.max_per_subnet) {
    drop_if_empty();
    return refuse("record_subnet", MakeError(ErrorCode::kResourceExhausted,
                                             "already " + std::to_string(it->second.size()) +
                                                 " records from " + from.ToString()));
  }
  std::optional<uint64_t> key_victim;
  if (of_type >= CapFor(r.type)) {
    const Entry* v = Victim(list, r.type, from);
    if (!v) {
      drop_if_empty();
      return refuse("record_key_full", MakeError(ErrorCode::kResourceExhausted,
                                                 "the key holds " + std::to_string(of_type) +
                                                     " records of this type; none may make room"));
    }
    key_victim = v->seq;
  }
  // The whole store: find room first, so that a refusal changes nothing.
  std::size_t count_after = count_ - (key_victim ? 1 : 0) + 1;
  std::size_t bytes_after = bytes_ + size;
  if (key_victim) {
    for (const auto& e : list) {
      if (e.seq == *key_victim) bytes_after -= e.bytes;
    }
  }
  std::vector<std::pair<core::NodeId, uint64_t>> evict;
  if (key_victim) evict.emplace_back(r.key, *key_victim);
  if (count_after > limits_.max_records || bytes_after > limits_.max_bytes) {
    // One eviction frees at least a record; bytes may need a few.
    auto victim = GlobalVictim(from);
    if (!victim || (key_victim && victim->second == *key_victim)) {
      drop_if_empty();
      return refuse("record_store_full",
                    MakeError(ErrorCode::kResourceExhausted, "record store full"));
    }
    evict.push_back(*victim);
    for (const auto& e : by_key_.at(victim->first)) {
      if (e.seq == victim->second) bytes_after -= e.bytes;
    }
    --count_after;
    if (bytes_after > limits_.max_bytes) {
      drop_if_empty();
      return refuse("record_store_full",
                    MakeError(ErrorCode::kResourceExhausted, "record store full (bytes)"));
    }
  }
  for (const auto& [key, seq] : evict) Erase(key, seq);
  auto& target = by_key_[r.key];  // `list` may have been erased with its last record
  Entry e{r, from, next_seq_++, size};
  Index(r.key, e);
  target.push_back(std::move(e));
  return core::Ok();
}

std::vector<Record> RecordStore::Get(const core::NodeId& key, int64_t now) const {
  std::vector<const Entry*> live;
  auto it = by_key_.find(key);
  if (it == by_key_.end()) return {};
  for (const auto& e : it->second) {
    if (e.record.expires_unix_ms > now) live.push_back(&e);
  }
  std::sort(live.begin(), live.end(), [](const Entry* a, const Entry* b) {
    bool ah = a->record.type == kHolderRecord;
    bool bh = b->record.type == kHolderRecord;
    if (ah != bh) return ah;
    return a->seq < b->seq;
  });
  std::vector<Record> out;
  out.reserve(live.size());
  for (const Entry* e : live) out.push_back(e->record);
  return out;
}

void RecordStore::Expire(int64_t now) {
  for (auto it = by_key_.begin(); it != by_key_.end();) {
    auto& list = it->second;
    for (auto e = list.begin(); e != list.end();) {
      if (e->record.expires_unix_ms <= now) {
        Unindex(it->first, *e);
        e = list.erase(e);
      } else {
        ++e;
      }
    }
    it = list.empty() ? by_key_.erase(it) : std::next(it);
  }
}

}  // namespace tesseras::dht
