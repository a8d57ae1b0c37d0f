#include "sim/full_stack.h"

namespace tesseras::sim {

core::Result<RunReport> RunFullStack(const Scenario&, const RunOptions&) {
  return core::MakeError(core::ErrorCode::kUnimplemented,
                         "the full-stack mode is not built: only the policy-level "
                         "simulation exists (docs/SIMULATION.md, \"Full-stack mode\")");
}

}  // namespace tesseras::sim
