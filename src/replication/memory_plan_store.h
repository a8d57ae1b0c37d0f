// PlanStore kept in memory: for tests and the simulator. Honours the same
// ownership rule as the SQLite store.
#pragma once

#include <algorithm>
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
  core::Result<void> PutPlanOf(const core::ContentHash& key, const core::ContentHash& tessera,
                               const core::NodeId& owner,
                               std::span<const uint8_t> encoded) override {
    if (key == tessera) {
      return core::MakeError(core::ErrorCode::kInvalidArgument,
                             "a plan keyed by its own hash is stored with PutPlan");
    }
    std::lock_guard lock(mu_);
    auto it = plans_.find(key);
    if (it != plans_.end() && it->second.first != owner) {
      return core::MakeError(core::ErrorCode::kPermissionDenied,
                             "tessera " + key.Short() + "… belongs to another owner");
    }
    plans_[key] = {owner, std::vector<uint8_t>(encoded.begin(), encoded.end())};
    plan_of_[key] = tessera;
    return core::Ok();
  }
  core::Result<std::size_t> CountPlansOf(const core::ContentHash& tessera) override {
    std::lock_guard lock(mu_);
    std::size_t n = plans_.count(tessera);
    for (const auto& [key, of] : plan_of_) n += of == tessera ? 1 : 0;
    return n;
  }
  core::Result<void> DeletePlan(const core::ContentHash& tessera) override {
    std::lock_guard lock(mu_);
    plans_.erase(tessera);
    plan_of_.erase(tessera);
    holders_.erase(tessera);
    maintenance_.erase(tessera);
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
  core::Result<std::vector<core::HolderView>> GetHolders(
      const core::ContentHash& tessera) override {
    std::lock_guard lock(mu_);
    auto it = holders_.find(tessera);
    if (it == holders_.end()) return std::vector<core::HolderView>{};
    return it->second;
  }
  core::Result<void> SetHolders(const core::ContentHash& tessera,
                                const std::vector<core::HolderView>& holders) override {
    std::lock_guard lock(mu_);
    if (!plans_.count(tessera)) return NoPlan(tessera);
    auto sorted = holders;
    std::sort(sorted.begin(), sorted.end(),
              [](const auto& a, const auto& b) { return a.holder < b.holder; });
    for (auto& h : sorted) {
      std::sort(h.copies.begin(), h.copies.end(),
                [](const auto& a, const auto& b) { return a.index < b.index; });
    }
    holders_[tessera] = std::move(sorted);
    return core::Ok();
  }
  core::Result<core::MaintenanceClock> GetMaintenance(const core::ContentHash& tessera) override {
    std::lock_guard lock(mu_);
    auto it = maintenance_.find(tessera);
    if (it == maintenance_.end()) return core::MaintenanceClock{};
    return it->second;
  }
  core::Result<void> SetMaintenance(const core::ContentHash& tessera,
                                    const core::MaintenanceClock& clock) override {
    std::lock_guard lock(mu_);
    if (!plans_.count(tessera)) return NoPlan(tessera);
    maintenance_[tessera] = clock;
    return core::Ok();
  }

 private:
  std::mutex mu_;
  std::map<core::ContentHash, std::pair<core::NodeId, std::vector<uint8_t>>> plans_;
  static core::Error NoPlan(const core::ContentHash& tessera) {
    return core::MakeError(core::ErrorCode::kNotFound, "no plan for tessera " + tessera.ToHex());
  }
  std::map<core::ContentHash, std::vector<core::HolderView>> holders_;
  std::map<core::ContentHash, core::MaintenanceClock> maintenance_;
  std::map<core::ContentHash, core::ContentHash> plan_of_;  // plan slot -> its hash
};

}  // namespace tesseras::replication
