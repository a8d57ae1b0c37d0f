// EstimateDurabilityOf: what this node has observed of a tessera's holders,
// through the pure estimate of replication/durability.h.
#include "replication/replication_service.h"
#include "replication/service_internal.h"

namespace tesseras::replication {

core::Result<DurabilityEstimate> ReplicationService::EstimateDurabilityOf(
    const core::ContentHash& tessera, double horizon_years) {
  ASSIGN_OR_RETURN(SignedPlan plan, LoadPlan(tessera));
  ASSIGN_OR_RETURN(auto holders, d_.plans->GetHolders(tessera));
  DurabilityInput in = ObservedDurabilityInput(holders, RedundancyOf(plan.table.plan),
                                               d_.clock->NowUnixMs(), config_.policy);
  // The owner rebuilds from its own payload: a repair needs no holder to answer.
  auto at_hand = d_.blobs->Contains(tessera);
  in.payload_at_hand = at_hand.ok() && *at_hand;
  in.pass_interval_hours = static_cast<double>(config_.repair_interval_secs) / 3600.0;
  in.horizon_years = horizon_years;
  return EstimateDurability(in, config_.policy);
}

}  // namespace tesseras::replication
