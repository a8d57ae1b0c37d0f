// PlanStore kept in memory: for tests and the simulator. Honours the same
// ownership rule as the SQLite store.
#pragma once

#include <map>
#include <mutex>

#include "core/ports/plan_store.h"

namespace tesseras::replication {

class MemoryPlanStore final : public core::PlanStore {
 public:
  core::Result<void> PutPlan(const core::ContentHash& tessera, const core::NodeId& owner,
                             std::span<const uint8_t> encoded) override {
    std::lock_guard lock(mu_);
    auto it = plans_.find(tessera);
    if (it != plans_.end() && it->second.first != owner) {
      return core::MakeError(core::ErrorCode::kPermissionDenied,
                             "tessera " + tessera.Short() + "… belongs to another owner");
    }
    plans_[tessera] = {owner, std::vector<uint8_t>(encoded.begin(), encoded.end())};
    return core::Ok();
  }
  core::Result<std::optional<std::vector<uint8_t>>> GetPlan(
      const core::ContentHash& tessera) override {
    std::lock_guard lock(mu_);
    auto it = plans_.find(tessera);
    if (it == plans_.end()) return std::optional<std::vector<uint8_t>>();
    return std::optional<std::vector<uint8_t>>(it->second.second);
  }
  core::Result<std::vector<core::PlanInfo>> ListPlans() override {
    std::lock_guard lock(mu_);
    std::vector<core::PlanInfo> out;
    for (const auto& [t, v] : plans_) out.push_back({t, v.first});
    return out;
  }
  core::Result<void> SetPlacement(const core::ContentHash& tessera,
                                  const std::vector<core::PlacementEntry>& holders) override {
    std::lock_guard lock(mu_);
    placement_[tessera] = holders;
    return core::Ok();
  }
  core::Result<std::vector<core::PlacementEntry>> GetPlacement(
      const core::ContentHash& tessera) override {
    std::lock_guard lock(mu_);
    auto it = placement_.find(tessera);
    if (it == placement_.end()) return std::vector<core::PlacementEntry>{};
    return it->second;
  }
  core::Result<void> MarkAttested(const core::ContentHash& tessera, const core::NodeId& holder,
                                  int64_t when_ms) override {
    std::lock_guard lock(mu_);
    for (auto& e : placement_[tessera])
      if (e.holder == holder) e.last_attested_ms = when_ms;
    return core::Ok();
  }

 private:
  std::mutex mu_;
  std::map<core::ContentHash, std::pair<core::NodeId, std::vector<uint8_t>>> plans_;
  std::map<core::ContentHash, std::vector<core::PlacementEntry>> placement_;
};

}  // namespace tesseras::replication
