// Refusals of what peers ask of us (connections, transfers, disk reads,
// records, contacts): each is counted in tesseras_refusals_total{reason} and
// logged at most once per (peer, reason) per interval, with how many were
// suppressed since, so that a flood is one log line a minute, not one a frame
// (docs/SECURITY.md, "Refusals").
//
// Reasons are metric label values from a fixed set in our code; peers are
// printable keys (an IP, a short node id) that only appear in the log.
// Not thread-safe: the network thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>

#include "core/metrics.h"

namespace tesseras::dht {

class Refusals {
 public:
  using Clock = std::chrono::steady_clock;
  Refusals(core::MetricsRegistry& metrics, std::chrono::milliseconds interval,
           std::size_t max_tracked = 4096)
      : metrics_(metrics), interval_(interval), max_tracked_(max_tracked) {}

  // Counts one refusal; logs it unless (peer, reason) was logged within the
  // interval. Returns true if it was logged.
  bool Note(std::string_view reason, const std::string& peer, std::string_view detail,
            Clock::time_point now = Clock::now());
  // Refusals counted for `reason` so far.
  uint64_t count(std::string_view reason);

 private:
  core::Counter& CounterFor(std::string_view reason);
  struct Seen {
    Clock::time_point logged;
    uint64_t suppressed = 0;
  };
  core::MetricsRegistry& metrics_;
  std::chrono::milliseconds interval_;
  std::size_t max_tracked_;
  std::map<std::string, core::Counter*, std::less<>> counters_;
  std::map<std::pair<std::string, std::string>, Seen> seen_;  // (peer, reason)
};

}  // namespace tesseras::dht
