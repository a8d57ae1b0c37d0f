// Where fragments go: subnet diversity and distinct holders (docs/REPLICATION.md).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/fragment.h"

namespace tesseras::replication {

// The subnet an address belongs to for diversity rules: "v4:a.b.c" (/24) or
// "v6:" + the first 48 bits in hex (/48). An address that does not parse is
// its own subnet (so it can never crowd out others by accident).
std::string SubnetKey(const std::string& address);

struct Candidate {
  core::PeerInfo peer;
  int64_t balance = 0;    // reciprocity: they store for us - we store for them
  core::NodeId distance;  // XOR distance to the tessera hash
};

// Picks up to `want` holders: candidates ordered by balance (higher first), then
// by distance (closer first), keeping at most `max_per_subnet` per subnet, the
// subnets of `existing` holders counting against the cap.
std::vector<core::PeerInfo> SelectHolders(std::vector<Candidate> candidates, std::size_t want,
                                          std::size_t max_per_subnet,
                                          const std::vector<core::PeerInfo>& existing = {});

// How many holders a plan wants: 7 copies of the single fragment for the small
// tier; one holder per fragment for the coded tiers.
std::size_t WantedHolders(const core::FragmentPlan& plan);

// Fragment indices per holder. Small tier: every holder gets fragment 0.
// Coded tiers: fragment i goes to holder i mod h, so with h >= fragments each
// holder has exactly one, and with fewer the counts differ by at most one.
std::vector<std::vector<uint32_t>> AssignFragments(const core::FragmentPlan& plan,
                                                   std::size_t holders);

}  // namespace tesseras::replication
