// The full-stack mode: every node of the scenario runs the real
// ReplicationService (its real placement, attestation, Reed-Solomon coding,
// repair and restore) on in-memory stores over an in-process network
// (replication/testing/sim_network.h), on the virtual clock and the churn of
// the policy-level simulator, which runs beside it on the same churn.
// docs/SIMULATION.md, "Full-stack mode".
#pragma once

#include <vector>

#include "core/result.h"
#include "sim/policy_sim.h"
#include "sim/report.h"
#include "sim/scenario.h"

namespace tesseras::sim {

// The scenario as the full-stack mode runs it: the scale and workload of its
// [fullstack] section (FullStackConfig: 200 nodes, 500 tesseras, one year,
// payloads small enough that every fragment fits in memory) in place of the
// policy-level ones. The policy-level run beside it uses the same.
Scenario FullStackScenario(const Scenario& scenario);

// Two reports: the policy-level simulation of FullStackScenario(scenario)
// (policy = options.policy_name) and what the real services did on the same
// churn (policy = options.policy_name + "-full-stack", mode "full-stack").
core::Result<std::vector<RunReport>> RunFullStack(const Scenario& scenario,
                                                  const RunOptions& options);

}  // namespace tesseras::sim
