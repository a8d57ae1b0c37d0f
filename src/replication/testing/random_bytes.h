// Deterministic pseudo-random payloads for tests and benchmarks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

namespace tesseras::replication::testing {

inline std::vector<uint8_t> RandomBytes(std::size_t n, uint32_t seed) {
  std::vector<uint8_t> v(n);
  std::mt19937 rng(seed);
  for (auto& b : v) b = static_cast<uint8_t>(rng());
  return v;
}

}  // namespace tesseras::replication::testing
