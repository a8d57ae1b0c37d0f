// The full-stack mode (the real ReplicationService of every node, with its
// real attestation and coding, on in-memory stores over a simulated network
// and a virtual clock) is not built; docs/SIMULATION.md, "Full-stack mode".
#pragma once

#include "core/result.h"
#include "sim/policy_sim.h"
#include "sim/report.h"
#include "sim/scenario.h"

namespace tesseras::sim {

// Not built: always returns an Unimplemented error that says so (the
// intended mode would run the scenario's [fullstack] scale on the same churn
// model as the policy-level simulator).
core::Result<RunReport> RunFullStack(const Scenario& scenario, const RunOptions& options);

}  // namespace tesseras::sim
