// How likely a tessera is to be lost, from what one node has observed of its
// holders and the maintenance policy in force (method: docs/SIMULATION.md,
// "Durability estimate"). Pure: no I/O, no clock, thread-compatible.
//
// The model is a continuous-time Markov chain on j, the number of the
// tessera's units (coded fragments, or small-tier copies) still on machines
// in the network:
// - each unit is lost for good at rate λ, the holders' observed departure
//   rate (a unit never returns once its machine has left);
// - each missing unit is re-created at rate 1 / D(j), with
//   D(j) = holder_grace + pass_interval / P(j): the policy counts a silent
//   holder for the grace period and then re-creates its copies at the next
//   pass that can, and a pass can when k of the j remaining units answer
//   (P(j) = P(Binomial(j, a) ≥ k) for availability a; 1 when the payload is
//   at hand: small copies, or the owner's own node);
// - fewer than k units is loss (absorbing).
// P(lost within the horizon) is the absorbing state's entry of exp(Q t) from
// the current state, computed by uniformisation and repeated squaring of
// non-negative matrices, so small probabilities keep their relative
// precision. Exponential repair delays have a heavier tail than the policy's
// near-fixed ones, which makes the estimate err on the side of risk;
// correlated failures (a whole /24 at once) are not in the model.
#pragma once

#include <cstdint>
#include <vector>

#include "replication/maintenance_policy.h"

namespace tesseras::replication {

// What a maintainer saw of one holder of the tessera (one entry per counted copy).
struct HolderObservation {
  uint64_t audits_asked = 0;
  uint64_t audits_answered = 0;  // proofs that came back
};

struct DurabilityInput {
  Redundancy redundancy;
  std::vector<HolderObservation> holders;
  // Departures: holders that went silent for good (their copies forgotten),
  // over the holder-years watched; pooled over every tessera the node maintains.
  double departures_seen = 0;
  double holder_years_watched = 0;
  // The payload is at hand (the owner's node): a repair needs no holder.
  bool payload_at_hand = false;
  double pass_interval_hours = 24;  // ReplicationConfig::repair_interval_secs
  double horizon_years = 10;
};

// What is assumed before anything is observed, weighted as that many
// observations: a 2-year machine lifetime over 1 holder-year, and 80 %
// availability over 10 audits.
struct DurabilityPrior {
  double lifetime_years = 2;
  double lifetime_weight_years = 1;
  double availability = 0.8;
  double availability_weight_audits = 10;
};

struct DurabilityEstimate {
  double p_lost = 0;               // P(lost within the horizon)
  double departures_per_year = 0;  // λ per holder, as used
  double availability = 0;         // a, as used
  double repair_delay_hours = 0;   // D at full redundancy minus one
  uint32_t units = 0;              // j at the start (counted units)
};

DurabilityEstimate EstimateDurability(const DurabilityInput& in, const MaintenancePolicyConfig& c,
                                      const DurabilityPrior& prior = {});

// The input from what one node remembers of a tessera's holders (the copies'
// histories, core/maintenance.h), at `now_ms`:
// - one observation per unit still counted (a fragment index, or for the
//   small tier a copy, whose copy is proven or suspect within the grace), with
//   that copy's audits asked and answered (the best-observed copy of an index
//   held twice);
// - departures: holders all of whose copies are lost (denied, or silent past
//   the grace), over holder-years watched: for every holder, the time since
//   its first copy was first seen.
// payload_at_hand, pass_interval_hours and horizon_years are left to the caller.
DurabilityInput ObservedDurabilityInput(const std::vector<core::HolderView>& holders,
                                        const Redundancy& redundancy, int64_t now_ms,
                                        const MaintenancePolicyConfig& c);

}  // namespace tesseras::replication
