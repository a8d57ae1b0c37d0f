// The full-stack mode: the real ReplicationService of every node, with its
// real attestation and coding, on in-memory stores over a simulated network
// and a virtual clock, to check that the policy-level simulator's results
// are what the whole stack does (docs/SIMULATION.md, "Full-stack mode").
#pragma once

#include "core/result.h"
#include "sim/policy_sim.h"
#include "sim/report.h"
#include "sim/scenario.h"

namespace tesseras::sim {

// Runs the scenario's [fullstack] scale (nodes, tesseras, years) with the
// same churn model as the policy-level simulator.
core::Result<RunReport> RunFullStack(const Scenario& scenario, const RunOptions& options);

}  // namespace tesseras::sim
