// Budgets for the requests that make this node move or read fragment data on
// a peer's behalf, applied by the DHT dispatch before a request reaches the
// ReplicationHandler (docs/SECURITY.md, "DHT: serving budgets").
//
// - Slots: transfers in progress (inbound Replicate, FetchFragment served) and
//   disk requests on the worker pool (AttestRequest, the open of a
//   FetchFragment), each capped per node id, per remote IP (so many cheap ids
//   on one host share one share), per /24 (/48) at half of all, and in all.
//   A request waits up to
//   `slot_wait` for a slot (at most kMaxWaitingPerKey wait per id or IP), then
//   is refused.
// - ReadBudget: token buckets of bytes read from disk for peers, per node id,
//   per IP, per /24 (/48) and in all. A request is admitted only if none of
//   its buckets is in debt; it is charged a minimum cost at once and the bytes
//   it really made us read once known, which may put its buckets in debt. So a
//   small request never buys a large read more than once: the requester then
//   waits (debt / rate) before it is served again.
//
// Threading: the network thread.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <list>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/ids.h"

namespace tesseras::dht {

// Requests waiting for a slot per node id or IP, beyond which they are refused.
inline constexpr std::size_t kMaxWaitingPerKey = 8;

struct ServeLimits {
  // Fragments received (Replicate) and sent (FetchFragment) at once.
  std::size_t max_inbound_transfers = 16;
  std::size_t max_inbound_transfers_per_peer = 4;  // per node id and per IP
  std::size_t max_outbound_transfers = 16;
  std::size_t max_outbound_transfers_per_peer = 4;
  // Requests reading fragments on the worker pool (attestations, fetch opens).
  std::size_t max_disk_requests = 4;
  std::size_t max_disk_requests_per_peer = 2;  // per node id and per IP
  // How long a request waits for a slot: within the requester's patience
  // (its request timeout, 10 s, and for a push its wait for credit).
  std::chrono::milliseconds slot_wait{5000};
  // Disk reads for peers: sustained bytes per second and burst.
  uint64_t read_rate_per_peer = 64ull << 20;  // per node id and per IP
  uint64_t read_burst_per_peer = 1ull << 30;
  uint64_t read_rate_per_subnet = 128ull << 20;
  uint64_t read_burst_per_subnet = 2ull << 30;
  uint64_t read_rate = 256ull << 20;
  uint64_t read_burst = 4ull << 30;
  uint64_t min_request_cost = 64 * 1024;  // charged to every request at admission
};

// Who is asking, as the keys budgets count by.
struct Requester {
  core::NodeId id;
  boost::asio::ip::address ip;
};

// Counted slots with a global cap and caps per key (node id, IP).
class Slots {
 public:
  using Clock = std::chrono::steady_clock;
  struct Key {
    std::string name;
    std::size_t cap;
  };
  Slots(boost::asio::any_io_executor ex, std::size_t global) : ex_(ex), global_(global) {}

  bool TryTake(const std::vector<Key>& keys);
  void Give(const std::vector<Key>& keys);
  // Takes a slot, waiting until `deadline` for one; false if none came or too
  // many already wait on one of the keys.
  boost::asio::awaitable<bool> Take(std::vector<Key> keys, Clock::time_point deadline);
  std::size_t used() const { return used_; }

 private:
  boost::asio::any_io_executor ex_;
  std::size_t global_;
  std::size_t used_ = 0;
  std::map<std::string, std::size_t> per_key_;
  std::map<std::string, std::size_t> waiting_;
  std::list<boost::asio::steady_timer*> waiters_;
};

// The keys of a requester for a slot kind with per-peer cap `per_peer` (its
// node id, its IP) and `global` slots in all: one /24 (/48) holds at most
// half of them (or per_peer, if more), so one network never takes them all.
std::vector<Slots::Key> SlotKeys(const Requester& r, std::size_t per_peer, std::size_t global);

// A slot held, given back when destroyed.
class SlotLease {
 public:
  SlotLease() = default;
  SlotLease(Slots* slots, std::vector<Slots::Key> keys) : slots_(slots), keys_(std::move(keys)) {}
  SlotLease(SlotLease&& o) noexcept
      : slots_(std::exchange(o.slots_, nullptr)), keys_(std::move(o.keys_)) {}
  SlotLease& operator=(SlotLease&&) = delete;
  SlotLease(const SlotLease&) = delete;
  ~SlotLease() {
    if (slots_) slots_->Give(keys_);
  }

 private:
  Slots* slots_ = nullptr;
  std::vector<Slots::Key> keys_;
};

class ReadBudget {
 public:
  using Clock = std::chrono::steady_clock;
  explicit ReadBudget(const ServeLimits& limits) : limits_(limits) {}

  // nullopt if `r` may be served now (and charges the minimum cost); else how
  // long until its most indebted bucket is out of debt.
  std::optional<std::chrono::milliseconds> Admit(const Requester& r, Clock::time_point now);
  // Charges `bytes` read for `r` (beyond the minimum cost already charged).
  void Charge(const Requester& r, uint64_t bytes, Clock::time_point now);

 private:
  struct Bucket {
    double tokens = 0;
    Clock::time_point at;
  };
  struct Spec {
    double rate;
    double burst;
  };
  Bucket& Get(std::map<std::string, Bucket>& m, const std::string& key, Spec spec,
              Clock::time_point now);
  static void Refill(Bucket& b, Spec spec, Clock::time_point now);
  std::vector<std::pair<Bucket*, Spec>> BucketsOf(const Requester& r, Clock::time_point now);

  ServeLimits limits_;
  std::map<std::string, Bucket> peers_;    // "id:…" and "ip:…"
  std::map<std::string, Bucket> subnets_;  // "/24:…"
  std::optional<Bucket> global_;
};

}  // namespace tesseras::dht
