// What a node remembers of the holders of a tessera between audits: one
// history per copy of a fragment on a holder, and when it last checked the
// tessera. Plain data: the decisions over it are the maintenance policy's
// (replication/maintenance_policy.h); the PlanStore port keeps it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/ids.h"

namespace tesseras::core {

// One copy of one fragment on one holder, across audits.
struct CopyHistory {
  uint32_t index = 0;
  std::optional<int64_t> last_proven_ms;    // last audit (or acknowledged push) that proved it
  std::optional<int64_t> first_failure_ms;  // start of the current run of unanswered audits
  uint32_t consecutive_failures = 0;
  bool denied = false;  // the holder answered and did not prove it: gone or wrong bytes
  bool operator==(const CopyHistory&) const = default;
};

// A holder and its copies of one tessera.
struct HolderView {
  NodeId holder;
  std::string address;
  std::vector<CopyHistory> copies;  // one per index it is believed to keep, sorted by index
  bool operator==(const HolderView&) const = default;
};

// When this node last looked after a tessera, and what it saw.
struct MaintenanceClock {
  std::optional<int64_t> last_checked_ms;          // our own last check (audit of its holders)
  std::optional<int64_t> last_audited_by_peer_ms;  // a maintainer ranked before us audited us
  std::optional<int64_t> need_since_ms;            // first check, in a row, that needed repair
  std::vector<uint32_t> claimed;                   // indices our published holder claim lists
  bool claim_published = false;                    // that claim reached the DHT
  bool operator==(const MaintenanceClock&) const = default;
};

}  // namespace tesseras::core
