#include "core/ids.h"

#include <bit>

namespace tesseras::core {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string ToHex(std::span<const uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.resize(bytes.size() * 2);
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    out[2 * i] = kDigits[bytes[i] >> 4];
    out[2 * i + 1] = kDigits[bytes[i] & 0xf];
  }
  return out;
}

Result<void> FromHex(std::string_view hex, std::span<uint8_t> out) {
  if (hex.size() != out.size() * 2) {
    return MakeError(ErrorCode::kInvalidArgument, "expected " + std::to_string(out.size() * 2) +
                                                      " hex digits, got " +
                                                      std::to_string(hex.size()));
  }
  for (std::size_t i = 0; i < out.size(); ++i) {
    int hi = HexValue(hex[2 * i]);
    int lo = HexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      std::size_t bad = hi < 0 ? 2 * i : 2 * i + 1;
      return MakeError(ErrorCode::kInvalidArgument,
                       "invalid hex digit at position " + std::to_string(bad));
    }
    out[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return Ok();
}

NodeId XorDistance(const NodeId& a, const NodeId& b) {
  NodeId d;
  for (std::size_t i = 0; i < kIdBytes; ++i) d.bytes[i] = a.bytes[i] ^ b.bytes[i];
  return d;
}

int LeadingZeroBits(std::span<const uint8_t> bytes) {
  int n = 0;
  for (uint8_t b : bytes) {
    if (b == 0) {
      n += 8;
      continue;
    }
    return n + std::countl_zero(b);
  }
  return n;
}

}  // namespace tesseras::core
