// Signed DHT records (docs/PROTOCOL.md, Records).
//
// Encoding (big-endian integers), also what DhtPort::PutRecord/GetRecords carry:
//   "TSR1"                 4 bytes magic
//   type                   u32   (kHolderRecord = 1, kHolderClaim = 2; others reserved)
//   key                    32    DHT key (e.g. core::KeyFor(tessera hash))
//   publisher              32    Ed25519 public key of the signer
//   expires_unix_ms        u64
//   value_length           u32   <= kMaxRecordValue
//   value                  value_length bytes
//   signature              64    Ed25519 by `publisher` over every byte above
//
// A record is accepted (stored, returned, relayed) only if its signature
// verifies; holder records are signed by the tessera's owner.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/ids.h"
#include "core/result.h"
#include "crypto/identity.h"

namespace tesseras::dht {

inline constexpr uint32_t kHolderRecord = 1;  // signed by the tessera's owner
inline constexpr uint32_t kHolderClaim = 2;   // signed by a holder, about itself
inline constexpr std::size_t kMaxRecordValue = 16 * 1024;
inline constexpr std::size_t kRecordOverhead = 4 + 4 + 32 + 32 + 8 + 4 + 64;

struct Record {
  uint32_t type = 0;
  core::NodeId key;
  crypto::PublicKey publisher{};
  int64_t expires_unix_ms = 0;
  std::vector<uint8_t> value;
  crypto::Signature signature{};

  // Builds and signs a record with `identity` as publisher.
  static core::Result<Record> Sign(const crypto::Identity& identity, uint32_t type,
                                   const core::NodeId& key, std::span<const uint8_t> value,
                                   int64_t expires_unix_ms);
  // Parses the encoding above; checks structure only (kInvalidArgument).
  static core::Result<Record> Parse(std::span<const uint8_t> bytes);
  // Parse + Verify.
  static core::Result<Record> ParseVerified(std::span<const uint8_t> bytes);

  // kCorrupt if the signature does not verify.
  core::Result<void> Verify() const;
  std::vector<uint8_t> Encode() const;
  std::vector<uint8_t> SignedBytes() const;  // the encoding without the signature

  bool operator==(const Record&) const = default;
};

}  // namespace tesseras::dht
