// Budgets an Endpoint shares among its connections (docs/SECURITY.md,
// "Network"): who may start a handshake and hold an established connection
// (ConnectionBudget), and how many bytes of buffers all connections together
// may hold (MemoryBudget).
//
// Threading: both live on the endpoint's network thread; no locking.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <map>

#include "net/addresses.h"

namespace tesseras::net {

// Why an inbound connection was not admitted. Names are metric label values.
enum class AdmissionRefusal {
  kNone,
  kHandshakesPerIp,
  kHandshakesPerSubnet,
  kConnectionsPerIp,
  kConnectionsPerSubnet,
  kConnections,  // the global cap, nothing idle to close
  kConnectionsPerNode,
  kFileDescriptors,  // the descriptor budget (RLIMIT_NOFILE) is spent
};
const char* AdmissionRefusalName(AdmissionRefusal r);

// The per-address part of Limits (net/connection.h), where the defaults live.
struct AdmissionLimits {
  std::size_t max_connections_per_ip = 8;       // established inbound, one remote IP
  std::size_t max_connections_per_subnet = 32;  // established inbound, one /24 or /48
  std::size_t max_handshakes = 64;              // inbound handshakes in flight
  std::size_t max_handshakes_per_ip = 4;
  std::size_t max_handshakes_per_subnet = 16;
};

// Counts inbound handshakes in flight and established inbound connections by
// IP and by subnet. Pure bookkeeping: the Endpoint asks before it accepts or
// registers, and reports what it did.
class ConnectionBudget {
 public:
  explicit ConnectionBudget(AdmissionLimits limits) : limits_(limits) {}

  // Whether a new inbound TCP connection from `ip` may start its handshake
  // (global handshake slots are checked separately: HandshakeSlotFree).
  AdmissionRefusal CheckHandshake(const boost::asio::ip::address& ip) const;
  bool HandshakeSlotFree() const { return handshakes_ < limits_.max_handshakes; }
  void BeginHandshake(const boost::asio::ip::address& ip);
  void EndHandshake(const boost::asio::ip::address& ip);

  // Whether `ip` may hold one more established inbound connection.
  AdmissionRefusal CheckInbound(const boost::asio::ip::address& ip) const;
  void AddInbound(const boost::asio::ip::address& ip);
  void RemoveInbound(const boost::asio::ip::address& ip);

  std::size_t handshakes() const { return handshakes_; }
  std::size_t inbound() const { return inbound_; }
  const AdmissionLimits& limits() const { return limits_; }

 private:
  struct Counts {
    std::size_t handshakes = 0;
    std::size_t established = 0;
  };
  static void Drop(std::map<boost::asio::ip::address, Counts>& m,
                   const boost::asio::ip::address& key);
  static void Drop(std::map<Subnet, Counts>& m, const Subnet& key);

  AdmissionLimits limits_;
  std::map<boost::asio::ip::address, Counts> by_ip_;
  std::map<Subnet, Counts> by_subnet_;
  std::size_t handshakes_ = 0;
  std::size_t inbound_ = 0;
};

// A byte budget for buffers: receive windows granted to bulk senders, chunks
// read for sending, and frames queued for writing, over all connections of an
// endpoint. Acquire() waits (bounded) for room; Force() may exceed the limit
// (for the small frames every connection may always queue, see Connection).
class MemoryBudget {
 public:
  using Clock = std::chrono::steady_clock;
  MemoryBudget(boost::asio::any_io_executor ex, std::size_t limit) : ex_(ex), limit_(limit) {}

  bool TryAcquire(std::size_t n);
  void Force(std::size_t n);
  void Release(std::size_t n);
  // Waits until `n` bytes fit or `deadline` passes; true if acquired.
  boost::asio::awaitable<bool> Acquire(std::size_t n, Clock::time_point deadline);

  std::size_t used() const { return used_; }
  std::size_t peak() const { return peak_; }
  std::size_t limit() const { return limit_; }

 private:
  void Charge(std::size_t n);

  boost::asio::any_io_executor ex_;
  std::size_t limit_;
  std::size_t used_ = 0;
  std::size_t peak_ = 0;
  std::list<boost::asio::steady_timer*> waiters_;
};

// Bytes of memory held from a MemoryBudget, returned when destroyed.
class BudgetLease {
 public:
  BudgetLease() = default;
  BudgetLease(MemoryBudget* budget, std::size_t bytes) : budget_(budget), bytes_(bytes) {}
  BudgetLease(BudgetLease&& o) noexcept : budget_(o.budget_), bytes_(o.bytes_) { o.bytes_ = 0; }
  BudgetLease& operator=(BudgetLease&& o) noexcept {
    if (this != &o) {
      Reset();
      budget_ = o.budget_;
      bytes_ = o.bytes_;
      o.bytes_ = 0;
    }
    return *this;
  }
  BudgetLease(const BudgetLease&) = delete;
  BudgetLease& operator=(const BudgetLease&) = delete;
  ~BudgetLease() { Reset(); }

  void Reset() {
    if (budget_ && bytes_) budget_->Release(bytes_);
    bytes_ = 0;
  }
  std::size_t bytes() const { return bytes_; }

 private:
  MemoryBudget* budget_ = nullptr;
  std::size_t bytes_ = 0;
};

}  // namespace tesseras::net
