#include "core/tier.h"

#include <string>

namespace tesseras::core {

std::string_view TierName(Tier tier) {
  switch (tier) {
    case Tier::kSmall:
      return "small";
    case Tier::kMedium:
      return "medium";
    case Tier::kLarge:
      return "large";
  }
  return "unknown";
}

Result<Tier> TierFromName(std::string_view name) {
  if (name == "small") return Tier::kSmall;
  if (name == "medium") return Tier::kMedium;
  if (name == "large") return Tier::kLarge;
  return MakeError(ErrorCode::kInvalidArgument, "unknown tier '" + std::string(name) + "'");
}

TierParams ParamsFor(Tier tier) {
  switch (tier) {
    case Tier::kSmall:
      return {1, 0};
    case Tier::kMedium:
      return {16, 8};
    case Tier::kLarge:
      return {48, 24};
  }
  return {1, 0};
}

Result<FragmentPlan> MakePlan(Tier tier, uint64_t original_size, uint32_t data_shards,
                              uint32_t parity_shards) {
  if (original_size > kMaxTesseraSize) {
    return MakeError(ErrorCode::kTesseraTooBig,
                     "tessera is " + std::to_string(original_size) + " bytes; the limit is " +
                         std::to_string(kMaxTesseraSize) + " bytes (1 GiB)");
  }
  if (data_shards == 0 || data_shards + parity_shards > 255) {
    return MakeError(ErrorCode::kInvalidArgument, "invalid code " + std::to_string(data_shards) +
                                                      "+" + std::to_string(parity_shards));
  }
  if (tier == Tier::kSmall && (data_shards != 1 || parity_shards != 0)) {
    return MakeError(ErrorCode::kInvalidArgument, "the small tier has exactly one fragment");
  }
  FragmentPlan plan;
  plan.tier = tier;
  plan.original_size = original_size;
  plan.data_shards = data_shards;
  plan.parity_shards = parity_shards;
  plan.shard_size = (original_size + data_shards - 1) / data_shards;
  return plan;
}

Result<FragmentPlan> PlanForSize(uint64_t original_size) {
  if (original_size > kMaxTesseraSize) {
    return MakeError(ErrorCode::kTesseraTooBig,
                     "tessera is " + std::to_string(original_size) + " bytes; the limit is " +
                         std::to_string(kMaxTesseraSize) + " bytes (1 GiB)");
  }
  Tier tier = original_size < kSmallTierLimit    ? Tier::kSmall
              : original_size < kMediumTierLimit ? Tier::kMedium
                                                 : Tier::kLarge;
  TierParams p = ParamsFor(tier);
  return MakePlan(tier, original_size, p.data_shards, p.parity_shards);
}

Result<void> ValidatePlan(const FragmentPlan& plan) {
  ASSIGN_OR_RETURN(FragmentPlan expected, PlanForSize(plan.original_size));
  if (plan.tier != expected.tier || plan.data_shards != expected.data_shards ||
      plan.parity_shards != expected.parity_shards || plan.shard_size != expected.shard_size) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "plan does not match its size: " + std::to_string(plan.original_size) +
                         " bytes must be " + std::string(TierName(expected.tier)) + " " +
                         std::to_string(expected.data_shards) + "+" +
                         std::to_string(expected.parity_shards) + " with shards of " +
                         std::to_string(expected.shard_size) + " bytes");
  }
  return Ok();
}

}  // namespace tesseras::core
