// The policy-level simulator: thousands of nodes and their churn on a virtual
// clock, with every maintenance decision made by the real policy
// (replication/maintenance_policy.h) on what each node has observed, and the
// wire costs of the real protocol (sim/wire_costs.h). docs/SIMULATION.md says
// what is modelled and what is not.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/result.h"
#include "replication/maintenance_policy.h"
#include "sim/report.h"
#include "sim/scenario.h"
#include "sim/wire_costs.h"

namespace tesseras::sim {

struct RunOptions {
  std::string policy_name = "configured";
  replication::MaintenancePolicyConfig policy;
  // Re-assess on every check even when nothing changed, and record a
  // violation if the cached assessment differs from the fresh one.
  bool verify_cache = false;
  bool daily_series = false;
  // Tesseras (workload indices) whose history is written to stderr
  // (World::set_trace).
  std::vector<uint32_t> trace_tesseras;
};

// The measured wire costs must come from the scenario's workload sizes, in
// order (small, medium, large): see WorkloadSizes.
core::Result<RunReport> RunPolicySimulation(const Scenario& scenario, const WireCosts& costs,
                                            const RunOptions& options);

// Every payload size of the workload, small tier first.
std::vector<uint64_t> WorkloadSizes(const Workload& w);

}  // namespace tesseras::sim
