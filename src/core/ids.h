// Fixed-size identifiers: ContentHash (a 32-byte BLAKE3 digest) and NodeId (a
// 32-byte Kademlia id derived from a node's public key). Both print as 64
// lower-case hex digits and parse strictly: exactly 64 hex digits, either case,
// nothing else.
#pragma once

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "core/result.h"

namespace tesseras::core {

inline constexpr std::size_t kIdBytes = 32;

// Lower-case hex of arbitrary bytes.
std::string ToHex(std::span<const uint8_t> bytes);
// Strict hex decoding into exactly out.size() bytes.
Result<void> FromHex(std::string_view hex, std::span<uint8_t> out);

template <typename Tag>
struct Id32 {
  std::array<uint8_t, kIdBytes> bytes{};

  static Id32 FromBytes(std::span<const uint8_t, kIdBytes> b) {
    Id32 id;
    std::copy(b.begin(), b.end(), id.bytes.begin());
    return id;
  }
  // Fails unless `b` is exactly 32 bytes (for peer input).
  static Result<Id32> FromSpan(std::span<const uint8_t> b) {
    if (b.size() != kIdBytes) {
      return MakeError(
          ErrorCode::kInvalidArgument,
          std::string(Tag::kName) + " must be 32 bytes, got " + std::to_string(b.size()));
    }
    Id32 id;
    std::copy(b.begin(), b.end(), id.bytes.begin());
    return id;
  }
  static Result<Id32> FromHex(std::string_view hex) {
    if (hex.size() != 2 * kIdBytes) {
      return MakeError(ErrorCode::kInvalidArgument, std::string(Tag::kName) +
                                                        " must be 64 hex digits, got " +
                                                        std::to_string(hex.size()) + " characters");
    }
    Id32 id;
    auto r = core::FromHex(hex, id.bytes);
    if (!r.ok()) {
      return MakeError(ErrorCode::kInvalidArgument,
                       std::string(Tag::kName) + ": " + r.error().message);
    }
    return id;
  }
  std::string ToHex() const { return core::ToHex(bytes); }
  // First 8 hex digits, for logs.
  std::string Short() const { return ToHex().substr(0, 8); }
  bool IsZero() const {
    for (uint8_t b : bytes)
      if (b) return false;
    return true;
  }
  std::span<const uint8_t, kIdBytes> span() const { return bytes; }

  auto operator<=>(const Id32&) const = default;
  bool operator==(const Id32&) const = default;
};

struct ContentHashTag {
  static constexpr std::string_view kName = "content hash";
};
struct NodeIdTag {
  static constexpr std::string_view kName = "node id";
};

using ContentHash = Id32<ContentHashTag>;
using NodeId = Id32<NodeIdTag>;

// Kademlia distance.
NodeId XorDistance(const NodeId& a, const NodeId& b);
// Number of leading zero bits (256 for the zero id).
int LeadingZeroBits(std::span<const uint8_t> bytes);
// A content hash seen as a point in the id space (tessera hashes are DHT keys).
inline NodeId KeyFor(const ContentHash& h) { return NodeId{h.bytes}; }

struct IdHash {
  template <typename Tag>
  std::size_t operator()(const Id32<Tag>& id) const {
    std::size_t h = 0;
    for (int i = 0; i < 8; ++i) h = (h << 8) | id.bytes[i];
    return h;
  }
};

}  // namespace tesseras::core
