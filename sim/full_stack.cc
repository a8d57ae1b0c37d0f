#include "sim/full_stack.h"

namespace tesseras::sim {

core::Result<RunReport> RunFullStack(const Scenario&, const RunOptions&) {
  return core::MakeError(core::ErrorCode::kUnimplemented, "the full-stack mode is not built yet");
}

}  // namespace tesseras::sim
