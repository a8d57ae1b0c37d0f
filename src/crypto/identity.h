// Ed25519 node and creator identities (libsodium), and NodeId derivation.
//
//   NodeId      = BLAKE3-derive_key("tesseras 2026 node id v1", public_key)
//   proof       = a 64-bit nonce such that
//                 BLAKE3-derive_key("tesseras 2026 node id pow v1",
//                                   public_key || nonce as 8 bytes little-endian)
//                 starts with at least `pow_bits` zero bits (default 8).
//
// The id is fixed by the key, and a key is only accepted with a valid proof, so
// each id costs about 2^pow_bits hashes to mint. Verifying costs one hash.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "core/ids.h"
#include "core/result.h"

namespace tesseras::crypto {

using PublicKey = std::array<uint8_t, 32>;
using Signature = std::array<uint8_t, 64>;
using Seed = std::array<uint8_t, 32>;

inline constexpr int kDefaultPowBits = 8;

core::NodeId NodeIdFromPublicKey(const PublicKey& pk);
// Number of leading zero bits of the proof-of-work hash for (pk, nonce).
int PowBits(const PublicKey& pk, uint64_t nonce);
// Checks that `claimed` is the id of `pk` and that `nonce` is a proof of at least
// `min_pow_bits`. kPermissionDenied with the reason otherwise.
core::Result<void> VerifyNodeIdentity(const core::NodeId& claimed, const PublicKey& pk,
                                      uint64_t nonce, int min_pow_bits);

bool VerifySignature(const PublicKey& pk, std::span<const uint8_t> message,
                     std::span<const uint8_t> signature);

class Identity {
 public:
  // A fresh random key with a proof of `pow_bits`.
  static core::Result<Identity> Generate(int pow_bits = kDefaultPowBits);
  static core::Result<Identity> FromSeed(const Seed& seed, int pow_bits = kDefaultPowBits);

  // Key file (text, mode 0600; format in docs/FORMAT.md):
  //   tesseras-node-key v1
  //   seed <64 hex>
  //   pow-nonce <decimal>
  static core::Result<Identity> Load(const std::filesystem::path& path);
  core::Result<void> Save(const std::filesystem::path& path) const;
  // Loads the key at `path`, or generates and saves one if the file is absent.
  static core::Result<Identity> LoadOrCreate(const std::filesystem::path& path,
                                             int pow_bits = kDefaultPowBits);

  const PublicKey& public_key() const { return pk_; }
  const core::NodeId& node_id() const { return id_; }
  uint64_t pow_nonce() const { return nonce_; }
  const Seed& seed() const { return seed_; }

  Signature Sign(std::span<const uint8_t> message) const;

 private:
  Identity() = default;
  Seed seed_{};
  std::array<uint8_t, 64> sk_{};
  PublicKey pk_{};
  core::NodeId id_;
  uint64_t nonce_ = 0;
};

}  // namespace tesseras::crypto
