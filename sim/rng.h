// Deterministic random numbers for the simulator.
//
// The generator is SplitMix64 (Steele, Lea and Flood, "Fast splittable
// pseudorandom number generators", OOPSLA 2014): a 64-bit counter advanced by
// the golden-ratio increment and passed through a fixed mixing function. It is
// written out here rather than taken from <random> because the standard
// distributions are not specified bit for bit, and the simulator promises the
// same JSON for the same seed on every standard library. Every distribution
// below is an inverse-CDF transform of one uniform draw.
//
// Streams: each node, and each other source of randomness (arrivals, the
// oracle, the workload), gets its own generator derived from (seed, stream),
// so that a decision of the maintenance policy never shifts the churn the
// other policy sees: --policy compares the two on identical failures.
#pragma once

#include <cmath>
#include <cstdint>

namespace tesseras::sim {

class Rng {
 public:
  explicit Rng(uint64_t seed = 0) : state_(seed) {}
  Rng(uint64_t seed, uint64_t stream) : state_(Mix(seed ^ Mix(stream + 0x632be59bd9b4e019ull))) {}

  uint64_t Next() {
    state_ += 0x9e3779b97f4a7c15ull;
    return Mix(state_);
  }
  // Uniform in [0, 1) with 53 bits.
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }
  // Uniform in (0, 1]: safe under a logarithm.
  double UniformOpen() { return 1.0 - Uniform(); }
  // Uniform integer in [0, n), n > 0 (multiply-shift; the bias is below 2^-32
  // for every n the simulator uses).
  uint64_t Below(uint64_t n) {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(Next()) * n) >> 64);
  }
  bool Chance(double p) { return Uniform() < p; }
  // Exponential with the given mean.
  double Exponential(double mean) { return -mean * std::log(UniformOpen()); }
  // Weibull with the given shape k and scale λ: λ (−ln U)^(1/k).
  double Weibull(double shape, double scale) {
    return scale * std::pow(-std::log(UniformOpen()), 1.0 / shape);
  }
  // Standard normal (Box–Muller, one of the pair).
  double Normal() {
    const double r = std::sqrt(-2.0 * std::log(UniformOpen()));
    return r * std::cos(6.283185307179586 * Uniform());
  }

  static uint64_t Mix(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }

 private:
  uint64_t state_;
};

}  // namespace tesseras::sim
