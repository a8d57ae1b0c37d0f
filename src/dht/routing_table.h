// Kademlia routing table: 256 buckets of at most k contacts, indexed by the
// number of leading zero bits of XOR(self, id).
//
// Departures from the paper (in the spirit of libtorrent's routing_table.hpp):
// - Buckets never split: bucket i holds ids whose distance to us has exactly i
//   leading zero bits. With k = 20 this is the classic layout.
// - At most `max_per_subnet` contacts of one IPv4 /24 or IPv6 /48 per bucket,
//   so one operator cannot fill a bucket from one network.
// - A contact is dropped after `max_failures` consecutive failed requests, not
//   at the first timeout. When a bucket is full, Update() names the
//   least-recently-seen contact; the caller pings it and calls Replace() only if
//   that ping fails (so long-lived nodes are preferred).
// - Only contacts we have talked to directly (authenticated) are inserted.
//
// Not thread-safe: owned by the network thread.
#pragma once

#include <array>
#include <chrono>
#include <optional>
#include <random>
#include <vector>

#include "core/ids.h"
#include "dht/contact.h"
#include "net/addresses.h"

namespace tesseras::dht {

struct RoutingConfig {
  std::size_t k = 20;
  std::size_t max_per_subnet = 2;
  int max_failures = 3;
};

class RoutingTable {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  enum class Outcome {
    kAdded,
    kUpdated,      // already present: moved to most-recently-seen
    kBucketFull,   // not added; `least_recent` should be pinged
    kSubnetLimit,  // not added: its subnet already has max_per_subnet entries
    kSelf,
  };
  struct UpdateResult {
    Outcome outcome;
    std::optional<Contact> least_recent;  // set with kBucketFull
  };

  RoutingTable(core::NodeId self, RoutingConfig config);

  // Records a successful interaction with `c`.
  UpdateResult Update(const Contact& c, TimePoint now);
  // Records a failed request; returns true if the contact was dropped.
  bool Failed(const core::NodeId& id);
  void Remove(const core::NodeId& id);
  // Replaces `old_id` (which failed its ping) by `c`, if `c` still fits.
  bool Replace(const core::NodeId& old_id, const Contact& c, TimePoint now);

  // Up to `n` contacts, closest to `target` first.
  std::vector<Contact> Closest(const core::NodeId& target, std::size_t n) const;
  std::optional<Contact> Find(const core::NodeId& id) const;
  bool Contains(const core::NodeId& id) const { return Find(id).has_value(); }
  std::size_t size() const;
  const core::NodeId& self() const { return self_; }

  // Bucket of `id` (0..255); 256 for our own id.
  int BucketOf(const core::NodeId& id) const;
  // Buckets with at least one contact whose last refresh is older than `age`,
  // and all buckets below the one of our closest neighbour (the paper's rule).
  std::vector<int> BucketsToRefresh(TimePoint now, std::chrono::milliseconds age) const;
  void MarkRefreshed(int bucket, TimePoint now) { refreshed_[bucket] = now; }
  // A random id that falls in `bucket`.
  core::NodeId RandomIdIn(int bucket, std::mt19937_64& rng) const;
  // Contacts not seen for `age` (for liveness pings).
  std::vector<Contact> Stale(TimePoint now, std::chrono::milliseconds age) const;

 private:
  struct Entry {
    Contact contact;
    TimePoint last_seen;
    int failures = 0;
  };
  using Bucket = std::vector<Entry>;  // least recently seen first
  std::size_t SubnetCount(const Bucket& b, const Contact& c) const;

  core::NodeId self_;
  RoutingConfig config_;
  std::array<Bucket, 256> buckets_;
  std::array<TimePoint, 256> refreshed_{};
};

// True if both addresses are in the same IPv4 /24 or IPv6 /48.
using net::SameSubnet;

}  // namespace tesseras::dht
