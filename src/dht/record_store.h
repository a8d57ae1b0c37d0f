// Records this node holds for others (docs/PROTOCOL.md section 8; the rules
// and why they protect honest records: docs/SECURITY.md, "DHT record store").
//
// - Only types kHolderRecord (1) and kHolderClaim (2) are stored; others are
//   refused (kInvalidArgument), as are bad signatures (kCorrupt) and expiries
//   in the past or more than max_ttl_ms ahead (kInvalidArgument).
// - One record per (key, type, publisher): a copy with a later expiry replaces
//   it (keeping its place as a resident), the same record again is a no-op,
//   and anything else from that publisher is refused (kAlreadyExists: a newer
//   record is stored). A publisher can therefore always replace its own
//   record, whatever strangers stored for the key.
// - Per key: at most max_holder_records_per_key records of type 1 and
//   max_claims_per_key of type 2, and at most max_per_key_per_subnet of all
//   types stored from one IPv4 /24 (IPv6 /48) of senders.
// - In all: at most max_records records and max_bytes bytes, and at most
//   max_per_subnet records stored from one /24 (/48).
// - Eviction, when a key (or the store) is full and a newcomer from subnet S
//   arrives: the youngest resident of the subnet M that holds the most records
//   there (for a key, ties go to the subnet with the youngest record) makes
//   room, but only if M holds at least two more records than S does, so that
//   after the swap M still holds at least as many as S; otherwise the
//   newcomer is refused (kResourceExhausted). A resident that is the only one
//   of its subnet for its key is thus never evicted, and older residents
//   outlast newcomers from equally crowded subnets.
//
// "Stored from" is the subnet of the node that sent the Store (for our own
// records, ours): publishers store their own records, so it is the
// publisher's network, which costs far more to multiply than a node id.
// Not thread-safe: network thread only.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string_view>
#include <vector>

#include "dht/record.h"
#include "net/addresses.h"

namespace tesseras::dht {

struct RecordStoreLimits {
  std::size_t max_records = 100000;
  std::size_t max_bytes = 128u << 20;
  std::size_t max_holder_records_per_key = 16;  // type 1: owners' records (claims coexist)
  std::size_t max_claims_per_key = 160;         // type 2: a Large tessera has 72 holders
  std::size_t max_per_key_per_subnet = 8;
  std::size_t max_per_subnet = 20000;
  int64_t max_ttl_ms = 48ll * 3600 * 1000;  // expiry at most this far ahead
};

class RecordStore {
 public:
  explicit RecordStore(RecordStoreLimits limits = {}) : limits_(limits) {}

  // Stores `r`, sent from a node in `from` (rules above). On refusal,
  // `*reason` (if given) names it with a metric label value.
  core::Result<void> Put(const Record& r, const net::Subnet& from, int64_t now_unix_ms,
                         std::string_view* reason = nullptr);
  // Unexpired records of `key`: holder records first, then claims, each
  // oldest resident first.
  std::vector<Record> Get(const core::NodeId& key, int64_t now_unix_ms) const;
  void Expire(int64_t now_unix_ms);
  std::size_t size() const { return count_; }
  std::size_t bytes() const { return bytes_; }
  const RecordStoreLimits& limits() const { return limits_; }

 private:
  struct Entry {
    Record record;
    net::Subnet from;
    uint64_t seq = 0;  // arrival order: lower is an older resident
    std::size_t bytes = 0;
  };
  using List = std::vector<Entry>;
  std::size_t CapFor(uint32_t type) const;
  // The entry of `list` to evict for a newcomer from `from`, or nullptr.
  // Only entries of `type` count when `type` is set.
  const Entry* Victim(const List& list, std::optional<uint32_t> type,
                      const net::Subnet& from) const;
  // The record anywhere to evict for a newcomer from `from`, or nullopt.
  std::optional<std::pair<core::NodeId, uint64_t>> GlobalVictim(const net::Subnet& from) const;
  void Index(const core::NodeId& key, const Entry& e);
  void Unindex(const core::NodeId& key, const Entry& e);
  void Erase(const core::NodeId& key, uint64_t seq);

  RecordStoreLimits limits_;
  std::map<core::NodeId, List> by_key_;
  std::map<net::Subnet, std::map<uint64_t, core::NodeId>> by_subnet_;  // seq -> key
  std::set<std::pair<std::size_t, net::Subnet>> subnet_sizes_;         // for GlobalVictim
  std::size_t count_ = 0;
  std::size_t bytes_ = 0;
  uint64_t next_seq_ = 1;
};

}  // namespace tesseras::dht
