#include "dht/serve_gate.h"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cmath>

#include "net/addresses.h"

namespace tesseras::dht {

namespace {
// Bucket maps forget full (idle) buckets beyond this many entries.
constexpr std::size_t kMaxTrackedBuckets = 4096;
}  // namespace

std::vector<Slots::Key> SlotKeys(const Requester& r, std::size_t per_peer, std::size_t global) {
  return {Slots::Key{"id:" + r.id.ToHex(), per_peer},
          Slots::Key{"ip:" + net::Unmapped(r.ip).to_string(), per_peer},
          Slots::Key{"net:" + net::SubnetOf(r.ip).ToString(),
                     std::max<std::size_t>(per_peer, global / 2)}};
}

bool Slots::TryTake(const std::vector<Key>& keys) {
  if (used_ >= global_) return false;
  for (const auto& k : keys) {
    auto it = per_key_.find(k.name);
    if (it != per_key_.end() && it->second >= k.cap) return false;
  }
  ++used_;
  for (const auto& k : keys) ++per_key_[k.name];
  return true;
}

void Slots::Give(const std::vector<Key>& keys) {
  if (used_ > 0) --used_;
  for (const auto& k : keys) {
    auto it = per_key_.find(k.name);
    if (it == per_key_.end()) continue;
    if (--it->second == 0) per_key_.erase(it);
  }
  for (auto* t : waiters_) t->cancel();
}

boost::asio::awaitable<bool> Slots::Take(std::vector<Key> keys, Clock::time_point deadline) {
  if (TryTake(keys)) co_return true;
  for (const auto& k : keys) {
    auto it = waiting_.find(k.name);
    if (it != waiting_.end() && it->second >= kMaxWaitingPerKey) co_return false;
  }
  boost::asio::steady_timer timer(ex_);
  waiters_.push_back(&timer);
  for (const auto& k : keys) ++waiting_[k.name];
  // Undone however the frame ends (also if destroyed while suspended).
  struct Unlist {
    Slots& s;
    std::list<boost::asio::steady_timer*>::iterator it;
    const std::vector<Key>& keys;
    ~Unlist() {
      s.waiters_.erase(it);
      for (const auto& k : keys) {
        auto w = s.waiting_.find(k.name);
        if (w != s.waiting_.end() && --w->second == 0) s.waiting_.erase(w);
      }
    }
  } unlist{*this, std::prev(waiters_.end()), keys};
  while (Clock::now() < deadline) {
    timer.expires_at(deadline);
    (void)co_await timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    if (TryTake(keys)) co_return true;
  }
  co_return false;
}

void ReadBudget::Refill(Bucket& b, Spec spec, Clock::time_point now) {
  double secs = std::chrono::duration<double>(now - b.at).count();
  if (secs > 0) b.tokens = std::min(spec.burst, b.tokens + secs * spec.rate);
  b.at = now;
}

ReadBudget::Bucket& ReadBudget::Get(std::map<std::string, Bucket>& m, const std::string& key,
                                    Spec spec, Clock::time_point now) {
  auto it = m.find(key);
  if (it == m.end()) it = m.emplace(key, Bucket{spec.burst, now}).first;
  Refill(it->second, spec, now);
  return it->second;
}

std::vector<std::pair<ReadBudget::Bucket*, ReadBudget::Spec>> ReadBudget::BucketsOf(
    const Requester& r, Clock::time_point now) {
  Spec peer{static_cast<double>(limits_.read_rate_per_peer),
            static_cast<double>(limits_.read_burst_per_peer)};
  Spec subnet{static_cast<double>(limits_.read_rate_per_subnet),
              static_cast<double>(limits_.read_burst_per_subnet)};
  Spec all{static_cast<double>(limits_.read_rate), static_cast<double>(limits_.read_burst)};
  if (!global_) global_ = Bucket{all.burst, now};
  Refill(*global_, all, now);
  // A bucket back at its burst is the same as no bucket: forget those first
  // when the maps grow (never after a pointer into them is taken).
  auto prune = [now](std::map<std::string, Bucket>& m, Spec spec) {
    if (m.size() < kMaxTrackedBuckets) return;
    for (auto it = m.begin(); it != m.end();) {
      Refill(it->second, spec, now);
      it = it->second.tokens >= spec.burst ? m.erase(it) : std::next(it);
    }
  };
  prune(peers_, peer);
  prune(subnets_, subnet);
  // Pointers into the maps stay valid: std::map never moves its nodes, and
  // no entry is erased between here and their use.
  std::vector<std::pair<Bucket*, Spec>> out;
  out.emplace_back(&Get(peers_, "id:" + r.id.ToHex(), peer, now), peer);
  out.emplace_back(&Get(peers_, "ip:" + net::Unmapped(r.ip).to_string(), peer, now), peer);
  out.emplace_back(&Get(subnets_, net::SubnetOf(r.ip).ToString(), subnet, now), subnet);
  out.emplace_back(&*global_, all);
  return out;
}

std::optional<std::chrono::milliseconds> ReadBudget::Admit(const Requester& r,
                                                           Clock::time_point now) {
  auto buckets = BucketsOf(r, now);
  double wait = 0;
  for (const auto& [b, spec] : buckets) {
    if (b->tokens < 0 && spec.rate > 0) wait = std::max(wait, -b->tokens / spec.rate);
  }
  if (wait > 0) return std::chrono::milliseconds(static_cast<int64_t>(std::ceil(wait * 1000)));
  for (const auto& [b, spec] : buckets) b->tokens -= static_cast<double>(limits_.min_request_cost);
  return std::nullopt;
}

void ReadBudget::Charge(const Requester& r, uint64_t bytes, Clock::time_point now) {
  for (const auto& [b, spec] : BucketsOf(r, now)) b->tokens -= static_cast<double>(bytes);
}

}  // namespace tesseras::dht
