#include "dht/refusals.h"

#include <spdlog/spdlog.h>

namespace tesseras::dht {

core::Counter& Refusals::CounterFor(std::string_view reason) {
  auto it = counters_.find(reason);
  if (it != counters_.end()) return *it->second;
  core::Counter& c = metrics_.GetCounter("tesseras_refusals_total",
                                         "Requests and connections from peers refused, by reason",
                                         {{"reason", std::string(reason)}});
  counters_.emplace(std::string(reason), &c);
  return c;
}

uint64_t Refusals::count(std::string_view reason) { return CounterFor(reason).value(); }

bool Refusals::Note(std::string_view reason, const std::string& peer, std::string_view detail,
                    Clock::time_point now) {
  CounterFor(reason).Inc();
  auto key = std::make_pair(peer, std::string(reason));
  auto it = seen_.find(key);
  if (it != seen_.end() && now - it->second.logged < interval_) {
    ++it->second.suppressed;
    return false;
  }
  uint64_t suppressed = it == seen_.end() ? 0 : it->second.suppressed;
  if (it == seen_.end() && seen_.size() >= max_tracked_) {
    // Forget entries whose interval has passed; if all are recent, start over.
    std::erase_if(seen_, [&](const auto& e) { return now - e.second.logged >= interval_; });
    if (seen_.size() >= max_tracked_) seen_.clear();
  }
  seen_[key] = Seen{now, 0};
  if (suppressed > 0) {
    spdlog::info("refused {} from {}: {} ({} more since the last report)", reason, peer, detail,
                 suppressed);
  } else {
    spdlog::info("refused {} from {}: {}", reason, peer, detail);
  }
  return true;
}

}  // namespace tesseras::dht
