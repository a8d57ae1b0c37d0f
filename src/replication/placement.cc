#include "replication/placement.h"

#include <arpa/inet.h>

#include <algorithm>
#include <map>

namespace tesseras::replication {

std::string SubnetKey(const std::string& address) {
  std::string host = address;
  if (!host.empty() && host[0] == '[') {
    auto end = host.find(']');
    host = end == std::string::npos ? host : host.substr(1, end - 1);
  } else if (auto colon = host.rfind(':'); colon != std::string::npos && host.find(':') == colon) {
    host = host.substr(0, colon);  // IPv4 "a.b.c.d:port"
  }
  unsigned char buf[16];
  if (inet_pton(AF_INET, host.c_str(), buf) == 1) {
    return "v4:" + std::to_string(buf[0]) + "." + std::to_string(buf[1]) + "." +
           std::to_string(buf[2]);
  }
  if (inet_pton(AF_INET6, host.c_str(), buf) == 1) {
    return "v6:" + core::ToHex(std::span(buf, 6));
  }
  return "addr:" + address;
}

std::vector<core::PeerInfo> SelectHolders(std::vector<Candidate> candidates, std::size_t want,
                                          std::size_t max_per_subnet,
                                          const std::vector<core::PeerInfo>& existing) {
  std::stable_sort(candidates.begin(), candidates.end(), [](const auto& a, const auto& b) {
    if (a.balance != b.balance) return a.balance > b.balance;
    return a.distance < b.distance;
  });
  std::map<std::string, std::size_t> per_subnet;
  std::vector<core::NodeId> taken;
  for (const auto& e : existing) {
    ++per_subnet[SubnetKey(e.address)];
    taken.push_back(e.id);
  }
  std::vector<core::PeerInfo> out;
  for (const auto& c : candidates) {
    if (out.size() == want) break;
    if (std::find(taken.begin(), taken.end(), c.peer.id) != taken.end()) continue;
    auto& n = per_subnet[SubnetKey(c.peer.address)];
    if (n >= max_per_subnet) continue;
    ++n;
    taken.push_back(c.peer.id);
    out.push_back(c.peer);
  }
  return out;
}

std::size_t WantedHolders(const core::FragmentPlan& plan) {
  return plan.tier == core::Tier::kSmall ? plan.replication_factor : plan.total_shards();
}

std::vector<std::vector<uint32_t>> AssignFragments(const core::FragmentPlan& plan,
                                                   std::size_t holders) {
  std::vector<std::vector<uint32_t>> out(holders);
  if (holders == 0) return out;
  if (plan.tier == core::Tier::kSmall) {
    for (auto& h : out) h.push_back(0);
    return out;
  }
  for (uint32_t i = 0; i < plan.total_shards(); ++i) out[i % holders].push_back(i);
  return out;
}

}  // namespace tesseras::replication
