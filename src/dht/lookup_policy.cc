#include "dht/lookup_policy.h"

#include <algorithm>

namespace tesseras::dht {

LookupFrontier::LookupFrontier(core::NodeId target, std::size_t n, LookupLimits limits)
    : target_(target), n_(std::max<std::size_t>(n, 1)), limits_(limits) {
  limits_.max_per_subnet = std::max<std::size_t>(limits_.max_per_subnet, 1);
  limits_.max_unverified_per_source = std::max<std::size_t>(limits_.max_unverified_per_source, 1);
}

LookupFrontier::Candidate* LookupFrontier::Find(const core::NodeId& id) {
  auto it = candidates_.find(core::XorDistance(target_, id));
  return it == candidates_.end() ? nullptr : &it->second;
}

bool LookupFrontier::Add(const Contact& c, std::optional<net::Subnet> source) {
  auto distance = core::XorDistance(target_, c.id);
  if (candidates_.count(distance) != 0) return false;
  if (candidates_.size() >= kMaxCandidatesPerResult * n_) {
    // Full: a closer newcomer replaces the farthest candidate never asked.
    auto victim = candidates_.end();
    for (auto it = candidates_.rbegin(); it != candidates_.rend(); ++it) {
      if (it->first <= distance) break;
      if (it->second.phase == Phase::kNew) {
        victim = std::next(it).base();
        break;
      }
    }
    if (victim == candidates_.end()) return false;
    candidates_.erase(victim);
  }
  candidates_.emplace(
      distance, Candidate{c, Phase::kNew, net::SubnetOf(c.endpoint.address()), std::move(source)});
  return true;
}

std::vector<core::NodeId> LookupFrontier::Frontier() const {
  std::vector<core::NodeId> out;
  std::map<net::Subnet, std::size_t> per_subnet;
  // A source's failed contacts keep counting: a liar cannot send us to more
  // than its share of dead ends, one after the other.
  std::map<net::Subnet, std::size_t> per_source;
  for (const auto& [distance, cand] : candidates_) {
    if (cand.phase == Phase::kFailed && cand.source) ++per_source[*cand.source];
  }
  for (const auto& [distance, cand] : candidates_) {
    if (out.size() >= n_) break;
    if (cand.phase == Phase::kFailed) continue;
    if (per_subnet[cand.subnet] >= limits_.max_per_subnet) continue;
    bool unverified = cand.phase != Phase::kAnswered && cand.source.has_value();
    if (unverified && per_source[*cand.source] >= limits_.max_unverified_per_source) continue;
    ++per_subnet[cand.subnet];
    if (unverified) ++per_source[*cand.source];
    out.push_back(distance);
  }
  return out;
}

std::vector<Contact> LookupFrontier::Next(std::size_t slots) {
  std::vector<Contact> out;
  if (slots == 0) return out;
  for (const auto& distance : Frontier()) {
    if (out.size() >= slots) break;
    Candidate& c = candidates_.at(distance);
    if (c.phase != Phase::kNew) continue;
    c.phase = Phase::kInFlight;
    ++inflight_;
    out.push_back(c.contact);
  }
  return out;
}

bool LookupFrontier::Done() const {
  for (const auto& distance : Frontier()) {
    if (candidates_.at(distance).phase != Phase::kAnswered) return false;
  }
  return true;
}

void LookupFrontier::Answered(const core::NodeId& id) {
  Candidate* c = Find(id);
  if (!c) return;
  if (c->phase == Phase::kInFlight && inflight_ > 0) --inflight_;
  c->phase = Phase::kAnswered;
}

void LookupFrontier::Failed(const core::NodeId& id) {
  Candidate* c = Find(id);
  if (!c) return;
  if (c->phase == Phase::kInFlight && inflight_ > 0) --inflight_;
  c->phase = Phase::kFailed;
}

std::vector<Contact> LookupFrontier::Result(std::size_t n) const {
  std::vector<Contact> out;
  std::map<net::Subnet, std::size_t> per_subnet;
  for (const auto& [distance, cand] : candidates_) {
    if (out.size() >= n) break;
    if (cand.phase != Phase::kAnswered) continue;
    if (per_subnet[cand.subnet]++ >= limits_.max_per_subnet) continue;
    out.push_back(cand.contact);
  }
  return out;
}

std::vector<Contact> LookupFrontier::Answered() const {
  std::vector<Contact> out;
  for (const auto& [distance, cand] : candidates_) {
    if (cand.phase == Phase::kAnswered) out.push_back(cand.contact);
  }
  return out;
}

int CommonPrefixBits(const core::NodeId& a, const core::NodeId& b) {
  return core::LeadingZeroBits(core::XorDistance(a, b).bytes);
}

core::NodeId FlipBit(const core::NodeId& id, int bit) {
  core::NodeId out = id;
  if (bit < 0 || bit >= 256) return out;
  out.bytes[static_cast<std::size_t>(bit / 8)] ^= static_cast<uint8_t>(0x80u >> (bit % 8));
  return out;
}

}  // namespace tesseras::dht
