#include "core/ids.h"

#include <gtest/gtest.h>

namespace tesseras::core {
namespace {

TEST(IdsTest, HexRoundTrip) {
  ContentHash h;
  for (std::size_t i = 0; i < kIdBytes; ++i) h.bytes[i] = static_cast<uint8_t>(i * 7 + 1);
  std::string hex = h.ToHex();
  EXPECT_EQ(hex.size(), 64u);
  EXPECT_EQ(hex.substr(0, 6), "01080f");
  auto parsed = ContentHash::FromHex(hex);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(*parsed, h);
}

TEST(IdsTest, HexAcceptsUpperCase) {
  auto parsed = NodeId::FromHex(std::string(64, 'F'));
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->bytes[31], 0xff);
}

TEST(IdsTest, HexRejectsWrongLengths) {
  for (std::size_t n : {0u, 1u, 62u, 63u, 65u, 66u, 128u}) {
    auto r = ContentHash::FromHex(std::string(n, 'a'));
    ASSERT_FALSE(r.ok()) << n;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(r.error().message.find("64 hex digits"), std::string::npos);
  }
}

TEST(IdsTest, HexRejectsBadCharacters) {
  for (char c : {'g', 'G', 'x', ' ', '-', '\0', '\xff', 'z'}) {
    std::string s(64, '0');
    s[17] = c;
    auto r = NodeId::FromHex(s);
    ASSERT_FALSE(r.ok()) << int(c);
    EXPECT_NE(r.error().message.find("position 17"), std::string::npos) << r.error().message;
  }
}

TEST(IdsTest, FromSpanChecksLength) {
  std::vector<uint8_t> b(31, 1);
  EXPECT_FALSE(NodeId::FromSpan(b).ok());
  b.push_back(2);
  auto r = NodeId::FromSpan(b);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->bytes[31], 2);
}

TEST(IdsTest, XorAndLeadingZeros) {
  NodeId a, b;
  a.bytes[0] = 0x80;
  b.bytes[0] = 0x80;
  b.bytes[3] = 0x10;
  NodeId d = XorDistance(a, b);
  EXPECT_EQ(LeadingZeroBits(d.bytes), 27);
  EXPECT_EQ(LeadingZeroBits(NodeId{}.bytes), 256);
  EXPECT_EQ(LeadingZeroBits(a.bytes), 0);
}

TEST(IdsTest, Ordering) {
  NodeId a, b;
  b.bytes[31] = 1;
  EXPECT_LT(a, b);
  EXPECT_NE(a, b);
}

}  // namespace
}  // namespace tesseras::core
