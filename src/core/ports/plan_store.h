// PlanStore port: the signed plans this node knows (its own tesseras and those it
// holds fragments of) and, for every tessera it looks after, the holders it
// tracks with the history of each copy, and its maintenance clock.
//
// Contract
// - Blocking; call from a worker thread. Thread-safe.
// - Plans are opaque here (the replication layer encodes and verifies them);
//   the store enforces only ownership: a tessera's plan can be replaced by a
//   plan from the same owner, never by another owner's (kPermissionDenied);
//   DeletePlan removes it (the owner's node does, when its payload proves a
//   stored plan of another owner a squat).
// - Keys: the first plan stored for a tessera hash is keyed by the hash; every
//   other owner's plan for it is kept beside it under its own key (the plan
//   slot, replication::PlanSlot) with PutPlanOf, which records which hash it is
//   a plan of. CountPlansOf counts both kinds. Holders, the maintenance clock
//   and fragments are keyed the same way, so each plan keeps its own.
// - Holders and the maintenance clock exist only beside a plan (kNotFound
//   otherwise) and go with it. SetHolders replaces the whole list atomically
//   and durably (an acknowledged placement must survive a power cut).
#pragma once

#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "core/ids.h"
#include "core/maintenance.h"
#include "core/result.h"

namespace tesseras::core {

// Who keeps which fragments (a holder record's entry, a push's result).
struct PlacementEntry {
  NodeId holder;
  std::string address;
  std::vector<uint32_t> indices;
  std::optional<int64_t> last_attested_ms;
  bool operator==(const PlacementEntry&) const = default;
};

struct PlanInfo {
  ContentHash tessera;
  NodeId owner;
};

class PlanStore {
 public:
  virtual ~PlanStore() = default;
  virtual Result<void> PutPlan(const ContentHash& tessera, const NodeId& owner,
                               std::span<const uint8_t> encoded) = 0;
  // Stores the plan of `tessera` from `owner` under `key` (its plan slot, not
  // the hash): how a plan from a second owner of a hash is kept beside the
  // first. The same ownership rule holds for `key`; kInvalidArgument if `key`
  // is `tessera` (that plan is stored with PutPlan).
  virtual Result<void> PutPlanOf(const ContentHash& key, const ContentHash& tessera,
                                 const NodeId& owner, std::span<const uint8_t> encoded) = 0;
  // How many plans are kept for the tessera hash: the one keyed by the hash
  // (0 or 1) and those stored with PutPlanOf for it.
  virtual Result<std::size_t> CountPlansOf(const ContentHash& tessera) = 0;
  // Removes the tessera's plan with its holders and maintenance clock; Ok if
  // there is none. For an owner holding the payload, which proves its own plan
  // right and a stored one of another owner a squat.
  virtual Result<void> DeletePlan(const ContentHash& tessera) = 0;
  // nullopt when no plan is known for the tessera.
  virtual Result<std::optional<std::vector<uint8_t>>> GetPlan(const ContentHash& tessera) = 0;
  // Every plan, in tessera order. The answer grows with every plan known:
  // callers that walk them all use ListPlansAfter.
  virtual Result<std::vector<PlanInfo>> ListPlans() = 0;
  // At most `limit` plans whose tessera follows `after` (from the first when
  // nullopt), in tessera order: a walk over every plan that keeps one page in
  // memory. A page shorter than `limit` is the last. This default slices
  // ListPlans(), which holds them all at once; a store that can page
  // (SqlitePlanStore) overrides it.
  virtual Result<std::vector<PlanInfo>> ListPlansAfter(std::optional<ContentHash> after,
                                                       std::size_t limit) {
    auto all = ListPlans();
    if (!all.ok()) return std::move(all).error();
    std::vector<PlanInfo> out;
    for (const auto& p : *all) {
      if (out.size() == limit) break;
      if (!after || *after < p.tessera) out.push_back(p);
    }
    return out;
  }
  // The holders tracked for a tessera, ordered by holder id, copies by index;
  // empty when none are.
  virtual Result<std::vector<HolderView>> GetHolders(const ContentHash& tessera) = 0;
  virtual Result<void> SetHolders(const ContentHash& tessera,
                                  const std::vector<HolderView>& holders) = 0;
  // The default (empty) clock when the tessera was never looked after.
  virtual Result<MaintenanceClock> GetMaintenance(const ContentHash& tessera) = 0;
  virtual Result<void> SetMaintenance(const ContentHash& tessera,
                                      const MaintenanceClock& clock) = 0;
};

}  // namespace tesseras::core
