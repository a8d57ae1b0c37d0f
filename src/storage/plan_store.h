// SqlitePlanStore: core::PlanStore in the node's database (tables
// signed_plans, placements and maintenance of migrations 003, 004 and 008). Blocking and
// thread-safe; call it from a worker thread.
#pragma once

#include <memory>

#include "core/ports/clock.h"
#include "core/ports/plan_store.h"
#include "storage/database.h"

namespace tesseras::storage {

class SqlitePlanStore final : public core::PlanStore {
 public:
  explicit SqlitePlanStore(std::shared_ptr<Database> db,
                           std::shared_ptr<const core::Clock> clock = nullptr);

  core::Result<void> PutPlan(const core::ContentHash& tessera, const core::NodeId& owner,
                             std::span<const uint8_t> encoded) override;
  core::Result<void> PutPlanOf(const core::ContentHash& key, const core::ContentHash& tessera,
                               const core::NodeId& owner,
                               std::span<const uint8_t> encoded) override;
  core::Result<std::size_t> CountPlansOf(const core::ContentHash& tessera) override;
  core::Result<void> DeletePlan(const core::ContentHash& tessera) override;
  core::Result<std::optional<std::vector<uint8_t>>> GetPlan(
      const core::ContentHash& tessera) override;
  core::Result<std::vector<core::PlanInfo>> ListPlans() override;
  core::Result<std::vector<core::PlanInfo>> ListPlansAfter(std::optional<core::ContentHash> after,
                                                           std::size_t limit) override;
  core::Result<std::vector<core::HolderView>> GetHolders(const core::ContentHash& tessera) override;
  core::Result<void> SetHolders(const core::ContentHash& tessera,
                                const std::vector<core::HolderView>& holders) override;
  core::Result<core::MaintenanceClock> GetMaintenance(const core::ContentHash& tessera) override;
  core::Result<void> SetMaintenance(const core::ContentHash& tessera,
                                    const core::MaintenanceClock& clock) override;

 private:
  std::shared_ptr<Database> db_;
  std::shared_ptr<const core::Clock> clock_;
};

}  // namespace tesseras::storage
