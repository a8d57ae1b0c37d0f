#include "net/budget.h"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace tesseras::net {

namespace ip = boost::asio::ip;

const char* AdmissionRefusalName(AdmissionRefusal r) {
  switch (r) {
    case AdmissionRefusal::kNone:
      return "none";
    case AdmissionRefusal::kHandshakesPerIp:
      return "handshakes_per_ip";
    case AdmissionRefusal::kHandshakesPerSubnet:
      return "handshakes_per_subnet";
    case AdmissionRefusal::kConnectionsPerIp:
      return "connections_per_ip";
    case AdmissionRefusal::kConnectionsPerSubnet:
      return "connections_per_subnet";
    case AdmissionRefusal::kConnections:
      return "connections";
    case AdmissionRefusal::kConnectionsPerNode:
      return "connections_per_node";
    case AdmissionRefusal::kFileDescriptors:
      return "file_descriptors";
  }
  return "unknown";
}

AdmissionRefusal ConnectionBudget::CheckHandshake(const ip::address& raw) const {
  ip::address a = Unmapped(raw);
  if (auto it = by_ip_.find(a); it != by_ip_.end()) {
    if (it->second.handshakes >= limits_.max_handshakes_per_ip) {
      return AdmissionRefusal::kHandshakesPerIp;
    }
  }
  if (auto it = by_subnet_.find(SubnetOf(a)); it != by_subnet_.end()) {
    if (it->second.handshakes >= limits_.max_handshakes_per_subnet) {
      return AdmissionRefusal::kHandshakesPerSubnet;
    }
  }
  // One that would be refused once established is refused now, before TLS.
  return CheckInbound(a);
}

void ConnectionBudget::BeginHandshake(const ip::address& raw) {
  ip::address a = Unmapped(raw);
  ++by_ip_[a].handshakes;
  ++by_subnet_[SubnetOf(a)].handshakes;
  ++handshakes_;
}

void ConnectionBudget::EndHandshake(const ip::address& raw) {
  ip::address a = Unmapped(raw);
  if (auto it = by_ip_.find(a); it != by_ip_.end() && it->second.handshakes > 0) {
    --it->second.handshakes;
    Drop(by_ip_, a);
  }
  Subnet s = SubnetOf(a);
  if (auto it = by_subnet_.find(s); it != by_subnet_.end() && it->second.handshakes > 0) {
    --it->second.handshakes;
    Drop(by_subnet_, s);
  }
  if (handshakes_ > 0) --handshakes_;
}

AdmissionRefusal ConnectionBudget::CheckInbound(const ip::address& raw) const {
  ip::address a = Unmapped(raw);
  if (auto it = by_ip_.find(a); it != by_ip_.end()) {
    if (it->second.established >= limits_.max_connections_per_ip) {
      return AdmissionRefusal::kConnectionsPerIp;
    }
  }
  if (auto it = by_subnet_.find(SubnetOf(a)); it != by_subnet_.end()) {
    if (it->second.established >= limits_.max_connections_per_subnet) {
      return AdmissionRefusal::kConnectionsPerSubnet;
    }
  }
  return AdmissionRefusal::kNone;
}

void ConnectionBudget::AddInbound(const ip::address& raw) {
  ip::address a = Unmapped(raw);
  ++by_ip_[a].established;
  ++by_subnet_[SubnetOf(a)].established;
  ++inbound_;
}

void ConnectionBudget::RemoveInbound(const ip::address& raw) {
  ip::address a = Unmapped(raw);
  if (auto it = by_ip_.find(a); it != by_ip_.end() && it->second.established > 0) {
    --it->second.established;
    Drop(by_ip_, a);
  }
  Subnet s = SubnetOf(a);
  if (auto it = by_subnet_.find(s); it != by_subnet_.end() && it->second.established > 0) {
    --it->second.established;
    Drop(by_subnet_, s);
  }
  if (inbound_ > 0) --inbound_;
}

void ConnectionBudget::Drop(std::map<ip::address, Counts>& m, const ip::address& key) {
  auto it = m.find(key);
  if (it != m.end() && it->second.handshakes == 0 && it->second.established == 0) m.erase(it);
}

void ConnectionBudget::Drop(std::map<Subnet, Counts>& m, const Subnet& key) {
  auto it = m.find(key);
  if (it != m.end() && it->second.handshakes == 0 && it->second.established == 0) m.erase(it);
}

// ---- MemoryBudget -------------------------------------------------------------

void MemoryBudget::Charge(std::size_t n) {
  used_ += n;
  peak_ = std::max(peak_, used_);
}

bool MemoryBudget::TryAcquire(std::size_t n) {
  if (used_ + n > limit_) return false;
  Charge(n);
  return true;
}

void MemoryBudget::Force(std::size_t n) { Charge(n); }

void MemoryBudget::Release(std::size_t n) {
  used_ -= std::min(used_, n);
  for (auto* t : waiters_) t->cancel();
}

boost::asio::awaitable<bool> MemoryBudget::Acquire(std::size_t n, Clock::time_point deadline) {
  if (TryAcquire(n)) co_return true;
  boost::asio::steady_timer timer(ex_);
  waiters_.push_back(&timer);
  auto it = std::prev(waiters_.end());
  // Removes the entry however this frame ends (also if it is destroyed while
  // suspended), so Release never touches a dead timer.
  struct Unlist {
    std::list<boost::asio::steady_timer*>& list;
    std::list<boost::asio::steady_timer*>::iterator it;
    ~Unlist() { list.erase(it); }
  } unlist{waiters_, it};
  while (Clock::now() < deadline) {
    timer.expires_at(deadline);
    (void)co_await timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    if (TryAcquire(n)) co_return true;
  }
  co_return false;
}

}  // namespace tesseras::net
