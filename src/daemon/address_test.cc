#include "daemon/address.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace tesseras::daemon {
namespace {

using ::testing::HasSubstr;

TEST(AddressTest, ParsesIpv4AndIpv6) {
  auto v4 = ParseEndpoint("127.0.0.1:7700");
  ASSERT_TRUE(v4.ok()) << v4.error().ToString();
  EXPECT_EQ(v4->port(), 7700);
  EXPECT_EQ(FormatEndpoint(*v4), "127.0.0.1:7700");
  auto v6 = ParseEndpoint("[::1]:80");
  ASSERT_TRUE(v6.ok()) << v6.error().ToString();
  EXPECT_TRUE(v6->address().is_v6());
  EXPECT_EQ(FormatEndpoint(*v6), "[::1]:80");
}

TEST(AddressTest, PortZeroOnlyWhenAllowed) {
  EXPECT_FALSE(ParseEndpoint("0.0.0.0:0").ok());
  auto any = ParseEndpoint("0.0.0.0:0", 0);
  ASSERT_TRUE(any.ok());
  EXPECT_EQ(any->port(), 0);
}

TEST(AddressTest, RejectsMalformed) {
  for (const char* text : {"", "127.0.0.1", "127.0.0.1:", "127.0.0.1:70000", "127.0.0.1:x",
                           "localhost:7700", "::1:7700", "1.2.3.4:7700x", ":7700"}) {
    auto r = ParseEndpoint(text);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.error().code, core::ErrorCode::kInvalidArgument);
    EXPECT_THAT(r.error().message, HasSubstr("expected IP:PORT")) << text;
  }
}

TEST(AddressTest, ParsesLists) {
  auto list = ParseEndpointList("127.0.0.1:1,127.0.0.2:2,[::1]:3");
  ASSERT_TRUE(list.ok()) << list.error().ToString();
  ASSERT_EQ(list->size(), 3u);
  EXPECT_EQ(FormatEndpoint((*list)[2]), "[::1]:3");
  EXPECT_FALSE(ParseEndpointList("127.0.0.1:1,,127.0.0.1:2").ok());
}

}  // namespace
}  // namespace tesseras::daemon
