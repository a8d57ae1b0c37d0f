// Fragmentation tiers and the coding plan of a tessera (see docs/FORMAT.md).
//
//   Small   size <  4 MiB            whole-payload copies: 1 fragment, r = 7 holders
//   Medium  4 MiB <= size < 256 MiB  Reed-Solomon 16 data + 8 parity = 24 fragments
//   Large   256 MiB <= size <= 1 GiB Reed-Solomon 48 data + 24 parity = 72 fragments
//
// Anything over 1 GiB is refused with kTesseraTooBig.
#pragma once

#include <cstdint>
#include <string_view>

#include "core/result.h"

namespace tesseras::core {

inline constexpr uint64_t kMiB = 1024ull * 1024;
inline constexpr uint64_t kGiB = 1024ull * kMiB;
inline constexpr uint64_t kSmallTierLimit = 4 * kMiB;     // sizes below are Small
inline constexpr uint64_t kMediumTierLimit = 256 * kMiB;  // sizes below are Medium
inline constexpr uint64_t kMaxTesseraSize = 1 * kGiB;     // inclusive
inline constexpr uint32_t kReplicationFactor = 7;         // minimum distinct holders

enum class Tier : uint8_t { kSmall = 0, kMedium = 1, kLarge = 2 };

std::string_view TierName(Tier tier);  // "small", "medium", "large"
Result<Tier> TierFromName(std::string_view name);

struct TierParams {
  uint32_t data_shards;
  uint32_t parity_shards;
};
TierParams ParamsFor(Tier tier);

// How a tessera of `original_size` bytes is cut. For Small the one fragment is
// the whole payload (shard_size == original_size). For the coded tiers
// shard_size = ceil(original_size / data_shards) and the last data shard is
// zero-padded; every fragment, data or parity, is shard_size bytes long.
struct FragmentPlan {
  Tier tier = Tier::kSmall;
  uint64_t original_size = 0;
  uint32_t data_shards = 1;
  uint32_t parity_shards = 0;
  uint64_t shard_size = 0;
  uint32_t replication_factor = kReplicationFactor;

  uint32_t total_shards() const { return data_shards + parity_shards; }
  bool operator==(const FragmentPlan&) const = default;
};

// Picks the tier for a payload size. kTesseraTooBig names both sizes.
Result<FragmentPlan> PlanForSize(uint64_t original_size);

// Builds a plan with an explicit code (used by tests with small codes such as
// 4+2, and to validate plans received from peers). data_shards >= 1;
// data + parity <= 255 (the GF(2^8) limit of the Cauchy construction).
Result<FragmentPlan> MakePlan(Tier tier, uint64_t original_size, uint32_t data_shards,
                              uint32_t parity_shards);

// Checks a plan that came from outside: tier matches size, counts match tier,
// shard_size matches the formula. Used before trusting any peer-supplied plan.
Result<void> ValidatePlan(const FragmentPlan& plan);

}  // namespace tesseras::core
