// The deterministic workload shared by storage_crash_child and the crash test:
// fragment k of run `seed` (id and bytes) is a pure function of (seed, k), and
// so is the other version of its bytes (`variant` 1) that replaces it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "core/fragment.h"
#include "crypto/blake3_hasher.h"

namespace tesseras::storage {

struct CrashFragment {
  core::FragmentId id;
  std::vector<uint8_t> bytes;
};

// Every fifth fragment is replaced by its variant right after it is stored.
inline bool CrashWorkloadReplaces(uint64_t k) { return k % 5 == 4; }
// Every fourth, the one before is deleted.
inline bool CrashWorkloadDeletesPrevious(uint64_t k) { return k % 4 == 3; }

inline CrashFragment MakeCrashFragment(uint64_t seed, uint64_t k, int variant = 0) {
  std::mt19937_64 rng(seed * 1'000'003 + k + (variant == 0 ? 0 : 0x9e3779b97f4a7c15ull));
  CrashFragment f;
  f.bytes.resize(1 + rng() % (384 * 1024));
  for (std::size_t i = 0; i < f.bytes.size(); i += 8) {
    uint64_t r = rng();
    for (std::size_t j = i; j < std::min(i + 8, f.bytes.size()); ++j, r >>= 8) {
      f.bytes[j] = static_cast<uint8_t>(r);
    }
  }
  crypto::Blake3Hasher name;
  name.Update("crash run " + std::to_string(seed) + " tessera " + std::to_string(k / 8));
  f.id.tessera = name.Finalize();
  f.id.index = static_cast<uint32_t>(k % 8);
  f.id.shard_count = 8;
  f.id.checksum = crypto::Blake3(f.bytes);
  return f;
}

}  // namespace tesseras::storage
